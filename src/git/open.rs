//! Opening the user's repository as git would find it.

use std::path::Path;

use super::{Repo, loose};
use crate::core::error::{Error, Result};

impl Repo {
    /// Finds the repository that contains `dir`, as git would, honouring
    /// `GIT_DIR`, `GIT_WORK_TREE` and `GIT_INDEX_FILE` like git does, so
    /// files and commit always go to one repository.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if !dir.exists() {
            return Err(Error::repo(format!("{} does not exist", dir.display())));
        }
        let repo = gix::ThreadSafeRepository::discover_with_environment_overrides_opts(
            dir,
            Default::default(),
            trust_with_slots(),
        )
        .map(gix::Repository::from)
        .map_err(|e| {
            if std::env::var_os("GIT_DIR").is_some() {
                return Error::repo(format!(
                    "GIT_DIR is set ({}) but is not a usable git repository: {e}",
                    std::env::var_os("GIT_DIR").unwrap_or_default().to_string_lossy()
                ));
            }
            if is_sha256(dir) {
                return Error::repo(format!(
                    "{} is in a SHA-256 repository (extensions.objectFormat = sha256), which nexo does not support yet: it reads and writes git objects as SHA-1. Keep runs in a SHA-1 repository",
                    dir.display()
                ));
            }
            Error::repo(format!(
                "{} is not inside a git repository: nexo keeps runs in a repository's .nexo/ folder",
                dir.display()
            ))
            .with_hint("run `git init` first, or pass -C <repo>")
        })?;
        let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
            return Err(Error::repo(format!(
                "{} is a bare repository: nexo needs a working tree to keep .nexo/ in; use a clone with a checkout",
                repo.git_dir().display()
            )));
        };
        Ok(Repo {
            repo,
            workdir,
            coalesce: true,
            loose: loose::Loose::new(),
        })
    }
}

/// gix's default trust levels, each with room for more packs than gix's
/// 32: gix sizes its table of pack indexes when it opens the repository,
/// and a long commit (`bulk`) adds a pack every 65,536 objects, whose
/// trees its later batches read back (ten at 100,000 runs). 256 costs
/// every command 0.3 MB (1,024 cost 0.9 MB); a commit that runs out
/// stops cleanly, and the next command, counting the packs, finishes it.
fn trust_with_slots() -> gix::sec::trust::Mapping<gix::open::Options> {
    let slots = || gix::odb::store::init::Slots::AsNeededByDiskState {
        multiplier: 1.1,
        minimum: 256,
    };
    let mut trust = gix::sec::trust::Mapping::<gix::open::Options>::default();
    trust.full = trust.full.object_store_slots(slots());
    trust.reduced = trust.reduced.object_store_slots(slots());
    trust
}

/// Whether `dir` lies in a repository that uses SHA-256 object names,
/// which this build of gix cannot open.
fn is_sha256(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors().any(|d| {
        std::fs::read_to_string(d.join(".git").join("config")).is_ok_and(|c| {
            c.to_ascii_lowercase()
                .replace([' ', '\t'], "")
                .contains("objectformat=sha256")
        })
    })
}
