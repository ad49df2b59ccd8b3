//! One module per subcommand.

pub mod save;
pub mod status;
pub mod verify;

use std::path::Path;

use crate::catalog::{self, Backup};
use crate::diagnostics::HintExt;
use crate::fsutil::FsError;

/// The backups in `dir`, newest first, with an error that names the directory.
fn backups_in(dir: &Path) -> anyhow::Result<Vec<Backup>> {
    catalog::list_backups(dir)
        .map_err(|e| FsError::io("cannot list backups in", dir, e))
        .hint("check --backup-dir (or ETCD_BACKUP_DIR)")
}
