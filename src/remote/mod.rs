//! Object storage for backups: S3 (and S3-compatible stores), GCS, Azure Blob, and a local
//! directory, behind one blocking interface.
//!
//! object_store and tokio stay inside this module. A [`Remote`] for a cloud store owns a small
//! multi-thread runtime, so a streaming upload sends parts in the background while the caller's
//! thread reads (and compresses, encrypts) the next one; every public method blocks.
//!
//! Keys are relative to the remote's prefix and `/`-separated (`node1/etcd-snapshot-….db`).
//! Writes are atomic: a multipart upload becomes visible only when completed, a file only when
//! renamed into place. Nothing is ever overwritten unless asked ([`Remote::put_small`] with
//! `replace`).

mod aws;
mod cloud;
mod error;
mod local;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

pub use error::RemoteError;
pub(crate) use error::Scheme;

/// Size of one multipart part (and of the read buffer of an upload).
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts uploading at once while the next one is read.
pub(crate) const MAX_PARTS_IN_FLIGHT: usize = 2;
/// Largest object [`Remote::get_small`] returns.
pub(crate) const SMALL_LIMIT: u64 = 16 << 20;

/// Settings for opening a remote (from CLI flags; all optional).
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// S3-compatible endpoint (`http://minio:9000`); else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT`, or the profile's `endpoint_url`. For gs:// it is the
    /// base URL, for az:// the blob endpoint.
    pub endpoint: Option<String>,
    /// S3 region; else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, `us-east-1`.
    pub region: Option<String>,
    /// Path-style S3 requests (`endpoint/bucket/key`). Default: true when an endpoint is set
    /// (S3-compatible stores), else virtual-hosted (`bucket.s3.region.amazonaws.com`).
    pub path_style: Option<bool>,
    /// Longest wait for one request (one part of an upload, a list page, a HEAD); for a
    /// download, the longest wait for the next bytes. Zero means the default (60 s).
    pub timeout: Duration,
    /// Longest wait for a TCP + TLS connection. Zero means the default (10 s).
    pub connect_timeout: Duration,
    /// Retries of a failed request (5xx, connection errors, timeouts of idempotent requests).
    pub retries: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            endpoint: None,
            region: None,
            path_style: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 5,
        }
    }
}

/// One object under the remote's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// Relative to the remote's prefix, `/`-separated, e.g.
    /// `node1/etcd-snapshot-2026-11-21_10-00-00.db`.
    pub key: String,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// What [`Remote::upload`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    /// SHA-256 of the bytes uploaded.
    pub sha256: [u8; 32],
}

/// The environment variables a remote takes its settings from: the process's for the program
/// ([`Remote::open`]), a made-up one for tests ([`Remote::open_in`]), as the process environment
/// is shared by every thread. `Debug` shows the names only.
#[derive(Clone, Default)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// The process environment (variables that are not UTF-8 are left out).
    pub(crate) fn from_process() -> Environment {
        Environment(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        )
    }

    /// This environment with `name` set to `value`.
    pub fn with(mut self, name: &str, value: &str) -> Environment {
        self.0.insert(name.to_string(), value.to_string());
        self
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every variable whose name starts with `prefix`.
    fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// An open remote: a bucket (or container, or directory) and a prefix in it.
pub struct Remote {
    url: String,
    backend: Backend,
}

enum Backend {
    Cloud(cloud::Cloud),
    Local(local::Local),
}

/// A parsed remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Location {
    scheme: Scheme,
    /// Bucket or container; empty for file://.
    bucket: String,
    /// Prefix inside the bucket without leading or trailing `/`; may be empty.
    prefix: String,
    /// The directory of a file:// remote.
    dir: std::path::PathBuf,
    /// Normalised URL, ending in `/`.
    url: String,
}

impl Remote {
    /// Opens `s3://bucket[/prefix][/]`, `gs://bucket[/prefix]`, `az://container[/prefix]` or
    /// `file:///abs/dir`. No request is made yet; credentials are looked up now (S3 profiles)
    /// or on the first request (instance metadata and other token sources).
    ///
    /// Azure takes the account from `AZURE_STORAGE_ACCOUNT_NAME` and its credentials from the
    /// other `AZURE_*` variables; GCS from `GOOGLE_APPLICATION_CREDENTIALS`,
    /// `GOOGLE_SERVICE_ACCOUNT` or the metadata server.
    pub fn open(url: &str, opts: &RemoteOptions) -> Result<Remote, RemoteError> {
        Remote::open_in(url, opts, &Environment::from_process())
    }

