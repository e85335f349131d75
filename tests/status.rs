//! nexo judges `.nexo/`'s changes itself (`git/status.rs`) instead of
//! running `git status` and `git diff --cached`, which decode the whole
//! index (140 MB at 100,000 runs). Here git is the oracle: after each
//! kind of change a user or a crash can leave, `doctor`'s uncommitted and
//! index-out-of-date paths must be exactly what git's own commands say.

mod common;

use std::collections::BTreeSet;

use common::{Repo, parse_json, run_rel};

type Paths = BTreeSet<String>;

/// What doctor reports: files not committed, and index entries off HEAD.
fn nexo_says(repo: &Repo) -> (Paths, Paths) {
    let report = parse_json(&repo.nexo(&["--json", "doctor"]));
    let mut pending = Paths::new();
    let mut staged = Paths::new();
    for p in report["problems"].as_array().unwrap() {
        let path = p["path"].as_str().unwrap().to_string();
        match p["kind"].as_str().unwrap() {
            "uncommitted" => pending.insert(path),
            "index_out_of_date" => staged.insert(path),
            _ => false,
        };
    }
    (pending, staged)
}

/// The same from git: its status (files that exist, as nexo commits
/// only those) and its diff of the index against HEAD.
fn git_says(repo: &Repo) -> (Paths, Paths) {
    let status = repo.git_output(&[
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=traditional",
        "--no-renames",
        "--",
        ".nexo",
    ]);
    let pending = status
        .stdout
        .split(|&b| b == 0)
        .filter_map(|e| e.get(3..))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| !p.ends_with('/'))
        // nexo's own temporary files are never its to commit.
        .filter(|p| !p.rsplit('/').next().unwrap().starts_with(".nexo-tmp-"))
        .filter(|p| std::fs::symlink_metadata(repo.path().join(p)).is_ok_and(|m| m.is_file()))
        .collect();
    // NUL-separated: a line each would quote a name like `é`.
    let staged = repo
        .git(&[
            "diff",
            "--cached",
            "--name-only",
            "-z",
            "--no-renames",
            "--",
            ".nexo",
        ])
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    (pending, staged)
}

#[track_caller]
fn agree(repo: &Repo, what: &str) {
    let (nexo, git) = (nexo_says(repo), git_says(repo));
    assert_eq!(nexo, git, "{what}: nexo (pending, staged) against git's");
}

/// A repository with two runs, committed, and the paths of one run's files.
fn two_runs() -> (Repo, String) {
    let repo = Repo::new();
    let id = repo.open_release();
    repo.open_release();
    (repo, run_rel(&id))
}

