//! One module per subcommand.

pub mod completions;
pub(crate) mod delete;
pub(crate) mod diff;
pub(crate) mod drill;
pub(crate) mod export;
pub(crate) mod health;
pub(crate) mod inspect;
pub(crate) mod member;
pub(crate) mod prune;
pub(crate) mod repair;
pub(crate) mod restore;
pub(crate) mod save;
pub(crate) mod status;
pub(crate) mod verify;

use std::path::Path;

use crate::backup::named::Named;
use crate::diagnostics::with_hint;
use crate::fsutil::FsError;

/// Creates the backup dir (0700) if needed, with advice that fits what went wrong.
fn create_backup_dir(dir: &Path) -> anyhow::Result<()> {
    crate::fsutil::create_private_dir(dir).map_err(|e| {
        let hint = match &e {
            FsError::NotADirectory { file, .. } => format!(
                "--backup-dir must be a directory: choose another path, or move {} away",
                file.display()
            ),
            _ => format!(
                "make {} writable by this user, or choose another --backup-dir",
                dir.display()
            ),
        };
        with_hint(e, hint)
    })
}

/// A backup named on the command line (a path or an object URL), opened for reading its key
/// space: `inspect`, `export`, `diff`.
pub(crate) fn open_backup(
    settings: &crate::settings::Settings,
    spec: &std::path::Path,
) -> anyhow::Result<crate::keyspace::Backup> {
    let identities = settings.identities()?;
    let named = crate::backup::named::Named::open(spec, &settings.remote_options)?;
    let scratch = crate::backup::set::scratch_dir(&settings.backup_dir);
    crate::keyspace::Backup::open(&named, &identities, &scratch)
}