    /// [`Remote::open`] with the variables of `env` instead of the process environment.
    pub fn open_in(
        url: &str,
        opts: &RemoteOptions,
        env: &Environment,
    ) -> Result<Remote, RemoteError> {
        let loc = parse_url(url)?;
        let backend = match loc.scheme {
            Scheme::File => {
                if opts.endpoint.is_some() || opts.region.is_some() {
                    return Err(RemoteError::Config {
                        url: loc.url,
                        reason: "--remote-endpoint and --remote-region do not apply to file://"
                            .into(),
                        hint: None,
                    });
                }
                Backend::Local(local::Local::new(loc.dir.clone(), loc.url.clone()))
            }
            _ => Backend::Cloud(cloud::Cloud::open(&loc, opts, env)?),
        };
        Ok(Remote {
            url: loc.url,
            backend,
        })
    }

    /// The normalised URL, ending in `/` (e.g. `s3://bucket/prefix/`); never has credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The full URL of `key`.
    pub(crate) fn url_of(&self, key: &str) -> String {
        format!("{}{}", self.url, key)
    }

    /// Every object under the prefix (recursive), sorted by key. A missing prefix (or, for
    /// file://, a missing directory) is an empty list; a missing bucket is an error.
    pub fn list(&self) -> Result<Vec<RemoteObject>, RemoteError> {
        let mut v = match &self.backend {
            Backend::Cloud(c) => c.list()?,
            Backend::Local(l) => l.list()?,
        };
        v.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(v)
    }

    /// Streams `src` to `key` and returns its size and SHA-256.
    ///
    /// Memory stays bounded (parts of [`PART_SIZE`], at most [`MAX_PARTS_IN_FLIGHT`] sending
    /// while the next is read). The object appears only once complete: a multipart upload is
    /// completed at the end (a source shorter than one part goes in one PUT); a file is written
    /// to a temp file, synced and renamed. An existing `key` is refused. On any error, a read
    /// error of `src` included, the multipart upload is aborted (or the temp file removed), so
    /// nothing is left that looks like an object.
    pub fn upload(&self, key: &str, src: &mut dyn Read) -> Result<Uploaded, RemoteError> {
        self.check_key(key)?;
        let url = self.url_of(key);
        match &self.backend {
            Backend::Cloud(c) => c.upload(key, &url, src),
            Backend::Local(l) => l.upload(key, &url, src),
        }
    }

    /// Writes a small object (sidecar JSON) in one request. With `replace` false an existing
    /// `key` is refused, as by [`Remote::upload`]; with true it is overwritten.
    pub fn put_small(&self, key: &str, bytes: &[u8], replace: bool) -> Result<(), RemoteError> {
        self.check_key(key)?;
        let url = self.url_of(key);
        match &self.backend {
            Backend::Cloud(c) => c.put_small(key, &url, bytes, replace),
            Backend::Local(l) => l.put_small(key, &url, bytes, replace),
        }
    }

    /// A blocking reader streaming `key` (nothing is buffered beyond the current chunk). A
    /// missing key is [`RemoteError::NotFound`]. Errors while reading are `io::Error`s whose
    /// message names the URL; a stream that ends short of the object's size is an error.
    pub fn reader(&self, key: &str) -> Result<Box<dyn Read + Send>, RemoteError> {
        self.check_key(key)?;
        let url = self.url_of(key);
        match &self.backend {
            Backend::Cloud(c) => c.reader(key, &url),
            Backend::Local(l) => l.reader(key, &url),
        }
    }

    /// The whole of a small object; refuses objects over [`SMALL_LIMIT`] (16 MiB).
    pub fn get_small(&self, key: &str) -> Result<Vec<u8>, RemoteError> {
        self.check_key(key)?;
        let url = self.url_of(key);
        match &self.backend {
            Backend::Cloud(c) => c.get_small(key, &url),
            Backend::Local(l) => l.get_small(key, &url),
        }
    }

    /// Deletes `key`. Deleting a key that does not exist succeeds (as it does on S3).
    pub fn delete(&self, key: &str) -> Result<(), RemoteError> {
        self.check_key(key)?;
        let url = self.url_of(key);
        match &self.backend {
            Backend::Cloud(c) => c.delete(key, &url),
            Backend::Local(l) => l.delete(key, &url),
        }
    }

