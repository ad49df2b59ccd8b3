//! One module per subcommand.

pub mod completions;
pub mod delete;
pub mod health;
pub mod member;
mod one_off;
pub mod prune;
pub mod restore;
pub mod save;
pub mod status;
pub mod verify;

use std::path::Path;

use crate::backup::catalog::{self, Backup};
use crate::backup::named::{is_url, remote_error, remote_options, remote_sidecar, Named};
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::{DirLock, FsError};

/// The backups in `dir`, newest first, with an error that names the directory.
fn backups_in(dir: &Path) -> anyhow::Result<Vec<Backup>> {
    catalog::list_backups(dir)
        .map_err(|e| FsError::io("cannot list backups in", dir, e))
        .hint("check --backup-dir (or ETCD_BACKUP_DIR)")
}

/// Local backups (newest first by name) with the suspect ones (`catalog::suspects`, judged by
/// name and sidecar) moved to the end, each group keeping its order.
fn trusted_first(backups: Vec<Backup>) -> Vec<Backup> {
    catalog::trusted_first(backups, |b| catalog::local_facts(&b.path, b.taken_at))
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

/// Opens `--remote` when it was given.
fn open_remote(args: &crate::cli::RemoteArgs) -> anyhow::Result<Option<crate::remote::Remote>> {
    match &args.remote {
        None => Ok(None),
        Some(url) => crate::remote::Remote::open(url, &remote_options(&args.conn))
            .map(Some)
            .map_err(remote_error),
    }
}

/// A directory for scratch copies of remote snapshots: the backup dir when it exists, else
/// the system's temp dir.
fn scratch_dir(backup_dir: &Path) -> std::path::PathBuf {
    if backup_dir.is_dir() {
        backup_dir.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A backup object in a store.
struct RemoteBackup {
    /// Key relative to the store's prefix: `<node>/<file>`.
    key: String,
    name: catalog::BackupName,
    size: u64,
}

/// The backups in a store, newest first (by the time in their names, then by key).
fn remote_backups(remote: &crate::remote::Remote) -> anyhow::Result<Vec<RemoteBackup>> {
    let mut out: Vec<RemoteBackup> = remote
        .list()
        .map_err(remote_error)?
        .into_iter()
        .filter_map(|o| {
            let file = o.key.rsplit('/').next().unwrap_or_default();
            catalog::parse_backup_name(file).map(|name| RemoteBackup {
                key: o.key.clone(),
                name,
                size: o.size,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.name
            .taken_at
            .cmp(&a.name.taken_at)
            .then_with(|| b.key.cmp(&a.key))
    });
    Ok(out)
}
