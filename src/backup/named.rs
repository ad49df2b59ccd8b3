//! A backup named on the command line (or listed in the set): a local file or an object in a
//! store, opened, read, verified and its sidecar read or replaced the same way for both.

use std::path::Path;

use crate::backup::catalog;
use crate::backup::set::remote_sidecar;
use crate::backup::verify::{self, SpillError, Verdict};
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::FsError;
use crate::remote::RemoteOptions;

/// A remote error with its advice attached.
pub(crate) fn remote_error(e: crate::remote::RemoteError) -> anyhow::Error {
    match e.hint() {
        Some(h) => with_hint(e, h),
        None => e.into(),
    }
}

/// Whether a snapshot named on the command line is an object URL rather than a path.
pub(crate) fn is_url(spec: &Path) -> bool {
    spec.to_str().is_some_and(|s| {
        ["s3://", "gs://", "az://", "file://"]
            .iter()
            .any(|p| s.starts_with(p))
    })
}

/// A snapshot named on the command line: a local file or an object in a store.
pub(crate) enum Named {
    Local(std::path::PathBuf),
    Remote {
        remote: std::sync::Arc<crate::remote::Remote>,
        key: String,
    },
}

impl Named {
    /// `spec` as given; an object URL is split into its store (the URL up to the last `/`)
    /// and the object's key.
    pub(crate) fn open(spec: &Path, options: &RemoteOptions) -> anyhow::Result<Named> {
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
        let remote =
            crate::remote::Remote::open(&format!("{dir}/"), options).map_err(remote_error)?;
        Ok(Named::Remote {
            remote: std::sync::Arc::new(remote),
            key: key.to_string(),
        })
    }

    /// The path or URL, for messages.
    pub(crate) fn shown(&self) -> String {
        match self {
            Named::Local(p) => p.display().to_string(),
            Named::Remote { remote, key } => remote.url_of(key),
        }
    }

    /// The file or object name (no directories).
    pub(crate) fn file_name(&self) -> String {
        match self {
            Named::Local(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Named::Remote { key, .. } => key.rsplit('/').next().unwrap_or_default().to_string(),
        }
    }

    pub(crate) fn layers(&self) -> crate::backup::layers::Layers {
        crate::backup::layers::Layers::strip(&self.file_name()).1
    }

    /// The stored bytes, streamed.
    pub(crate) fn reader(&self) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
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
    pub(crate) fn sidecar(&self) -> Result<Option<catalog::Sidecar>, String> {
        match self {
            Named::Local(p) => crate::backup::verify::read_sidecar(p),
            Named::Remote { remote, key } => remote_sidecar(remote, key),
        }
    }

    /// Verifies it (`backup::verify`); a stored object is read back into a scratch copy in
    /// `scratch_dir` (sealed when encrypted).
    pub(crate) fn verify(
        &self,
        identities: &[age::x25519::Identity],
        scratch_dir: &Path,
        allow_no_hash: bool,
    ) -> Result<Verdict, SpillError> {
        let shown = self.shown();
        let mut reader = match self {
            Named::Local(path) => return verify::verify_path(path, identities, allow_no_hash),
            Named::Remote { .. } => self.reader().map_err(|e| SpillError::Read {
                name: shown.clone(),
                source: std::io::Error::other(format!("{e:#}")),
            })?,
        };
        verify::verify_stored(
            &mut reader,
            Path::new(&shown),
            self.layers(),
            identities,
            scratch_dir,
            allow_no_hash,
            self.sidecar(),
        )
    }

    /// Replaces its sidecar, where one already exists; a local one only under the directory
    /// lock, so never while a save or prune holds the dir.
    pub(crate) fn write_sidecar(&self, sidecar: &catalog::Sidecar) -> Result<(), String> {
        match self {
            Named::Local(path) => {
                let dir = crate::fsutil::parent_dir(path);
                crate::fsutil::DirLock::acquire(&dir)
                    .and_then(|_lock| sidecar.write(&catalog::sidecar_path(path), true))
                    .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
            }
            Named::Remote { remote, key } => sidecar
                .to_bytes()
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    remote
                        .put_small(&format!("{key}{}", catalog::SIDECAR_SUFFIX), &bytes, true)
                        .map_err(|e| e.to_string())
                }),
        }
    }
}
