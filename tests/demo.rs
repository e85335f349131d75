//! `nexo demo` walks the seed's release example across two clones.

mod common;

use common::*;

#[test]
fn the_demo_runs_end_to_end() {
    let out = nexo_cmd().arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "resume_state: waiting_approval",
        "decision: approved",
        "by: release-manager",
        "owner: claude_code",
        "pushed from the laptop, pulled on the server",
        "status: completed",
        "publish:completed    by claude_code",
        "opened: Prepare and publish v3.1.1",
        "changes to WF-",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
