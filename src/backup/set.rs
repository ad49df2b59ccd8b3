//! The backup set: the backups of `--backup-dir` or of a store (`--remote`), listed, named,
//! read, checked and pruned behind one interface, so that no command asks which of the two it is.
//! In a store, a backup is the object `<node>/<file>` under its prefix, every node's in one set.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;

use crate::backup::catalog::{self, Backup, Sidecar};
use crate::backup::named::{is_url, remote_error, Named};
use crate::backup::prune::{self, Action, Entry, FileType, Outcome, Plan};
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::{DirLock, FsError};
use crate::remote::{Remote, RemoteOptions};
use crate::settings::Settings;

/// The backups of a run: a backup dir, or a store.
pub(crate) enum BackupSet {
    Dir(PathBuf),
    Store(Arc<Remote>),
}

/// A backup of the set, newest first as [`BackupSet::list`] gives them. In a store, `name` is
/// the key `<node>/<file>` and `path` the object's URL.
pub(crate) struct Listed {
    pub backup: Backup,
    /// The size the store's listing gave (a dir's files are measured by [`BackupSet::size`]).
    listed_size: Option<u64>,
}

/// Opens `--remote` when it was given.
pub(crate) fn open_remote(settings: &Settings) -> anyhow::Result<Option<Arc<Remote>>> {
    match &settings.remote {
        None => Ok(None),
        Some(url) => Remote::open(url, &settings.remote_options)
            .map(|r| Some(Arc::new(r)))
            .map_err(remote_error),
    }
}

