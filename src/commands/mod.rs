//! One module per subcommand.

pub mod completions;
pub mod delete;
mod one_off;
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

/// A remote error with its advice attached.
fn remote_error(e: crate::remote::RemoteError) -> anyhow::Error {
    match e.hint() {
        Some(h) => with_hint(e, h),
        None => e.into(),
    }
}

/// The store's settings from the flags.
fn remote_options(conn: &crate::cli::RemoteConnArgs) -> crate::remote::RemoteOptions {
    crate::remote::RemoteOptions {
        endpoint: conn.remote_endpoint.clone(),
        region: conn.remote_region.clone(),
        path_style: None,
        timeout: conn.remote_timeout,
        connect_timeout: std::time::Duration::from_secs(10),
        retries: conn.remote_retries,
    }
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

/// Whether a snapshot named on the command line is an object URL rather than a path.
fn is_url(spec: &Path) -> bool {
    spec.to_str().is_some_and(|s| {
        ["s3://", "gs://", "az://", "file://"]
            .iter()
            .any(|p| s.starts_with(p))
    })
}

/// A snapshot named on the command line: a local file or an object in a store.
enum Named {
    Local(std::path::PathBuf),
    Remote {
        remote: std::sync::Arc<crate::remote::Remote>,
        key: String,
    },
}

impl Named {
    /// `spec` as given; an object URL is split into its store (the URL up to the last `/`)
    /// and the object's key.
    fn open(spec: &Path, conn: &crate::cli::RemoteConnArgs) -> anyhow::Result<Named> {
        if !is_url(spec) {
            return Ok(Named::Local(spec.to_path_buf()));
        }
        let url = spec.to_str().unwrap_or_default();
        let Some((dir, key)) = url
            .rsplit_once('/')
            .filter(|(d, k)| !k.is_empty() && !d.ends_with(':') && !d.ends_with(":/"))
        else {
            return Err(anyhow::anyhow!("{url} does not name an object")).hint(
                "name the object itself, e.g. s3://bucket/prefix/node/etcd-snapshot-….db.age",
            );
        };
        let remote = crate::remote::Remote::open(&format!("{dir}/"), &remote_options(conn))
            .map_err(remote_error)?;
        Ok(Named::Remote {
            remote: std::sync::Arc::new(remote),
            key: key.to_string(),
        })
    }

    /// The path or URL, for messages.
    fn shown(&self) -> String {
        match self {
            Named::Local(p) => p.display().to_string(),
            Named::Remote { remote, key } => remote.url_of(key),
        }
    }

    /// The file or object name (no directories).
    fn file_name(&self) -> String {
        match self {
            Named::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Named::Remote { key, .. } => key.rsplit('/').next().unwrap_or_default().to_string(),
        }
    }

    fn layers(&self) -> crate::layers::Layers {
        crate::layers::Layers::strip(&self.file_name()).1
    }

    /// The stored bytes, streamed.
    fn reader(&self) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
        match self {
            Named::Local(p) => Ok(Box::new(
                crate::fsutil::open_regular(p, true)
                    .map_err(|e| FsError::io("cannot open", p, e))
                    .hint("check the path and that this user may read it")?,
            )),
            Named::Remote { remote, key } => remote.reader(key).map_err(remote_error),
        }
    }

    /// The sidecar beside it: `Ok(None)` when there is none.
    fn sidecar(&self) -> Result<Option<catalog::Sidecar>, String> {
        match self {
            Named::Local(p) => crate::integrity::read_sidecar(p),
            Named::Remote { remote, key } => remote_sidecar(remote, key),
        }
    }
}

/// Reads the sidecar of `key` from the store: `Ok(None)` when there is none.
fn remote_sidecar(
    remote: &crate::remote::Remote,
    key: &str,
) -> Result<Option<catalog::Sidecar>, String> {
    let sc_key = format!("{key}{}", catalog::SIDECAR_SUFFIX);
    match remote.get_small(&sc_key) {
        Ok(bytes) => catalog::Sidecar::parse(&bytes, &remote.url_of(&sc_key)).map(Some),
        Err(crate::remote::RemoteError::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!(
            "cannot read sidecar {}: {e}",
            remote.url_of(&sc_key)
        )),
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
