//! A backup named on the command line: a local file or an object in a store, and the glue that
//! opens a store from the flags.

use std::path::Path;

use crate::backup::catalog;
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::FsError;

/// A remote error with its advice attached.
pub(crate) fn remote_error(e: crate::remote::RemoteError) -> anyhow::Error {
    match e.hint() {
        Some(h) => with_hint(e, h),
        None => e.into(),
    }
}

/// The store's settings from the flags.
pub(crate) fn remote_options(conn: &crate::cli::RemoteConnArgs) -> crate::remote::RemoteOptions {
    crate::remote::RemoteOptions {
        endpoint: conn.remote_endpoint.clone(),
        region: conn.remote_region.clone(),
        path_style: None,
        timeout: conn.remote_timeout,
        connect_timeout: std::time::Duration::from_secs(10),
        retries: conn.remote_retries,
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
    pub(crate) fn open(spec: &Path, conn: &crate::cli::RemoteConnArgs) -> anyhow::Result<Named> {
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
}

/// Reads the sidecar of `key` from the store: `Ok(None)` when there is none.
pub(crate) fn remote_sidecar(
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
