//! `nexo setup ci github`: a pull-request check that runs `nexo verify`
//! against the base branch's policy, in `.github/workflows/nexo.yml`.
//!
//! Merged like the agents' files: nexo's job sits between markers, is
//! replaced in place on a second run, and is added to a workflow of the
//! user's own under its `jobs:` without moving a line of theirs. A file
//! nexo cannot merge into safely is left alone, with the reason.

use nexo::core::error::{Error, Result};

/// Where the workflow goes, from the repository's root.
pub const PATH: &str = ".github/workflows/nexo.yml";

/// The job's name: one the user is unlikely to have, so a job of this
/// name without markers is theirs and is kept.
const JOB: &str = "nexo-verify";

const BEGIN: &str = "# nexo:begin (written by `nexo setup ci github`; edit outside these markers)";
const END: &str = "# nexo:end";

/// A new workflow file: the trigger, then nexo's job between markers.
const HEADER: &str = "\
# Every approval gate of the runs in .nexo/ judged by the base branch's
# policy, which a pull request cannot change (`nexo verify`). Make this
# check required in the base branch's protection rules, and protect
# .nexo/config.yaml and .nexo/allowed_signers with code owners.
name: nexo
on:
  pull_request:
permissions:
  contents: read
jobs:
";

/// The job, indented by `indent`. Values from the pull request reach
/// the shell only as environment variables, never spliced into a script.
fn job(indent: &str) -> String {
    let body = format!(
        "\
{BEGIN}
{JOB}:
  if: github.event_name == 'pull_request'
  runs-on: ubuntu-latest
  steps:
    - uses: actions/checkout@v4
      with:
        fetch-depth: 0 # the base branch and the merge base, for --trusted
    - uses: actions/cache@v4 # a built nexo, so a pull request does not compile it again
      with:
        path: ~/.cargo/bin/nexo
        key: nexo-{version}-${{{{ runner.os }}}}-${{{{ vars.NEXO_GIT }}}}
    - name: Install nexo
      env:
        # nexo's git URL, as a repository variable (Settings > Secrets and
        # variables > Actions > Variables); skipped where nexo is installed.
        NEXO_GIT: ${{{{ vars.NEXO_GIT }}}}
      run: |
        if ! command -v nexo >/dev/null; then
          if [ -z \"$NEXO_GIT\" ]; then
            echo \"::error::set the repository variable NEXO_GIT to nexo's git URL\"
            exit 1
          fi
          cargo install --locked --git \"$NEXO_GIT\" nexo
        fi
    - name: Verify every gate against the base branch's policy
      run: nexo verify --trusted \"origin/$GITHUB_BASE_REF\" --format markdown >> \"$GITHUB_STEP_SUMMARY\"
    - name: Show the runs this pull request changed
      if: always()
      run: |
        git diff --name-only \"origin/$GITHUB_BASE_REF...HEAD\" -- .nexo/runs | grep -o 'WF-[^/]*' | sort -u |
          while read -r run; do
            ls -d .nexo/runs/*/*/\"$run\" >/dev/null 2>&1 || continue
            nexo --no-commit show \"$run\" --format markdown >> \"$GITHUB_STEP_SUMMARY\" ||
              echo \"(nexo could not show $run)\" >> \"$GITHUB_STEP_SUMMARY\"
          done
{END}
",
        version = env!("CARGO_PKG_VERSION")
    );
    body.lines()
        .map(|l| match l.is_empty() {
            true => "\n".to_string(),
            false => format!("{indent}{l}\n"),
        })
        .collect()
}

/// `old` (the workflow file, or "" when there is none) with nexo's job:
/// the marked block replaced in place, else added under `jobs:`.
pub fn merge(old: &str, path: &str) -> Result<String> {
    if old.trim().is_empty() {
        return Ok(format!("{HEADER}{}", job("  ")));
    }
    let merged = match marked(old) {
        Some((start, end, indent)) => {
            format!("{}{}{}", &old[..start], job(&indent), &old[end..])
        }
        None => add_job(old, path)?,
    };
    check(old, &merged, path)?;
    Ok(merged)
}

/// The byte range of the marked block (whole lines) and its indent.
fn marked(old: &str) -> Option<(usize, usize, String)> {
    let b = old.find(BEGIN)?;
    let e = old[b..].find(END)? + b + END.len();
    let start = old[..b].rfind('\n').map_or(0, |i| i + 1);
    let indent = old[start..b].to_string();
    if !indent.chars().all(|c| c == ' ') {
        return None;
    }
    let end = old[e..].find('\n').map_or(old.len(), |i| e + i + 1);
    Some((start, end, indent))
}

/// Adds the job at the end of the file's top-level `jobs:` mapping.
fn add_job(old: &str, path: &str) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid(format!("cannot add nexo's job to {path}: {why}; nexo leaves it alone"))
            .with_hint(format!(
                "add the job by hand (`nexo setup ci github --dry-run` on a repository without {path} shows it), or move your file aside"
            ))
    };
    let parsed: serde_yaml::Value =
        serde_yaml::from_str(old).map_err(|e| refuse(&format!("it is not valid YAML ({e})")))?;
    let jobs = parsed
        .get("jobs")
        .and_then(|j| j.as_mapping())
        .ok_or_else(|| refuse("it has no `jobs:` mapping"))?;
    if jobs.contains_key(JOB) {
        // A job of that name without nexo's markers is the user's own.
        return Ok(old.to_string());
    }
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let at = lines
        .iter()
        .position(|l| l.trim_end() == "jobs:")
        .ok_or_else(|| refuse("its `jobs:` is not a block of its own lines"))?;
    let section_end = lines[at + 1..]
        .iter()
        .position(|l| !l.starts_with([' ', '\t', '#', '\n', '\r']) && !l.trim().is_empty())
        .map_or(lines.len(), |i| at + 1 + i);
    let indent: String = lines[at + 1..section_end]
        .iter()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.chars().take_while(|c| *c == ' ').collect())
        .unwrap_or_else(|| "  ".into());
    // The job follows the last line of the section that is not blank.
    let last = lines[at + 1..section_end]
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(at + 1, |i| at + 2 + i);
    let mut out: String = lines[..last].concat();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&job(&indent));
    out.push_str(&lines[last..].concat());
    Ok(out)
}