    fn check_key(&self, key: &str) -> Result<(), RemoteError> {
        validate_key(key).map_err(|reason| RemoteError::BadKey {
            url: self.url.clone(),
            key: key.to_string(),
            reason,
        })
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

/// Characters allowed in a key or prefix besides ASCII letters and digits. A small set on
/// purpose: such keys need no escaping in any store's URLs, file systems or listings.
const KEY_PUNCTUATION: &str = "-_.+=@,:~";

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segments, no segment starting
/// with `.` (hidden names are the file:// temp files), not ending in `.part` (temp files), only
/// letters, digits and `-_.+=@,:~`, at most 900 bytes.
pub(crate) fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    if key.len() > 900 {
        return Err(format!("{} bytes long; at most 900 are allowed", key.len()));
    }
    if key.starts_with('/') {
        return Err("starts with '/'; keys are relative to the remote's prefix".into());
    }
    if key.ends_with(".part") {
        return Err("ends in .part, which marks temp files".into());
    }
    for seg in key.split('/') {
        check_segment(seg)?;
    }
    Ok(())
}

fn check_segment(seg: &str) -> Result<(), String> {
    if seg.is_empty() {
        return Err("has an empty path segment ('//' or a trailing '/')".into());
    }
    if seg == "." || seg == ".." {
        return Err(format!("has a {seg:?} segment"));
    }
    if seg.starts_with('.') {
        return Err(format!(
            "segment {seg:?} starts with '.', reserved for temp files"
        ));
    }
    if let Some(c) = seg
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || KEY_PUNCTUATION.contains(*c)))
    {
        return Err(format!(
            "contains {c:?}; only letters, digits and {KEY_PUNCTUATION} are allowed"
        ));
    }
    Ok(())
}

/// Parses and normalises a remote URL.
fn parse_url(raw: &str) -> Result<Location, RemoteError> {
    let bad = |reason: &str| RemoteError::BadUrl {
        url: redact_userinfo(raw),
        reason: reason.to_string(),
    };
    let raw_t = raw.trim();
    let (scheme_str, rest) = raw_t
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://…, e.g. s3://bucket/prefix"))?;
    let scheme = match scheme_str.to_ascii_lowercase().as_str() {
        "s3" => Scheme::S3,
        "gs" => Scheme::Gcs,
        "az" => Scheme::Azure,
        "file" => Scheme::File,
        other => {
            return Err(bad(&format!(
                "unsupported scheme {other:?}; use s3://, gs://, az:// or file://"
            )))
        }
    };
    if rest.contains(['?', '#']) {
        return Err(bad("query strings and fragments are not supported"));
    }
    if scheme == Scheme::File {
        let u = url::Url::parse(raw_t).map_err(|e| bad(&e.to_string()))?;
        let dir = u
            .to_file_path()
            .map_err(|()| bad("expected an absolute path: file:///abs/dir"))?;
        let dir_str = dir
            .to_str()
            .ok_or_else(|| bad("the path is not valid UTF-8"))?
            .trim_end_matches('/')
            .to_string();
        // The url crate has already resolved '.' and '..'; '//' remains.
        if dir_str.split('/').skip(1).any(str::is_empty) {
            return Err(bad("the path has an empty segment ('//')"));
        }
        let url = format!("file://{dir_str}/");
        return Ok(Location {
            scheme,
            bucket: String::new(),
            prefix: String::new(),
            dir: std::path::PathBuf::from(if dir_str.is_empty() { "/" } else { &dir_str }),
            url,
        });
    }
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p),
        None => (rest, ""),
    };
    if bucket.contains('@') {
        return Err(bad(
            "credentials do not belong in the URL; use the environment or a profile",
        ));
    }
    if bucket.is_empty() {
        return Err(bad("no bucket name"));
    }
    if bucket.len() > 222
        || !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(bad(&format!(
            "{bucket:?} is not a bucket name (letters, digits, '-', '.', '_')"
        )));
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if !prefix.is_empty() {
        for seg in prefix.split('/') {
            check_segment(seg).map_err(|r| bad(&format!("prefix {prefix:?} {r}")))?;
        }
    }
    let url = if prefix.is_empty() {
        format!("{}://{bucket}/", scheme_str.to_ascii_lowercase())
    } else {
        format!("{}://{bucket}/{prefix}/", scheme_str.to_ascii_lowercase())
    };
    Ok(Location {
        scheme,
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        dir: std::path::PathBuf::new(),
        url,
    })
}

