//! Templates expanded and refused without a file: each refusal named at
//! its file, line and column.

use super::*;
use crate::core::error::Result;

const RELEASE: &str = "\
name: release
description: Cut, build and publish a release
version: 3
goal: Release {{version}}
kind: release
vars:
  version:
    required: true
    description: the version to release
  platforms:
    type: list
    default: [linux, mac]
  announce:
    type: boolean
  channel:
    type: one_of
    values: [stable, beta]
    default: stable
steps:
  - key: build
    for_each: platforms
    title: Build {{version}} for {{item}}
  - key: test
    for_each: platforms
    needs: build-{{item}}
  - key: publish
    title: Publish {{version}} to {{channel}}
    needs: [test-*]
    requires_approval: true
  - key: announce
    when: announce
    needs: publish
";

/// A loader over files given by name.
fn files(list: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Result<Option<Source>> + use<> {
    let list = list.to_vec();
    move |name: &str| {
        Ok(list
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Source {
                name: n.to_string(),
                place: format!(".nexo/templates/{n}.yaml"),
                text: text.to_string(),
            }))
    }
}

fn given(pairs: &[(&str, &str)]) -> Vec<(String, Given)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Given::Text(v.to_string())))
        .collect()
}

/// The error expanding `text` (as template `t`) with `vars`.
fn refused(text: &'static str, vars: &[(&str, &str)]) -> String {
    refused_as("t", text, vars)
}

fn refused_as(name: &'static str, text: &'static str, vars: &[(&str, &str)]) -> String {
    let load = files(&[(name, text)]);
    expand(name, &load, &given(vars)).unwrap_err().message
}

#[test]
fn a_release_expands_with_loops_conditions_and_wildcard_needs() {
    let load = files(&[("release", RELEASE)]);
    let e = expand(
        "release",
        &load,
        &given(&[("version", "3.2"), ("platforms", "linux,mac,win")]),
    )
    .unwrap();
    let keys: Vec<&str> = e.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "build-linux",
            "build-mac",
            "build-win",
            "test-linux",
            "test-mac",
            "test-win",
            "publish"
        ]
    );
    assert_eq!(e.steps[1].title, "Build 3.2 for mac");
    assert_eq!(e.steps[4].needs, ["build-mac"]);
    assert_eq!(e.steps[6].needs, ["test-linux", "test-mac", "test-win"]);
    assert_eq!(e.steps[6].title, "Publish 3.2 to stable");
    assert!(e.steps[6].requires_approval);
    assert_eq!(e.goal.as_deref(), Some("Release 3.2"));
    assert_eq!(e.kind.as_deref(), Some("release"));
    assert_eq!(e.version, "3");
    assert_eq!(e.hash.len(), 64);
    assert_eq!(
        e.values["platforms"],
        serde_json::json!(["linux", "mac", "win"])
    );
    assert_eq!(e.values["announce"], false);
    // `when` true: the step is in, after what it needs.
    let e = expand(
        "release",
        &load,
        &given(&[("version", "3.2"), ("announce", "true")]),
    )
    .unwrap();
    assert_eq!(e.steps.last().unwrap().key, "announce");
    assert_eq!(e.steps.last().unwrap().needs, ["publish"]);
}

#[test]
fn check_expands_with_examples_and_defaults() {
    let load = files(&[("release", RELEASE)]);
    let e = check("release", &load).unwrap();
    assert_eq!(e.goal.as_deref(), Some("Release example"));
    assert!(
        e.steps.iter().any(|s| s.key == "announce"),
        "booleans check as true"
    );
}

#[test]
fn a_needs_on_a_step_when_left_out_is_dropped() {
    let text = "vars: {extra: {type: boolean}}\nsteps:\n  - key: a\n    when: extra\n  - key: b\n    needs: [a]\n";
    let load = files(&[("t", text)]);
    let e = expand("t", &load, &[]).unwrap();
    assert_eq!(e.steps.len(), 1);
    assert!(e.steps[0].needs.is_empty());
}

#[test]
fn an_unknown_variable_in_a_text_is_named_where_it_is_written() {
    let text =
        "vars: {version: {default: '1'}}\nsteps:\n  - key: a\n    title: Ship {{verison}} now\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:4:17: unknown variable verison (did you mean version?); its variables are version"
    );
    let text = "steps:\n  - key: a\n    title: Ship {{item}}\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:3:17: {{item}} is defined only in a step with for_each"
    );
}