/// The merged file must parse, keep every job and key of the old one
/// as it was, and hold nexo's job.
fn check(old: &str, merged: &str, path: &str) -> Result<()> {
    let parse = |t: &str| serde_yaml::from_str::<serde_yaml::Value>(t).ok();
    let (Some(before), Some(after)) = (parse(old), parse(merged)) else {
        return Err(Error::invalid(format!(
            "cannot merge nexo's job into {path}: the result would not be valid YAML; nexo leaves it alone"
        )));
    };
    let jobs = |v: &serde_yaml::Value| v.get("jobs").and_then(|j| j.as_mapping()).cloned();
    let kept = match (jobs(&before), jobs(&after)) {
        (Some(b), Some(a)) => {
            a.contains_key(JOB)
                && b.iter()
                    .all(|(k, v)| k.as_str() == Some(JOB) || a.get(k) == Some(v))
        }
        _ => false,
    };
    let others_kept = before.as_mapping().is_some_and(|b| {
        b.iter()
            .all(|(k, v)| k.as_str() == Some("jobs") || after.get(k) == Some(v))
    });
    if kept && others_kept {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "cannot merge nexo's job into {path} without changing what is there; nexo leaves it alone"
    ))
    .with_hint("add the job by hand, or move your file aside and run nexo setup ci github again"))
}

/// Whether the workflow runs on pull requests at all (nexo's job runs
/// only there).
pub fn runs_on_pull_requests(text: &str) -> bool {
    let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return false;
    };
    // YAML 1.1 reads a bare `on` as true; yaml_serde keeps it a string.
    let on = v.as_mapping().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_str() == Some("on") || k.as_bool() == Some(true))
            .map(|(_, v)| v)
    });
    match on {
        Some(serde_yaml::Value::String(s)) => s == "pull_request",
        Some(serde_yaml::Value::Sequence(s)) => {
            s.iter().any(|x| x.as_str() == Some("pull_request"))
        }
        Some(serde_yaml::Value::Mapping(m)) => m.contains_key("pull_request"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_a_whole_workflow_and_a_second_run_changes_nothing() {
        let new = merge("", PATH).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&new).unwrap();
        assert!(v["jobs"][JOB]["steps"].as_sequence().unwrap().len() >= 4);
        assert!(runs_on_pull_requests(&new));
        assert_eq!(merge(&new, PATH).unwrap(), new);
    }

    #[test]
    fn the_job_joins_a_users_workflow_without_moving_their_lines() {
        let old = "name: ci\non: [push, pull_request]\njobs:\n    test:\n        runs-on: ubuntu-latest\n        steps:\n            - run: make test\n\nenv:\n    X: 1\n";
        let new = merge(old, PATH).unwrap();
        assert!(
            new.starts_with("name: ci\non: [push, pull_request]\njobs:\n    test:\n"),
            "{new}"
        );
        assert!(new.contains(&format!("    {BEGIN}\n    {JOB}:\n")), "{new}");
        assert!(new.ends_with("\nenv:\n    X: 1\n"), "{new}");
        assert_eq!(merge(&new, PATH).unwrap(), new, "idempotent");
    }

    #[test]
    fn the_marked_block_is_replaced_in_place() {
        let new = merge("", PATH).unwrap();
        let edited = new.replace("runs-on: ubuntu-latest", "runs-on: self-hosted");
        let edited = format!("# mine\n{edited}");
        let again = merge(&edited, PATH).unwrap();
        assert_eq!(again, format!("# mine\n{new}"));
    }

    #[test]
    fn files_it_cannot_merge_into_are_left_alone() {
        assert!(merge("jobs: [: nope", PATH).is_err());
        assert!(merge("name: x\non: push\n", PATH).is_err());
        assert!(merge("jobs: {test: {runs-on: x}}\n", PATH).is_err());
        let own = "on: pull_request\njobs:\n  nexo-verify:\n    runs-on: mine\n";
        assert_eq!(merge(own, PATH).unwrap(), own);
    }
}
