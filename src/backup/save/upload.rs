//! `--remote`: the upload of the committed backup (and its bundle and sidecar) to a store.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use anyhow::anyhow;

use crate::backup::catalog::{self, Sidecar};
use crate::backup::layers;
use crate::backup::named::remote_error;
use crate::cancel::{self, Deadline};
use crate::diagnostics::HintExt;
use crate::fsutil::FsError;
use crate::output::{human_bytes, Printer};

/// What the upload put where.
pub(crate) struct Uploaded {
    /// Key relative to the store's prefix: `<node>/<file>`.
    pub key: String,
    pub url: String,
    pub sidecar_url: String,
    pub bundle_url: Option<String>,
    pub verified: bool,
    pub seconds: f64,
    pub bytes: u64,
}

impl Uploaded {
    /// The `remote` object of `save -w json`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "key": self.key,
            "sidecar_url": self.sidecar_url,
            "pki_bundle_url": self.bundle_url,
            "verified_upload": self.verified,
            "seconds": self.seconds,
            "bytes": self.bytes,
        })
    }
}

/// The node part of object keys: the etcd member name (the node name on kubeadm), else the
/// host name, reduced to characters that are safe in every store.
fn node_key(member_name: &str) -> String {
    let raw = if member_name.is_empty() {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    } else {
        member_name.to_string()
    };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.trim_start_matches('.') {
        "" => "node".to_string(),
        c => c.to_string(),
    }
}

/// Uploads the verified backup, its bundle and then its sidecar to `<node>/<file>`. Each
/// object appears only when complete (multipart completion); the bytes sent are hashed on the
/// way and must be the ones verified. With `verify`, each object is read back and hashed.
pub(super) fn upload(
    remote: &crate::remote::Remote,
    dir: &Path,
    name: &str,
    sidecar: &Sidecar,
    verify: bool,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<Uploaded> {
    let started = Instant::now();
    let node = node_key(&sidecar.member_name);
    let key = format!("{node}/{name}");
    let mut files = vec![(name.to_string(), sidecar.file_size, sidecar.sha256.clone())];
    if let Some(b) = &sidecar.pki_bundle {
        files.push((b.file.clone(), b.file_size, b.sha256.clone()));
    }
    let mut bytes = 0;
    for (file, size, sha) in &files {
        let obj = format!("{node}/{file}");
        let url = remote.url_of(&obj);
        let path = dir.join(file);
        printer.phase(format!(
            "uploading {} ({}) to {url}",
            path.display(),
            human_bytes(*size)
        ));
        let f = File::open(&path).map_err(|e| FsError::io("cannot open", &path, e))?;
        // Stops within one read on a signal or at the deadline.
        let mut f = cancel::Reader {
            inner: f,
            deadline: *bound,
        };
        let sent = remote.upload(&obj, &mut f).map_err(remote_error)?;
        if sent.size != *size || hex::encode(sent.sha256) != *sha {
            let _ = remote.delete(&obj);
            return Err(anyhow!(
                "{} changed after it was verified ({} bytes sent, {size} verified); the upload \
                 to {url} was deleted",
                path.display(),
                sent.size
            ))
            .hint("something else writes into the backup dir; find it, then save again");
        }
        bytes += sent.size;
        if verify {
            read_back(remote, &obj, &url, *size, sha, bound, printer)?;
        }
    }
    let sidecar_key = format!("{key}{}", catalog::SIDECAR_SUFFIX);
    bound.check()?;
    let json = sidecar.to_bytes()?;
    remote
        .put_small(&sidecar_key, &json, false)
        .map_err(remote_error)?;
    let seconds = started.elapsed().as_secs_f64();
    printer.phase(format!(
        "uploaded {} in {seconds:.1}s ({}/s){}",
        human_bytes(bytes),
        human_bytes((bytes as f64 / seconds.max(0.001)) as u64),
        if verify {
            ", read back and checked"
        } else {
            ""
        }
    ));
    Ok(Uploaded {
        url: remote.url_of(&key),
        sidecar_url: remote.url_of(&sidecar_key),
        bundle_url: sidecar
            .pki_bundle
            .as_ref()
            .map(|b| remote.url_of(&format!("{node}/{}", b.file))),
        key,
        verified: verify,
        seconds,
        bytes,
    })
}

/// `--verify-upload`: reads `obj` back from the store and checks its size and SHA-256.
fn read_back(
    remote: &crate::remote::Remote,
    obj: &str,
    url: &str,
    size: u64,
    sha: &str,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<()> {
    printer.phase(format!("reading {url} back"));
    let reader = cancel::Reader {
        inner: remote.reader(obj).map_err(remote_error)?,
        deadline: *bound,
    };
    let (got, got_sha) =
        layers::digest(reader).map_err(|e| anyhow!("cannot read {url} back: {e}"))?;
    if got != size || hex::encode(got_sha) != *sha {
        return Err(anyhow!(
            "{url} reads back as {got} bytes with SHA-256 {}, not the {size} bytes \
             uploaded ({sha})",
            hex::encode(got_sha)
        ))
        .hint("the store lost or changed data; check it, and keep the local backup");
    }
    Ok(())
}