#[test]
fn a_missing_required_variable_names_its_declaration() {
    assert_eq!(
        refused_as("release", RELEASE, &[]),
        ".nexo/templates/release.yaml:7:3: variable version (string: the version to release) is required and was not given: pass vars.version"
    );
}

#[test]
fn a_wrong_type_names_the_value_and_the_declaration() {
    let text = "vars:\n  retries: {type: integer, default: 2}\nsteps: [{key: a}]\n";
    assert_eq!(
        refused(text, &[("retries", "many")]),
        ".nexo/templates/t.yaml:2:3: vars.retries is \"many\", not an integer"
    );
    assert_eq!(
        refused_as(
            "release",
            RELEASE,
            &[("version", "1"), ("channel", "nightly")]
        ),
        ".nexo/templates/release.yaml:15:3: vars.channel is \"nightly\", not one of stable, beta"
    );
    let text = "vars:\n  n: {type: integer, default: two}\nsteps: [{key: a}]\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:2:31: default is \"two\", not an integer"
    );
}

#[test]
fn an_unknown_given_variable_is_refused() {
    assert_eq!(
        refused_as("release", RELEASE, &[("verison", "1")]),
        ".nexo/templates/release.yaml:6:1: vars.verison names no variable of template release (did you mean version?); its variables are version, platforms, announce, channel"
    );
}

#[test]
fn needs_on_an_unknown_step_is_named() {
    let text = "steps:\n  - key: build\n  - key: publish\n    needs: [build, publsh]\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:4:20: needs \"publsh\", which is not a step of the template (did you mean publish?); its steps are build, publish"
    );
    let text = "vars: {p: {type: list, default: [x]}}\nsteps:\n  - key: b\n    for_each: p\n  - key: c\n    needs: b\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:6:12: needs \"b\", a step repeated with for_each: need b-* (every one) or one of b-x"
    );
    let text = "steps:\n  - key: a\n  - key: c\n    needs: a-*\n";
    assert!(
        refused(text, &[]).contains("needs \"a-*\", but a is not a step repeated with for_each")
    );
}

#[test]
fn a_cycle_is_named_whole_at_its_first_step() {
    let text = "steps:\n  - key: a\n    needs: [c]\n  - key: b\n    needs: [a]\n  - key: c\n    needs: [b]\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:3:12: the steps' needs make a cycle, so none of them could ever be ready: a → c → b → a"
    );
}

#[test]
fn a_duplicate_key_after_expansion_names_both() {
    let text = "vars: {p: {type: list, default: [x]}}\nsteps:\n  - key: b-x\n  - key: b\n    for_each: p\n";
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml:5:15: two steps have the key \"b-x\" once expanded (the other: .nexo/templates/t.yaml:3:10): each step needs its own key"
    );
    let text = "vars: {p: {type: list}}\nsteps:\n  - key: b\n    for_each: p\n";
    assert!(refused(text, &[("p", "x,x")]).contains("two steps have the key \"b-x\""));
}

#[test]
fn extends_overrides_by_key_and_adds() {
    let base = "vars: {v: {default: '1'}}\nsteps:\n  - key: a\n    title: A {{v}}\n  - key: b\n";
    let child = "extends: base\nversion: 2\nsteps:\n  - key: a\n    title: New A\n  - key: c\n    needs: [b]\n";
    let load = files(&[("base", base), ("child", child)]);
    let e = expand("child", &load, &given(&[("v", "9")])).unwrap();
    let got: Vec<(&str, &str)> = e
        .steps
        .iter()
        .map(|s| (s.key.as_str(), s.title.as_str()))
        .collect();
    assert_eq!(got, [("a", "New A"), ("b", "b"), ("c", "c")]);
    assert_eq!(e.extends, ["base"]);
    assert_eq!(e.version, "2");
}