/// `raw` with anything between `://` and an `@` replaced, for error messages.
fn redact_userinfo(raw: &str) -> String {
    match (raw.find("://"), raw.find('@')) {
        (Some(s), Some(at)) if at > s => {
            format!("{}://<redacted>@{}", &raw[..s], &raw[at + 1..])
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_normalised() {
        let l = parse_url("s3://bucket").unwrap();
        assert_eq!(
            (l.scheme, l.bucket.as_str(), l.prefix.as_str()),
            (Scheme::S3, "bucket", "")
        );
        assert_eq!(l.url, "s3://bucket/");
        let l = parse_url("s3://bucket/").unwrap();
        assert_eq!(l.url, "s3://bucket/");
        let l = parse_url("S3://my.bucket/a/b/").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("my.bucket", "a/b"));
        assert_eq!(l.url, "s3://my.bucket/a/b/");
        let l = parse_url("gs://b/p").unwrap();
        assert_eq!((l.scheme, l.url.as_str()), (Scheme::Gcs, "gs://b/p/"));
        let l = parse_url("az://container/x").unwrap();
        assert_eq!(
            (l.scheme, l.url.as_str()),
            (Scheme::Azure, "az://container/x/")
        );
        let l = parse_url("file:///var/backups/etcd").unwrap();
        assert_eq!(l.dir, std::path::PathBuf::from("/var/backups/etcd"));
        assert_eq!(l.url, "file:///var/backups/etcd/");
        let l = parse_url("file:///var/backups/etcd/").unwrap();
        assert_eq!(l.url, "file:///var/backups/etcd/");
        let l = parse_url("file://localhost/srv").unwrap();
        assert_eq!(l.url, "file:///srv/");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_credentials() {
        for (u, want) in [
            ("bucket/prefix", "expected scheme"),
            ("http://bucket", "unsupported scheme"),
            ("s3://", "no bucket"),
            ("s3:///p", "no bucket"),
            ("s3://b//p", "empty path segment"),
            ("s3://b/../p", "\"..\" segment"),
            ("s3://b/p?x=1", "query"),
            ("s3://b/with space", "contains ' '"),
            ("s3://b:9000/p", "not a bucket name"),
            ("file://relative/dir", "absolute path"),
            ("file:///a//b", "empty segment"),
        ] {
            let e = parse_url(u).unwrap_err().to_string();
            assert!(e.contains(want), "{u}: {e}");
        }
        let e = parse_url("s3://AKIA:secret@bucket/p")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("secret") && e.contains("credentials do not belong"),
            "{e}"
        );
    }

    #[test]
    fn keys_are_validated() {
        for k in [
            "a",
            "node1/etcd-snapshot-2026-11-21_10-00-00.db",
            "node1/etcd-snapshot-2026-11-21_10-00-00.db.json",
            "a/b/c+d=e@f,g:h~i",
        ] {
            validate_key(k).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
        for (k, want) in [
            ("", "empty"),
            ("/a", "starts with '/'"),
            ("a/", "empty path segment"),
            ("a//b", "empty path segment"),
            ("a/../b", "\"..\""),
            ("./a", "\".\""),
            ("a/.hidden", "starts with '.'"),
            ("a/b.db.part", ".part"),
            ("a b", "contains ' '"),
            ("a\\b", "contains '\\\\'"),
            ("ü", "contains 'ü'"),
        ] {
            let e = validate_key(k).unwrap_err();
            assert!(e.contains(want), "{k:?}: {e}");
        }
        assert!(validate_key(&"a".repeat(901)).is_err());
    }

    #[test]
    fn url_of_joins_prefix_and_key() {
        let r = Remote::open("file:///tmp/x", &RemoteOptions::default()).unwrap();
        assert_eq!(r.url(), "file:///tmp/x/");
        assert_eq!(r.url_of("n1/f.db"), "file:///tmp/x/n1/f.db");
        assert!(matches!(
            r.delete("../etc/passwd"),
            Err(RemoteError::BadKey { .. })
        ));
    }
}
