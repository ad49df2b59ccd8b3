//! One module per subcommand.

pub mod prune;
pub mod restore;
pub mod save;
pub mod status;
pub mod verify;

use std::path::Path;

use crate::catalog::{self, Backup};
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::{DirLock, FsError};

/// The backups in `dir`, newest first, with an error that names the directory.
fn backups_in(dir: &Path) -> anyhow::Result<Vec<Backup>> {
    catalog::list_backups(dir)
        .map_err(|e| FsError::io("cannot list backups in", dir, e))
        .hint("check --backup-dir (or ETCD_BACKUP_DIR)")
}

/// Takes the backup dir's lock (shared by every command that changes the dir), with advice.
fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
    DirLock::acquire(dir).map_err(|e| match &e {
        FsError::Locked { holder, .. } => {
            let hint = format!(
                "another etcd-backup run (pid {holder}) is using {}; wait for it to finish",
                dir.display()
            );
            with_hint(e, hint)
        }
        _ => with_hint(e, format!("make {} writable by this user", dir.display())),
    })
}