/// A directory for scratch copies of remote snapshots: the backup dir when it exists, else
/// the system's temp dir.
pub(crate) fn scratch_dir(backup_dir: &Path) -> PathBuf {
    if backup_dir.is_dir() {
        backup_dir.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The backups in `dir`, newest first, with an error that names the directory.
pub(crate) fn backups_in(dir: &Path) -> anyhow::Result<Vec<Backup>> {
    catalog::list_backups(dir)
        .map_err(|e| FsError::io("cannot list backups in", dir, e))
        .hint("check --backup-dir (or ETCD_BACKUP_DIR)")
}

/// Takes the backup dir's lock (shared by every command that changes the dir), with advice.
pub(crate) fn lock_dir(dir: &Path) -> anyhow::Result<DirLock> {
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

/// Refuses a backup directory that anyone may write to, directly or through a symlink: anyone
/// could plant a "newer" backup there and have the real ones pruned.
pub(crate) fn check_dir(dir: &Path) -> anyhow::Result<()> {
    let hint = "check --backup-dir (or ETCD_BACKUP_DIR); `save` creates it, mode 0700";
    let link = dir
        .symlink_metadata()
        .map_err(|e| FsError::io("cannot use backup dir", dir, e))
        .hint(hint)?;
    let meta = dir
        .metadata()
        .map_err(|e| FsError::io("cannot follow the symlink", dir, e))
        .hint(hint)?;
    if !meta.is_dir() {
        return Err(anyhow!("{} is not a directory", dir.display())).hint(hint);
    }
    if meta.permissions().mode() & 0o002 != 0 {
        let what = if link.file_type().is_symlink() {
            let target = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            format!(
                "{} is a symlink to {}, which is world-writable",
                dir.display(),
                target.display()
            )
        } else {
            format!("{} is world-writable", dir.display())
        };
        return Err(anyhow!("{what}; refusing to prune there")).hint(
            "anyone could plant or swap backups in it; point --backup-dir at a directory only \
             root can write (save creates it with mode 0700)",
        );
    }
    Ok(())
}

/// Reads the sidecar of `key` from the store: `Ok(None)` when there is none.
pub(crate) fn remote_sidecar(remote: &Remote, key: &str) -> Result<Option<Sidecar>, String> {
    let sc_key = format!("{key}{}", catalog::SIDECAR_SUFFIX);
    match remote.get_small(&sc_key) {
        Ok(bytes) => Sidecar::parse(&bytes, &remote.url_of(&sc_key)).map(Some),
        Err(crate::remote::RemoteError::NotFound { .. }) => Ok(None),
        Err(e) => Err(format!(
            "cannot read sidecar {}: {e}",
            remote.url_of(&sc_key)
        )),
    }
}

impl BackupSet {
    /// The store of `--remote` when it was given, else the backup dir.
    pub(crate) fn open(settings: &Settings) -> anyhow::Result<BackupSet> {
        Ok(match open_remote(settings)? {
            Some(remote) => BackupSet::Store(remote),
            None => BackupSet::Dir(settings.backup_dir.clone()),
        })
    }

    /// The dir's path or the store's URL, for messages and reports.
    pub(crate) fn location(&self) -> String {
        match self {
            BackupSet::Dir(dir) => dir.display().to_string(),
            BackupSet::Store(remote) => remote.url().to_string(),
        }
    }

    /// What one backup is, for messages: `the file` or `the object`.
    pub(crate) fn what(&self) -> &'static str {
        match self {
            BackupSet::Dir(_) => "the file",
            BackupSet::Store(_) => "the object",
        }
    }

    /// The backups, newest first (by the time in their names, then by name).
    pub(crate) fn list(&self) -> anyhow::Result<Vec<Listed>> {
        let remote = match self {
            BackupSet::Dir(dir) => {
                return Ok(backups_in(dir)?
                    .into_iter()
                    .map(|backup| Listed {
                        backup,
                        listed_size: None,
                    })
                    .collect())
            }
            BackupSet::Store(remote) => remote,
        };
        let mut out: Vec<Listed> = remote
            .list()
            .map_err(remote_error)?
            .into_iter()
            .filter_map(|o| {
                let file = o.key.rsplit('/').next().unwrap_or_default();
                catalog::parse_backup_name(file).map(|name| Listed {
                    backup: Backup {
                        path: remote.url_of(&o.key).into(),
                        name: o.key.clone(),
                        taken_at: name.taken_at,
                        label: name.label,
                        layers: name.layers,
                    },
                    listed_size: Some(o.size),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            b.backup
                .taken_at
                .cmp(&a.backup.taken_at)
                .then_with(|| b.backup.name.cmp(&a.backup.name))
        });
        Ok(out)
    }

    /// The newest backup to trust first: in a dir, the suspect ones (`catalog::suspects`,
    /// judged by name and sidecar) go last, each group keeping its order; a store's order is
    /// kept.
    pub(crate) fn trusted_first(&self, backups: Vec<Listed>) -> Vec<Listed> {
        match self {
            BackupSet::Dir(_) => catalog::trusted_first(backups, |l| {
                catalog::local_facts(&l.backup.path, l.backup.taken_at)
            }),
            BackupSet::Store(_) => backups,
        }
    }

    /// The size of a listed backup.
    pub(crate) fn size(&self, listed: &Listed) -> anyhow::Result<u64> {
        match listed.listed_size {
            Some(size) => Ok(size),
            None => Ok(std::fs::metadata(&listed.backup.path)
                .map_err(|e| FsError::io("cannot read", &listed.backup.path, e))?
                .len()),
        }
    }

    /// The sidecar of a listed backup: `Ok(None)` when there is none.
    pub(crate) fn sidecar(&self, backup: &Backup) -> Result<Option<Sidecar>, String> {
        match self {
            BackupSet::Dir(_) => crate::backup::verify::read_sidecar(&backup.path),
            BackupSet::Store(remote) => remote_sidecar(remote, &backup.name),
        }
    }

    /// A listed backup, to open.
    pub(crate) fn named(&self, backup: Backup) -> Named {
        match self {
            BackupSet::Dir(_) => Named::Local(backup.path),
            BackupSet::Store(remote) => Named::Remote {
                remote: Arc::clone(remote),
                key: backup.name,
            },
        }
    }

    /// A backup named on the command line: a path or an object URL, or, in a store, a key.
    pub(crate) fn resolve(&self, spec: &Path, options: &RemoteOptions) -> anyhow::Result<Named> {
        match self {
            BackupSet::Store(remote) if !is_url(spec) => Ok(Named::Remote {
                remote: Arc::clone(remote),
                key: spec.to_string_lossy().into_owned(),
            }),
            _ => Named::open(spec, options),
        }
    }

    /// A prune's hold on the set: a dir must not be world-writable, and is locked unless
    /// nothing will be written (a dry run writes nothing, not even the lock file; what it reads
    /// is safe without it). Stores have no locks.
    pub(crate) fn hold(&self, dry_run: bool) -> anyhow::Result<Option<DirLock>> {
        match self {
            BackupSet::Dir(dir) => {
                check_dir(dir)?;
                match dry_run {
                    true => Ok(None),
                    false => lock_dir(dir).map(Some),
                }
            }
            BackupSet::Store(_) => Ok(None),
        }
    }

    /// Every entry of the set for a prune's plan: a dir read without following symlinks, or the
    /// store's objects.
    pub(crate) fn scan(&self) -> anyhow::Result<Vec<Entry>> {
        let remote = match self {
            BackupSet::Dir(dir) => return prune::scan(dir),
            BackupSet::Store(remote) => remote,
        };
        Ok(remote
            .list()
            .map_err(remote_error)?
            .into_iter()
            .map(|o| {
                let (node, file) = match o.key.rsplit_once('/') {
                    Some((n, f)) => (Some(n.to_string()), f.to_string()),
                    None => (None, o.key.clone()),
                };
                let (kind, backup) = prune::classify(OsStr::new(&file), FileType::File);
                let backup = backup.map(|(b, parsed)| match &node {
                    Some(n) => (format!("{n}/{b}"), parsed),
                    None => (b, parsed),
                });
                Entry {
                    name: o.key.into(),
                    kind,
                    size: o.size,
                    modified: o.last_modified,
                    id: (0, 0),
                    backup,
                    content: None,
                    sidecar_problem: None,
                }
            })
            .collect())
    }

    /// The path or URL of an entry, for messages.
    pub(crate) fn shown(&self, e: &Entry) -> String {
        match self {
            BackupSet::Dir(dir) => dir.join(&e.name).display().to_string(),
            BackupSet::Store(remote) => remote.url_of(&e.display_name()),
        }
    }

    /// What to do when no backup passes verification.
    pub(crate) fn floor_advice(&self) -> String {
        match self {
            BackupSet::Dir(_) => {
                "run `etcd-backup verify --all` to see why, and take a new backup".to_string()
            }
            BackupSet::Store(remote) => format!(
                "run `etcd-backup verify --remote {} --all` to see why",
                remote.url()
            ),
        }
    }

    /// Whether a backup entry passes verification, for a prune's floor: the problems when not.
    /// An encrypted backup without `identities` passes when its bytes are the ones that passed
    /// the full check at save time (its sidecar's SHA-256).
    pub(crate) fn check(
        &self,
        e: &Entry,
        identities: &[age::x25519::Identity],
        scratch_dir: &Path,
    ) -> Result<(), String> {
        let verdict = match self {
            BackupSet::Dir(dir) => {
                crate::backup::verify::verify_path(&dir.join(&e.name), identities, false)
                    .map_err(|e| e.to_string())
            }
            BackupSet::Store(remote) => {
                let key = e.display_name();
                let layers = crate::backup::layers::Layers::strip(&key).1;
                let mut reader = remote.reader(&key).map_err(|e| e.to_string())?;
                crate::backup::verify::verify_stored(
                    &mut reader,
                    Path::new(&remote.url_of(&key)),
                    layers,
                    identities,
                    scratch_dir,
                    false,
                    remote_sidecar(remote, &key),
                )
                .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
            }
        };
        match verdict {
            Ok(v) if v.ok() => Ok(()),
            Ok(v) => Err(v.problems.join("; ")),
            Err(e) => Err(e),
        }
    }

    /// Deletes what `plan` deletes, each row's outcome recorded. In a dir, a signal or
    /// `--timeout` under `save --prune` stops this before anything is deleted, even in a dry run
    /// (`crate::cancel::check`); in a dir a backup goes before its sidecar, after checking that
    /// the name still means the file scanned, and the dir is fsynced (`prune::execute`).
    pub(crate) fn execute(&self, plan: &mut Plan, dry_run: bool) -> anyhow::Result<()> {
        match self {
            BackupSet::Dir(dir) => {
                crate::cancel::check()?;
                if !dry_run {
                    prune::execute(dir, plan)?;
                }
            }
            BackupSet::Store(remote) if !dry_run => {
                for row in plan.rows.iter_mut().filter(|r| r.action == Action::Delete) {
                    row.outcome = match remote.delete(&row.entry.display_name()) {
                        Ok(()) => Outcome::Deleted,
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                }
            }
            BackupSet::Store(_) => {}
        }
        Ok(())
    }

    /// Where the set is, as prune reports it (`dir`).
    pub(crate) fn root(&self) -> PathBuf {
        match self {
            BackupSet::Dir(dir) => dir.clone(),
            BackupSet::Store(remote) => remote.url().into(),
        }
    }
}