fn write(repo: &Repo, rel: &str, bytes: &[u8]) {
    let path = repo.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every kind of change, one after another, with git asked after each.
fn changes_git_would_see(repo: &Repo, run: &str) {
    // Names whose order differs between a plain sort of a folder and
    // git's (a folder sorts as its name and `/`): committed, so any walk
    // out of git's order would see each as both gone and new.
    for name in ["a-b", "a/c", "a/d/e", "a0", "a.b", "a/"] {
        let rel = format!(".nexo/odd/{}", name.trim_end_matches('/'));
        if !name.ends_with('/') {
            write(repo, &rel, name.as_bytes());
        }
    }
    repo.git(&["add", "-f", ".nexo/odd"]);
    repo.git(&["commit", "-q", "-m", "odd names"]);
    agree(repo, "clean");
    let history = format!("{run}/history.jsonl");
    let view = format!("{run}/run.yaml");
    // Same size, new bytes, and the old modification time put back: only
    // the inode's change time (and the contents) tell.
    let old = std::fs::read(repo.path().join(&view)).unwrap();
    let mtime = std::fs::metadata(repo.path().join(&view))
        .unwrap()
        .modified()
        .unwrap();
    let mut same_size = old.clone();
    same_size[0] = if old[0] == b'#' { b'$' } else { b'#' };
    write(repo, &view, &same_size);
    std::fs::File::options()
        .write(true)
        .open(repo.path().join(&view))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    agree(repo, "a view edited in place, its time put back");
    write(repo, &view, &old);
    agree(repo, "the view restored");
    // Staged by hand, then the file put back as HEAD has it.
    write(repo, &view, b"edited\n");
    repo.git(&["add", &view]);
    agree(repo, "a view staged");
    write(repo, &view, &old);
    agree(repo, "staged, then the file put back");
    repo.git(&["reset", "-q", "--", &view]);
    agree(repo, "unstaged again");
    // Stray and ignored files, a nested repository, a link, a temporary.
    write(repo, ".nexo/runs/stray.txt", b"x\n");
    write(repo, ".nexo/.gitignore", b"*.ignored\n");
    write(repo, ".nexo/runs/a.ignored", b"x\n");
    write(repo, &format!("{run}/steps/zz extra é.yaml"), b"x\n");
    write(repo, &format!("{run}/.nexo-tmp-123"), b"x\n");
    let nested = repo.path().join(".nexo/runs/nested");
    std::fs::create_dir_all(&nested).unwrap();
    common::git_in(&nested, &["init", "-q"]);
    write(repo, ".nexo/runs/nested/file", b"x\n");
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../README.md", repo.path().join(".nexo/runs/link")).unwrap();
    agree(repo, "stray, ignored, nested, linked and temporary files");
    // A history deleted, one made executable, one appended to.
    std::fs::remove_file(repo.path().join(format!("{run}/steps/publish.yaml"))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = repo.path().join(format!("{run}/steps"));
        let first = std::fs::read_dir(&p)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut text = std::fs::read(repo.path().join(&history)).unwrap();
    text.extend_from_slice(b"{\"not\":\"an event\"}\n");
    write(repo, &history, &text);
    agree(repo, "deleted, executable and appended");
    // A file added to the index only (not in HEAD), then removed from it.
    repo.git(&["add", "-f", ".nexo/runs/stray.txt"]);
    repo.git(&["rm", "-q", "--cached", &history]);
    agree(repo, "added to and removed from the index");
}

#[test]
fn a_version_2_index_is_judged_as_git_judges_it() {
    let (repo, run) = two_runs();
    changes_git_would_see(&repo, &run);
}

#[test]
fn a_version_4_index_is_judged_as_git_judges_it() {
    let (repo, run) = two_runs();
    repo.git(&["update-index", "--index-version", "4"]);
    changes_git_would_see(&repo, &run);
}

/// HEAD's trees read from a pack (whose pages the walk hands back as it
/// goes, `git/packs.rs`) rather than loose objects.
#[test]
fn a_packed_repository_is_judged_as_git_judges_it() {
    let (repo, run) = two_runs();
    repo.git(&["gc", "-q", "--prune=now"]);
    changes_git_would_see(&repo, &run);
}

#[test]
fn a_split_index_is_left_to_git_and_judged_the_same() {
    let (repo, run) = two_runs();
    repo.git(&["update-index", "--split-index"]);
    changes_git_would_see(&repo, &run);
}

#[test]
fn conflicted_and_special_entries_are_judged_as_git_judges_them() {
    let (repo, run) = two_runs();
    let view = format!("{run}/run.yaml");
    let id = repo.git(&["rev-parse", &format!("HEAD:{view}")]);
    let id = id.trim();
    // A merge that stopped on the view: stages 1 to 3, no stage 0.
    repo.git(&["rm", "-q", "--cached", &view]);
    let info = format!("100644 {id} 1\t{view}\n100644 {id} 2\t{view}\n100644 {id} 3\t{view}\n");
    common::index_info(repo.path(), &info);
    agree(&repo, "a conflicted view");
    repo.git(&["add", &view]);
    // Marked skip-worktree, then changed on disk: git does not look.
    let next = format!("{run}/steps/publish.yaml");
    repo.git(&["update-index", "--skip-worktree", &next]);
    write(&repo, &next, b"changed\n");
    agree(&repo, "a skip-worktree view changed");
    // Intent to add.
    write(&repo, ".nexo/runs/new.txt", b"x\n");
    repo.git(&["add", "-N", ".nexo/runs/new.txt"]);
    agree(&repo, "an intent-to-add file");
}

/// A committed file under `.nexo/odd/`, as a user or an older nexo leaves one.
fn committed(repo: &Repo, rel: &str, bytes: &[u8]) {
    write(repo, rel, bytes);
    repo.git(&["add", "-f", rel]);
    repo.git(&["commit", "-q", "-m", rel]);
}

#[test]
fn a_staged_name_beyond_ascii_is_named_as_it_is_in_every_index_form() {
    let (repo, _) = two_runs();
    committed(&repo, ".nexo/odd/é", b"x\n");
    write(&repo, ".nexo/odd/é", b"y\n");
    repo.git(&["add", "-f", ".nexo/odd/é"]);
    agree(&repo, "a staged é, plain index");
    // Left to git: its one-a-line output quoted the name.
    repo.git(&["update-index", "--split-index"]);
    agree(&repo, "a staged é, split index");
}

#[test]
#[cfg(unix)]
fn an_executable_bit_counts_only_where_git_trusts_it() {
    use std::os::unix::fs::PermissionsExt;
    let (repo, run) = two_runs();
    let view = repo.path().join(format!("{run}/run.yaml"));
    std::fs::set_permissions(&view, std::fs::Permissions::from_mode(0o755)).unwrap();
    agree(&repo, "made executable, core.fileMode true");
    // A FAT or Windows mount: every file looks executable, and git,
    // told so, ignores the bit; nexo listed every such file forever.
    repo.git(&["config", "core.fileMode", "false"]);
    agree(&repo, "made executable, core.fileMode false");
}

#[test]
fn a_file_assumed_unchanged_is_left_as_git_leaves_it() {
    let (repo, run) = two_runs();
    let view = format!("{run}/run.yaml");
    repo.git(&["update-index", "--assume-unchanged", &view]);
    write(&repo, &view, b"edited\n");
    agree(&repo, "an assumed-unchanged view edited");
    repo.git(&["update-index", "--index-version", "4"]);
    agree(&repo, "the same in a version 4 index");
}

#[test]
fn a_tracked_file_in_a_folder_holding_a_git_is_still_compared() {
    let (repo, run) = two_runs();
    let step = format!("{run}/steps/publish.yaml");
    // An empty `.git` is no repository: git lists the folder's files.
    std::fs::create_dir(repo.path().join(format!("{run}/steps/.git"))).unwrap();
    write(&repo, &step, b"edited\n");
    write(&repo, &format!("{run}/steps/new.yaml"), b"x\n");
    agree(&repo, "an empty .git beside an edited step");
    // A repository made there: git still compares the files it tracks.
    std::fs::remove_dir(repo.path().join(format!("{run}/steps/.git"))).unwrap();
    common::git_in(&repo.path().join(format!("{run}/steps")), &["init", "-q"]);
    agree(&repo, "a repository made in a run's steps");
}

#[test]
fn a_tree_written_with_an_old_file_mode_is_no_change() {
    let (repo, _) = two_runs();
    committed(&repo, ".nexo/odd/f", b"x\n");
    // Rebuild HEAD with `.nexo/odd/f` as `100664`, as git before 2005 (or
    // a peer's hand-made tree) wrote it; git reads it as `100644`.
    let blob = repo.git(&["rev-parse", "HEAD:.nexo/odd/f"]);
    let mut raw = b"100664 f\0".to_vec();
    raw.extend((0..20).map(|i| u8::from_str_radix(&blob.trim()[2 * i..2 * i + 2], 16).unwrap()));
    let odd = repo.path().join("odd.tree");
    std::fs::write(&odd, raw).unwrap();
    let odd_id = repo.git(&["hash-object", "-t", "tree", "-w", "--literally", "odd.tree"]);
    std::fs::remove_file(&odd).unwrap();
    let tree = |of: &str, name: &str, id: &str| {
        let mut listing: String = repo
            .git(&["ls-tree", of])
            .lines()
            .filter(|l| !l.ends_with(&format!("\t{name}")))
            .map(|l| format!("{l}\n"))
            .collect();
        listing.push_str(&format!("040000 tree {id}\t{name}\n"));
        mktree(&repo, &listing)
    };
    let nexo = tree("HEAD:.nexo", "odd", odd_id.trim());
    let root = tree("HEAD", ".nexo", &nexo);
    let commit = repo.git(&["commit-tree", &root, "-p", "HEAD", "-m", "old mode"]);
    repo.git(&["update-ref", "HEAD", commit.trim()]);
    agree(&repo, "a file mode git canonicalises");
}

fn mktree(repo: &Repo, listing: &str) -> String {
    common::git_with_input(repo.path(), &["mktree"], listing)
        .trim()
        .to_string()
}

#[test]
#[cfg(unix)]
fn a_link_checked_out_as_a_file_is_judged_by_its_contents() {
    let (repo, _) = two_runs();
    std::os::unix::fs::symlink("../README.md", repo.path().join(".nexo/link")).unwrap();
    repo.git(&["add", "-f", ".nexo/link"]);
    repo.git(&["commit", "-q", "-m", "a link"]);
    // core.symlinks=false (as on Windows): git writes the link as a file
    // holding its target, and judges that file by its contents.
    repo.git(&["config", "core.symlinks", "false"]);
    std::fs::remove_file(repo.path().join(".nexo/link")).unwrap();
    repo.git(&["checkout", "--", ".nexo/link"]);
    let file = repo.path().join(".nexo/link");
    assert!(std::fs::symlink_metadata(&file).unwrap().is_file());
    // Its stat data off its entry: contents decide.
    std::fs::write(&file, std::fs::read(&file).unwrap()).unwrap();
    agree(&repo, "a link checked out as a file, untouched");
    std::fs::write(&file, "../elsewhere").unwrap();
    agree(&repo, "a link checked out as a file, edited");
}

#[test]
fn a_file_git_converts_on_checkout_is_no_change() {
    let (repo, run) = two_runs();
    // `core.autocrlf`: git checks views out with CRLF, blobs keep LF.
    repo.git(&["config", "core.autocrlf", "true"]);
    std::fs::remove_dir_all(repo.path().join(&run)).unwrap();
    repo.git(&["checkout", "--", &run]);
    let view = repo.path().join(format!("{run}/run.yaml"));
    let bytes = std::fs::read(&view).unwrap();
    assert!(bytes.windows(2).any(|w| w == b"\r\n"), "checked out CRLF");
    // Its stat data off its entry: contents decide.
    std::fs::write(&view, &bytes).unwrap();
    agree(&repo, "a view checked out with CRLF");
}

#[test]
fn a_file_an_attribute_converts_on_checkout_is_no_change() {
    // `eol=crlf` set inside `.nexo/` (the walk sees it) and at the root.
    for at in [".nexo/runs/.gitattributes", ".gitattributes"] {
        let (repo, run) = two_runs();
        write(&repo, at, b"*.yaml text eol=crlf\n");
        repo.git(&["add", "-f", at]);
        repo.git(&["commit", "-q", "-m", "attributes"]);
        std::fs::remove_dir_all(repo.path().join(&run)).unwrap();
        repo.git(&["checkout", "--", &run]);
        let view = repo.path().join(format!("{run}/run.yaml"));
        let bytes = std::fs::read(&view).unwrap();
        assert!(bytes.windows(2).any(|w| w == b"\r\n"), "checked out CRLF");
        std::fs::write(&view, &bytes).unwrap();
        agree(&repo, at);
    }
}