#[test]
fn an_extends_loop_or_unknown_base_is_refused_at_extends() {
    let load = files(&[
        ("a", "extends: b\nsteps: []\n"),
        ("b", "steps: []\nextends: a\n"),
    ]);
    assert_eq!(
        expand("a", &load, &[]).unwrap_err().message,
        ".nexo/templates/b.yaml:2:10: extends makes a loop: a → b → a"
    );
    let load = files(&[("a", "extends: nope\n")]);
    assert_eq!(
        expand("a", &load, &[]).unwrap_err().message,
        ".nexo/templates/a.yaml:1:10: extends nope, which is not a template here (.nexo/templates/nope.yaml does not exist)"
    );
    let load = files(&[]);
    assert_eq!(
        expand("nope", &load, &[]).unwrap_err().message,
        "no template nope: .nexo/templates/nope.yaml does not exist"
    );
}

#[test]
fn a_deep_extends_chain_is_refused() {
    let chain: Vec<(&'static str, &'static str)> = (0..12)
        .map(|i| {
            let name: &'static str = Box::leak(format!("t{i}").into_boxed_str());
            let text: &'static str = Box::leak(format!("extends: t{}\n", i + 1).into_boxed_str());
            (name, text)
        })
        .collect();
    let load = files(&chain);
    let err = expand("t0", &load, &[]).unwrap_err().message;
    assert!(
        err.contains("extends goes more than 8 templates deep"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_is_refused_where_it_is() {
    let text = "steps:\n  - key: a\n    titel: A\n";
    let err = refused(text, &[]);
    assert!(
        err.starts_with(
            ".nexo/templates/t.yaml:3:5: steps[0]: unknown field `titel`, expected one of"
        ),
        "{err}"
    );
}

#[test]
fn a_huge_file_is_refused_by_its_size() {
    let text: &'static str =
        Box::leak(format!("steps: []\n#{}\n", "x".repeat(MAX_TEMPLATE_BYTES)).into_boxed_str());
    assert_eq!(
        refused(text, &[]),
        format!(
            ".nexo/templates/t.yaml is {} bytes; a template may be at most 262144 bytes (256 KiB)",
            text.len()
        )
    );
}

#[test]
fn an_alias_bomb_is_refused_before_it_explodes() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text.push_str("steps: []\n");
    let text: &'static str = Box::leak(text.into_boxed_str());
    assert_eq!(
        refused(text, &[]),
        ".nexo/templates/t.yaml: the YAML expands to more than 100000 nodes once its aliases (*name) are resolved: a template may hold at most 100000"
    );
}

#[test]
fn a_list_that_would_make_too_many_steps_is_refused() {
    let text = "vars: {p: {type: list}}\nsteps:\n  - key: b\n    for_each: p\n  - key: c\n    for_each: p\n";
    let items: Vec<String> = (0..600).map(|i| format!("i{i}")).collect();
    let items = items.join(",");
    assert_eq!(
        refused(text, &[("p", &items)]),
        ".nexo/templates/t.yaml:6:15: the template expands to more than 1000 steps, the most a run may have (p has 600 items)"
    );
    let many: Vec<String> = (0..100_000).map(|i| format!("i{i}")).collect();
    let err = refused(text, &[("p", &many.join(","))]);
    assert!(
        err.ends_with("vars.p has 100000 items; a list may hold at most 1000"),
        "{err}"
    );
}

#[test]
fn an_item_that_cannot_be_in_a_key_is_refused() {
    let text = "vars: {p: {type: list}}\nsteps:\n  - key: b\n    for_each: p\n";
    assert_eq!(
        refused(text, &[("p", "linux,../etc")]),
        ".nexo/templates/t.yaml:4:15: item \"../etc\" makes the key \"b-../etc\", which is not a plain name: items become part of step keys (letters, digits, - _ .)"
    );
}

#[test]
fn a_name_that_differs_from_the_file_is_refused() {
    assert_eq!(
        refused("name: other\nsteps: []\n", &[]),
        ".nexo/templates/t.yaml:1:7: name is \"other\", but the file is .nexo/templates/t.yaml: a template is named by its file"
    );
}

#[test]
fn the_schema_describes_the_fields() {
    let s = schema();
    let props = s["properties"].as_object().unwrap();
    for field in ["name", "version", "extends", "vars", "steps", "goal"] {
        assert!(props.contains_key(field), "{field}");
    }
    let text = s.to_string();
    assert!(
        text.contains("for_each") && text.contains("one_of"),
        "{text}"
    );
}
