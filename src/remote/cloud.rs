//! S3, GCS and Azure through object_store, on a runtime owned by the remote.
//!
//! Two store clients share the runtime: `store` bounds every request by the request timeout
//! (uploads go part by part, so one request is at most one part), and `stream_store`, used only
//! for streaming downloads, has no whole-request limit but the same limit on each wait for bytes
//! (a download of many GiB may take longer than any sensible request timeout; a stalled one must
//! still fail). object_store resumes a broken download with a range request for the rest, and
//! checks that the ETag did not change.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::{
    ClientConfigKey, MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};
use sha2::{Digest, Sha256};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::aws;
use super::error::{classify, Context, Op, RemoteError, Scheme, StoreFailure};
use super::{
    validate_key, Environment, Location, RemoteObject, RemoteOptions, Uploaded,
    MAX_PARTS_IN_FLIGHT, PART_SIZE, SMALL_LIMIT,
};

/// Whole-request limit of the download client: in effect none; stalls are caught by the read
/// timeout.
const STREAM_REQUEST_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) struct Cloud {
    rt: Arc<Runtime>,
    store: Arc<dyn ObjectStore>,
    stream_store: Arc<dyn ObjectStore>,
    /// Prefix inside the bucket, no leading or trailing `/`.
    prefix: String,
    /// The remote's URL (ends in `/`).
    base_url: String,
    ctx: Context,
}

/// Client settings shared by every backend: timeouts as object_store config values.
/// A zero duration is taken as "use the default": a request must never wait forever.
fn or_default(d: Duration, default: Duration) -> Duration {
    if d.is_zero() {
        default
    } else {
        d
    }
}

fn client_settings(opts: &RemoteOptions, streaming: bool) -> Vec<(ClientConfigKey, String)> {
    let defaults = RemoteOptions::default();
    let timeout = or_default(opts.timeout, defaults.timeout);
    let d = |d: Duration| humantime::format_duration(d).to_string();
    let request = if streaming {
        STREAM_REQUEST_LIMIT
    } else {
        timeout
    };
    vec![
        (ClientConfigKey::Timeout, d(request)),
        (
            ClientConfigKey::ConnectTimeout,
            d(or_default(opts.connect_timeout, defaults.connect_timeout)),
        ),
        (ClientConfigKey::ReadTimeout, d(timeout)),
    ]
}

fn retry_config(opts: &RemoteOptions) -> RetryConfig {
    RetryConfig {
        max_retries: opts.retries,
        // Bounds a request and its retries together; long enough for a few full timeouts.
        retry_timeout: Duration::from_secs(180).max(opts.timeout.saturating_mul(2)),
        ..RetryConfig::default()
    }
}

/// A checked endpoint URL: `(url without trailing '/', is http)`.
fn check_endpoint(url: &str, endpoint: &str) -> Result<(url::Url, bool), RemoteError> {
    let bad = |reason: String| RemoteError::Config {
        url: url.to_string(),
        reason,
        hint: Some("pass the endpoint as http(s)://host[:port], e.g. http://127.0.0.1:9000".into()),
    };
    let u = url::Url::parse(endpoint.trim())
        .map_err(|e| bad(format!("invalid endpoint {endpoint:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(bad(format!(
            "invalid endpoint {endpoint:?}: expected http(s)://host[:port]"
        )));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "the endpoint must not contain credentials; use the environment or a profile".into(),
        ));
    }
    let http = u.scheme() == "http";
    Ok((u, http))
}

fn endpoint_string(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

/// The two store clients of one remote (see the module doc), where requests go and where the
/// credentials come from, for messages.
struct Backend {
    store: Arc<dyn ObjectStore>,
    stream_store: Arc<dyn ObjectStore>,
    endpoint: String,
    creds: String,
}

/// A configuration error of the remote `loc`; query strings in the reason are redacted.
fn config_error(loc: &Location, reason: String, hint: Option<String>) -> RemoteError {
    RemoteError::Config {
        url: loc.url.clone(),
        reason: super::error::redact_queries(&reason),
        hint,
    }
}

fn s3_backend(
    loc: &Location,
    opts: &RemoteOptions,
    env: &Environment,
) -> Result<Backend, RemoteError> {
    let settings = aws::resolve(
        opts.endpoint.as_deref(),
        opts.region.as_deref(),
        &|k| env.get(k).map(str::to_string),
        &aws::read_optional,
    )
    .map_err(|e| {
        config_error(
            loc,
            e.to_string(),
            Some(
                "fix the AWS shared files, or unset AWS_PROFILE, or set \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .into(),
            ),
        )
    })?;
    let (store, endpoint) = s3_store(loc, opts, &settings, env, false)?;
    let (stream_store, _) = s3_store(loc, opts, &settings, env, true)?;
    Ok(Backend {
        store,
        stream_store,
        endpoint,
        creds: settings.source.to_string(),
    })
}

fn gcs_backend(
    loc: &Location,
    opts: &RemoteOptions,
    env: &Environment,
) -> Result<Backend, RemoteError> {
    let build = |streaming| -> Result<Arc<dyn ObjectStore>, RemoteError> {
        // What GoogleCloudStorageBuilder::from_env does, from `env`.
        let mut b = GoogleCloudStorageBuilder::new();
        if let Some(path) = env.get("SERVICE_ACCOUNT") {
            b = b.with_service_account_path(path);
        }
        for (k, v) in env.with_prefix("GOOGLE_") {
            if let Ok(key) = k.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        b = b
            .with_bucket_name(&loc.bucket)
            .with_retry(retry_config(opts));
        for (k, v) in client_settings(opts, streaming) {
            b = b.with_config(GoogleConfigKey::Client(k), v);
        }
        if let Some(ep) = &opts.endpoint {
            let (u, http) = check_endpoint(&loc.url, ep)?;
            b = b.with_base_url(&endpoint_string(&u));
            if http {
                b = b.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
            }
        }
        let s = b
            .build()
            .map_err(|e| config_error(loc, e.to_string(), Some(gcs_config_hint(env))))?;
        Ok(Arc::new(s))
    };
    let endpoint = gcs_endpoint(opts, env);
    let creds = gcs_creds(env);
    Ok(Backend {
        store: build(false)?,
        stream_store: build(true)?,
        endpoint,
        creds,
    })
}

fn azure_backend(
    loc: &Location,
    opts: &RemoteOptions,
    env: &Environment,
) -> Result<Backend, RemoteError> {
    // What MicrosoftAzureBuilder::from_env does, from `env`.
    let mut base = MicrosoftAzureBuilder::new();
    for (k, v) in env.with_prefix("AZURE_") {
        if let Ok(key) = k.to_ascii_lowercase().parse::<AzureConfigKey>() {
            base = base.with_config(key, v);
        }
    }
    if let Some(msi) = env.get("IDENTITY_ENDPOINT") {
        base = base.with_msi_endpoint(msi);
    }
    let ep = azure_endpoint(&loc.url, opts.endpoint.as_deref(), &base, env)?;
    let build = |streaming| -> Result<Arc<dyn ObjectStore>, RemoteError> {
        let mut b = base
            .clone()
            .with_container_name(&loc.bucket)
            .with_retry(retry_config(opts));
        for (k, v) in client_settings(opts, streaming) {
            b = b.with_config(AzureConfigKey::Client(k), v);
        }
        if let Some(e) = &ep.builder_endpoint {
            b = b.with_endpoint(e.clone());
        }
        if ep.allow_http {
            b = b.with_allow_http(true);
        }
        let s = b.build().map_err(|e| {
            config_error(
                loc,
                e.to_string(),
                Some(
                    "set AZURE_STORAGE_ACCOUNT_NAME, and AZURE_STORAGE_ACCOUNT_KEY \
                     (or a SAS token, or a service principal)"
                        .into(),
                ),
            )
        })?;
        Ok(Arc::new(s))
    };
    let creds = "the AZURE_* environment".to_string();
    Ok(Backend {
        store: build(false)?,
        stream_store: build(true)?,
        endpoint: ep.shown,
        creds,
    })
}

impl Cloud {
    pub(crate) fn open(
        loc: &Location,
        opts: &RemoteOptions,
        env: &Environment,
    ) -> Result<Cloud, RemoteError> {
        if loc.scheme != Scheme::S3 && opts.region.is_some() {
            return Err(config_error(
                loc,
                "--remote-region applies to s3:// only".into(),
                Some("drop --remote-region".into()),
            ));
        }
        let backend = match loc.scheme {
            Scheme::S3 => s3_backend(loc, opts, env)?,
            Scheme::Gcs => gcs_backend(loc, opts, env)?,
            Scheme::Azure => azure_backend(loc, opts, env)?,
            Scheme::File => {
                return Err(config_error(
                    loc,
                    "file:// is not an object store".into(),
                    None,
                ));
            }
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etcd-backup-remote")
            .enable_all()
            .build()
            .map_err(|source| RemoteError::Runtime {
                url: loc.url.clone(),
                source,
            })?;
        Ok(Cloud {
            rt: Arc::new(rt),
            store: backend.store,
            stream_store: backend.stream_store,
            prefix: loc.prefix.clone(),
            base_url: loc.url.clone(),
            ctx: Context {
                scheme: loc.scheme,
                bucket: loc.bucket.clone(),
                endpoint: backend.endpoint,
                creds: backend.creds,
                timeout: opts.timeout,
            },
        })
    }

    fn path(&self, key: &str) -> Path {
        // Keys and prefixes are validated to a character set object_store never escapes.
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    fn fail(&self, op: Op, url: &str) -> impl Fn(object_store::Error) -> RemoteError + '_ {
        let url = url.to_string();
        move |e| classify(e, op, &url, &self.ctx)
    }

    pub(crate) fn list(&self) -> Result<Vec<RemoteObject>, RemoteError> {
        let prefix = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(prefix.as_ref()).try_collect())
            .map_err(self.fail(Op::List, &self.base_url))?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            let Some(key) = m.location.as_ref().strip_prefix(&strip) else {
                continue;
            };
            if let Err(why) = validate_key(key) {
                tracing::debug!("ignoring {}{key}: {why}", self.base_url);
                continue;
            }
            out.push(RemoteObject {
                key: key.to_string(),
                size: m.size,
                last_modified: m.last_modified,
            });
        }
        Ok(out)
    }

    /// Fails with [`RemoteError::Exists`] if `path` exists.
    fn ensure_absent(&self, path: &Path, op: Op, url: &str) -> Result<(), RemoteError> {
        match self.rt.block_on(self.store.head(path)) {
            Ok(_) => Err(RemoteError::Exists {
                url: url.to_string(),
            }),
            Err(e) => match classify(e, op, url, &self.ctx) {
                RemoteError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    /// One PUT that must not replace an object. Stores configured without conditional PUT
    /// support fall back to a plain PUT; the HEAD before it has already checked.
    fn put_create(
        &self,
        path: &Path,
        payload: PutPayload,
        op: Op,
        url: &str,
    ) -> Result<(), RemoteError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .rt
            .block_on(self.store.put_opts(path, payload.clone(), opts))
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotImplemented { .. }) => self
                .rt
                .block_on(self.store.put(path, payload))
                .map(|_| ())
                .map_err(self.fail(op, url)),
            Err(e) => Err(classify(e, op, url, &self.ctx)),
        }
    }

    pub(crate) fn upload(
        &self,
        key: &str,
        url: &str,
        src: &mut dyn Read,
    ) -> Result<Uploaded, RemoteError> {
        let path = self.path(key);
        self.ensure_absent(&path, Op::Upload, url)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let first = read_part(src).map_err(|(n, source)| RemoteError::Source {
            url: url.to_string(),
            offset: n as u64,
            source,
        })?;
        hasher.update(&first);
        size += first.len() as u64;
        if first.len() < PART_SIZE {
            // Fits in one part: one PUT, no multipart upload to complete or abort.
            self.put_create(&path, PutPayload::from(first), Op::Upload, url)?;
        } else {
            let mut upload = self
                .rt
                .block_on(self.store.put_multipart(&path))
                .map_err(self.fail(Op::Upload, url))?;
            let mut inflight = VecDeque::new();
            let sent = self
                .send_parts(
                    upload.as_mut(),
                    &mut inflight,
                    first,
                    src,
                    &mut hasher,
                    &mut size,
                    url,
                )
                .and_then(|()| {
                    self.rt
                        .block_on(upload.complete())
                        .map(|_| ())
                        .map_err(self.fail(Op::Upload, url))
                });
            if let Err(e) = sent {
                for h in &inflight {
                    h.abort();
                }
                for h in inflight.drain(..) {
                    let _ = self.rt.block_on(h);
                }
                if let Err(abort) = self.rt.block_on(upload.abort()) {
                    tracing::warn!(
                        "could not abort the multipart upload of {url} ({}); its parts stay \
                         invisible but use space until a lifecycle rule \
                         (AbortIncompleteMultipartUpload) removes them",
                        super::error::redact_queries(&abort.to_string())
                    );
                }
                return Err(e);
            }
        }
        // The store's own count of what it now holds.
        let meta = self
            .rt
            .block_on(self.store.head(&path))
            .map_err(self.fail(Op::Upload, url))?;
        if meta.size != size {
            return Err(RemoteError::SizeMismatch {
                url: url.to_string(),
                stored: meta.size,
                sent: size,
            });
        }
        Ok(Uploaded {
            size,
            sha256: hasher.finalize().into(),
        })
    }

    /// Sends `first` and the rest of `src` as parts, at most [`MAX_PARTS_IN_FLIGHT`] at once,
    /// and waits for all of them.
    #[allow(clippy::too_many_arguments)]
    fn send_parts(
        &self,
        upload: &mut dyn MultipartUpload,
        inflight: &mut VecDeque<JoinHandle<object_store::Result<()>>>,
        first: Vec<u8>,
        src: &mut dyn Read,
        hasher: &mut Sha256,
        size: &mut u64,
        url: &str,
    ) -> Result<(), RemoteError> {
        let mut part = first;
        loop {
            self.reap(inflight, url, false)?;
            while inflight.len() >= MAX_PARTS_IN_FLIGHT {
                self.join_oldest(inflight, url)?;
            }
            let last = part.len() < PART_SIZE;
            let fut = upload.put_part(PutPayload::from(Bytes::from(part)));
            inflight.push_back(self.rt.spawn(fut));
            if last {
                break;
            }
            part = read_part(src).map_err(|(n, source)| RemoteError::Source {
                url: url.to_string(),
                offset: *size + n as u64,
                source,
            })?;
            if part.is_empty() {
                break;
            }
            hasher.update(&part);
            *size += part.len() as u64;
        }
        self.reap(inflight, url, true)
    }

    /// Joins finished parts (all parts when `all`), surfacing the first failure.
    fn reap(
        &self,
        inflight: &mut VecDeque<JoinHandle<object_store::Result<()>>>,
        url: &str,
        all: bool,
    ) -> Result<(), RemoteError> {
        if all {
            while !inflight.is_empty() {
                self.join_oldest(inflight, url)?;
            }
            return Ok(());
        }
        let mut i = 0;
        while i < inflight.len() {
            if inflight[i].is_finished() {
                if let Some(h) = inflight.remove(i) {
                    self.join(h, url)?;
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn join_oldest(
        &self,
        inflight: &mut VecDeque<JoinHandle<object_store::Result<()>>>,
        url: &str,
    ) -> Result<(), RemoteError> {
        match inflight.pop_front() {
            Some(h) => self.join(h, url),
            None => Ok(()),
        }
    }

    fn join(&self, h: JoinHandle<object_store::Result<()>>, url: &str) -> Result<(), RemoteError> {
        match self.rt.block_on(h) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(classify(e, Op::Upload, url, &self.ctx)),
            Err(join) => Err(RemoteError::Store {
                op: Op::Upload,
                url: url.to_string(),
                source: StoreFailure::new(format!("part upload task failed: {join}")),
            }),
        }
    }

    pub(crate) fn put_small(
        &self,
        key: &str,
        url: &str,
        bytes: &[u8],
        replace: bool,
    ) -> Result<(), RemoteError> {
        let path = self.path(key);
        let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
        if replace {
            self.rt
                .block_on(self.store.put(&path, payload))
                .map(|_| ())
                .map_err(self.fail(Op::Write, url))
        } else {
            self.ensure_absent(&path, Op::Write, url)?;
            self.put_create(&path, payload, Op::Write, url)
        }
    }

    pub(crate) fn reader(&self, key: &str, url: &str) -> Result<Box<dyn Read + Send>, RemoteError> {
        let got = self
            .rt
            .block_on(self.stream_store.get(&self.path(key)))
            .map_err(self.fail(Op::Read, url))?;
        let expected = got.meta.size;
        Ok(Box::new(CloudReader {
            rt: Arc::clone(&self.rt),
            stream: got.into_stream(),
            buf: Bytes::new(),
            url: url.to_string(),
            ctx: self.ctx.clone(),
            got: 0,
            expected,
            done: false,
        }))
    }

    pub(crate) fn get_small(&self, key: &str, url: &str) -> Result<Vec<u8>, RemoteError> {
        let got = self
            .rt
            .block_on(self.store.get(&self.path(key)))
            .map_err(self.fail(Op::Read, url))?;
        if got.meta.size > SMALL_LIMIT {
            return Err(RemoteError::TooLarge {
                url: url.to_string(),
                size: got.meta.size,
                limit: SMALL_LIMIT,
            });
        }
        let bytes = self
            .rt
            .block_on(got.bytes())
            .map_err(self.fail(Op::Read, url))?;
        Ok(bytes.to_vec())
    }

    pub(crate) fn delete(&self, key: &str, url: &str) -> Result<(), RemoteError> {
        match self.rt.block_on(self.store.delete(&self.path(key))) {
            Ok(()) => Ok(()),
            Err(e) => match classify(e, Op::Delete, url, &self.ctx) {
                RemoteError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }
}

/// Reads up to one part from `src`: full unless the source ends. On error, the bytes read into
/// this part so far and the error.
fn read_part(src: &mut dyn Read) -> Result<Vec<u8>, (usize, io::Error)> {
    let mut buf = vec![0u8; PART_SIZE];
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((filled, e)),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// A blocking reader over a download stream.
struct CloudReader {
    rt: Arc<Runtime>,
    stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    buf: Bytes,
    url: String,
    ctx: Context,
    got: u64,
    expected: u64,
    done: bool,
}

impl Read for CloudReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.buf.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rt.block_on(self.stream.next()) {
                Some(Ok(b)) => {
                    self.got += b.len() as u64;
                    self.buf = b;
                }
                Some(Err(e)) => {
                    let err = classify(e, Op::Read, &self.url, &self.ctx);
                    let kind = match err {
                        RemoteError::TimedOut { .. } => io::ErrorKind::TimedOut,
                        RemoteError::NotFound { .. } => io::ErrorKind::NotFound,
                        _ => io::ErrorKind::Other,
                    };
                    return Err(io::Error::new(kind, err));
                }
                None => {
                    self.done = true;
                    if self.got != self.expected {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            RemoteError::Truncated {
                                url: self.url.clone(),
                                got: self.got,
                                expected: self.expected,
                            },
                        ));
                    }
                }
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// The variables that name GCS credentials, in the order object_store reads them.
const GCS_CREDENTIAL_VARS: [&str; 5] = [
    "GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_PATH",
    "SERVICE_ACCOUNT",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// The hint for a GCS store that cannot be set up: which variable named the key file that
/// failed, or where to put one.
fn gcs_config_hint(env: &Environment) -> String {
    let set: Vec<String> = GCS_CREDENTIAL_VARS
        .into_iter()
        .filter_map(|k| match env.get(k) {
            // An inline key is a secret: name the variable only.
            Some(_) if k == "GOOGLE_SERVICE_ACCOUNT_KEY" => Some(k.to_string()),
            Some(v) => Some(format!("{k}={v}")),
            None => None,
        })
        .collect();
    if set.is_empty() {
        "set GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) to a service account key \
         file"
            .into()
    } else {
        format!(
            "check {}: the file must exist, be readable by this user and hold a service account \
             key (JSON), as the Cloud console downloads it",
            set.join(", ")
        )
    }
}

/// The GCS base URL requests go to, as object_store picks it: --remote-endpoint, else
/// GOOGLE_BASE_URL, else `gcs_base_url` of the service account key file, else Google's.
/// Only for messages: a key that cannot be read here fails in object_store with its own error.
fn gcs_endpoint(opts: &RemoteOptions, env: &Environment) -> String {
    if let Some(ep) = &opts.endpoint {
        return ep.trim().trim_end_matches('/').to_string();
    }
    if let Some(u) = env.get("GOOGLE_BASE_URL") {
        return u.trim().trim_end_matches('/').to_string();
    }
    let key = [
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "SERVICE_ACCOUNT",
    ]
    .into_iter()
    .find_map(|k| env.get(k))
    .and_then(|path| std::fs::read(path).ok())
    .or_else(|| {
        env.get("GOOGLE_SERVICE_ACCOUNT_KEY")
            .map(|k| k.as_bytes().to_vec())
    });
    key.and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.get("gcs_base_url")?.as_str().map(str::to_string))
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "https://storage.googleapis.com".into())
}

fn gcs_creds(env: &Environment) -> String {
    let set: Vec<&str> = GCS_CREDENTIAL_VARS
        .into_iter()
        .filter(|k| env.get(k).is_some())
        .collect();
    if set.is_empty() {
        "the metadata server (no GOOGLE_APPLICATION_CREDENTIALS)".into()
    } else {
        format!("the environment ({})", set.join(", "))
    }
}

/// Builds an S3 client. Returns the store and the endpoint as the operator knows it.
fn s3_store(
    loc: &Location,
    opts: &RemoteOptions,
    settings: &aws::S3Settings,
    env: &Environment,
    streaming: bool,
) -> Result<(Arc<dyn ObjectStore>, String), RemoteError> {
    // What AmazonS3Builder::from_env does, minus the variables resolved in aws.rs (and minus
    // the credential variables when a profile supplies the keys).
    let mut b = AmazonS3Builder::new();
    for (k, v) in env.with_prefix("AWS_") {
        if aws::handled_here(k) || (settings.profile_keys.is_some() && aws::is_credential_var(k)) {
            continue;
        }
        if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            b = b.with_config(key, v);
        }
    }
    b = b
        .with_bucket_name(&loc.bucket)
        .with_region(&settings.region)
        .with_retry(retry_config(opts));
    if let Some(keys) = &settings.profile_keys {
        b = b
            .with_access_key_id(&keys.access_key_id)
            .with_secret_access_key(&keys.secret_access_key);
        if let Some(t) = &keys.session_token {
            b = b.with_token(t);
        }
    }
    for (k, v) in client_settings(opts, streaming) {
        b = b.with_config(AmazonS3ConfigKey::Client(k), v);
    }
    let ep = s3_endpoint(
        &loc.url,
        &loc.bucket,
        &settings.region,
        settings.endpoint.as_deref(),
        opts.path_style,
    )?;
    if let Some(e) = &ep.builder_endpoint {
        b = b.with_endpoint(e).with_allow_http(ep.allow_http);
    }
    b = b.with_virtual_hosted_style_request(ep.virtual_hosted);
    let shown = ep.shown;
    let store = b.build().map_err(|e| RemoteError::Config {
        url: loc.url.clone(),
        reason: super::error::redact_queries(&e.to_string()),
        hint: Some(
            "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (to use a profile \
             or the instance's role)"
                .into(),
        ),
    })?;
    Ok((Arc::new(store), shown))
}

/// Where the Azure client sends its requests.
#[derive(Debug, PartialEq, Eq)]
struct AzureEndpoint {
    /// What object_store gets as its endpoint (`None`: its own choice, from the account or the
    /// emulator settings).
    builder_endpoint: Option<String>,
    allow_http: bool,
    /// The endpoint as the operator gave or knows it, for messages.
    shown: String,
}

/// object_store's reading of a boolean setting.
fn truthy(v: Option<String>) -> bool {
    matches!(
        v.map(|v| v.to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "on" | "yes" | "y")
    )
}

/// The endpoint of an Azure remote: `--remote-endpoint`, else `AZURE_STORAGE_ENDPOINT` (or its
/// aliases), else the account's public endpoint; with `AZURE_STORAGE_USE_EMULATOR`, the
/// emulator at `AZURITE_BLOB_STORAGE_URL` (object_store ignores any endpoint then, so one given
/// too is refused rather than silently unused). An `http://` endpoint is allowed without
/// `AZURE_ALLOW_HTTP`: the operator typed it, as for S3.
fn azure_endpoint(
    url: &str,
    flag: Option<&str>,
    b: &MicrosoftAzureBuilder,
    env: &Environment,
) -> Result<AzureEndpoint, RemoteError> {
    let account = b.get_config_value(&AzureConfigKey::AccountName);
    let env_endpoint = b.get_config_value(&AzureConfigKey::Endpoint);
    if truthy(b.get_config_value(&AzureConfigKey::UseEmulator)) {
        if flag.is_some() || env_endpoint.is_some() {
            return Err(RemoteError::Config {
                url: url.to_string(),
                reason: "AZURE_STORAGE_USE_EMULATOR sends every request to \
                         AZURITE_BLOB_STORAGE_URL; --remote-endpoint and AZURE_STORAGE_ENDPOINT \
                         would be ignored"
                    .into(),
                hint: Some(
                    "set AZURITE_BLOB_STORAGE_URL=http://host:port (the emulator's blob service), \
                     or unset AZURE_STORAGE_USE_EMULATOR and pass the account's endpoint, e.g. \
                     --remote-endpoint http://host:port/devstoreaccount1, with \
                     AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY"
                        .into(),
                ),
            });
        }
        // object_store reads this variable from the process environment itself.
        let service = env
            .get("AZURITE_BLOB_STORAGE_URL")
            .unwrap_or("http://127.0.0.1:10000");
        let account = account.unwrap_or_else(|| "devstoreaccount1".into());
        return Ok(AzureEndpoint {
            builder_endpoint: None,
            allow_http: true,
            shown: format!("{}/{account}", service.trim_end_matches('/')),
        });
    }
    match flag.map(str::to_string).or(env_endpoint) {
        Some(ep) => {
            let (u, http) = check_endpoint(url, &ep)?;
            let e = endpoint_string(&u);
            Ok(AzureEndpoint {
                builder_endpoint: Some(e.clone()),
                allow_http: http,
                shown: e,
            })
        }
        None => {
            let account = account.unwrap_or_else(|| "<account>".into());
            let domain = if truthy(b.get_config_value(&AzureConfigKey::UseFabricEndpoint)) {
                "blob.fabric.microsoft.com"
            } else {
                "blob.core.windows.net"
            };
            Ok(AzureEndpoint {
                builder_endpoint: None,
                allow_http: false,
                shown: format!("https://{account}.{domain}"),
            })
        }
    }
}

/// How the S3 client addresses the bucket.
#[derive(Debug, PartialEq, Eq)]
struct S3Endpoint {
    /// What object_store gets as its endpoint (`None`: AWS, from the region).
    builder_endpoint: Option<String>,
    allow_http: bool,
    virtual_hosted: bool,
    /// The endpoint as the operator gave or knows it, for messages.
    shown: String,
}

/// Path style by default with an endpoint (S3-compatible stores rarely have wildcard DNS) and
/// for bucket names with dots (they break TLS for `*.s3.amazonaws.com`, so AWS clients do the
/// same); virtual-hosted otherwise.
fn s3_endpoint(
    url: &str,
    bucket: &str,
    region: &str,
    endpoint: Option<&str>,
    path_style: Option<bool>,
) -> Result<S3Endpoint, RemoteError> {
    let path_style = path_style.unwrap_or(endpoint.is_some() || bucket.contains('.'));
    match endpoint {
        Some(ep) => {
            let (mut u, http) = check_endpoint(url, ep)?;
            let shown = endpoint_string(&u);
            if !path_style {
                // object_store expects a virtual-hosted endpoint to name the bucket already.
                let host = format!("{bucket}.{}", u.host_str().unwrap_or_default());
                u.set_host(Some(&host)).map_err(|e| RemoteError::Config {
                    url: url.to_string(),
                    reason: format!("cannot put the bucket into endpoint {shown}: {e}"),
                    hint: Some("use path-style requests with this endpoint".into()),
                })?;
            }
            Ok(S3Endpoint {
                builder_endpoint: Some(endpoint_string(&u)),
                allow_http: http,
                virtual_hosted: !path_style,
                shown,
            })
        }
        None => Ok(S3Endpoint {
            builder_endpoint: None,
            allow_http: false,
            virtual_hosted: !path_style,
            shown: if path_style {
                format!("https://s3.{region}.amazonaws.com")
            } else {
                format!("https://{bucket}.s3.{region}.amazonaws.com")
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{Remote, RemoteOptions};

    fn ep(
        bucket: &str,
        endpoint: Option<&str>,
        path_style: Option<bool>,
    ) -> Result<S3Endpoint, RemoteError> {
        s3_endpoint("s3://x/", bucket, "eu-west-1", endpoint, path_style)
    }

    fn az(flag: Option<&str>, vars: &[(&str, &str)]) -> Result<AzureEndpoint, RemoteError> {
        let mut env = Environment::default();
        for (k, v) in vars {
            env = env.with(k, v);
        }
        let mut b = MicrosoftAzureBuilder::new();
        for (k, v) in env.with_prefix("AZURE_") {
            if let Ok(key) = k.to_ascii_lowercase().parse::<AzureConfigKey>() {
                b = b.with_config(key, v);
            }
        }
        azure_endpoint("az://c/", flag, &b, &env)
    }

    #[test]
    fn azure_endpoints() {
        let acct = ("AZURE_STORAGE_ACCOUNT_NAME", "acct");
        // The account's public endpoint; AZURE_STORAGE_ACCOUNT is not object_store's.
        assert_eq!(
            az(None, &[acct, ("AZURE_STORAGE_ACCOUNT", "other")]).unwrap(),
            AzureEndpoint {
                builder_endpoint: None,
                allow_http: false,
                shown: "https://acct.blob.core.windows.net".into(),
            }
        );
        assert_eq!(
            az(None, &[acct, ("AZURE_USE_FABRIC_ENDPOINT", "true")])
                .unwrap()
                .shown,
            "https://acct.blob.fabric.microsoft.com"
        );
        // The flag, else AZURE_STORAGE_ENDPOINT (or AZURE_ENDPOINT); http allowed as typed.
        let custom = AzureEndpoint {
            builder_endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            allow_http: true,
            shown: "http://127.0.0.1:10000/devstoreaccount1".into(),
        };
        assert_eq!(
            az(Some("http://127.0.0.1:10000/devstoreaccount1/"), &[acct]).unwrap(),
            custom
        );
        for var in ["AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT"] {
            assert_eq!(
                az(
                    None,
                    &[acct, (var, "http://127.0.0.1:10000/devstoreaccount1")]
                )
                .unwrap(),
                custom
            );
        }
        let e = az(
            Some("https://blob.azs.example/"),
            &[acct, ("AZURE_STORAGE_ENDPOINT", "http://x:1")],
        )
        .unwrap();
        assert_eq!(e.shown, "https://blob.azs.example");
        assert!(!e.allow_http);
        assert!(az(None, &[("AZURE_STORAGE_ENDPOINT", "ftp://x")]).is_err());
        // The emulator: AZURITE_BLOB_STORAGE_URL and the account in the path.
        let emu = ("AZURE_STORAGE_USE_EMULATOR", "true");
        assert_eq!(
            az(None, &[emu]).unwrap(),
            AzureEndpoint {
                builder_endpoint: None,
                allow_http: true,
                shown: "http://127.0.0.1:10000/devstoreaccount1".into(),
            }
        );
        assert_eq!(
            az(
                None,
                &[
                    ("AZURE_STORAGE_USE_EMULATOR", "1"),
                    ("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:4321/"),
                ]
            )
            .unwrap()
            .shown,
            "http://127.0.0.1:4321/devstoreaccount1"
        );
        assert!(
            !az(None, &[("AZURE_STORAGE_USE_EMULATOR", "false"), acct])
                .unwrap()
                .allow_http
        );
        // An endpoint the emulator setting would ignore is refused, naming both.
        for (flag, vars) in [
            (Some("http://127.0.0.1:1/devstoreaccount1"), vec![emu]),
            (
                None,
                vec![emu, ("AZURE_STORAGE_ENDPOINT", "http://127.0.0.1:1/a")],
            ),
        ] {
            let e = az(flag, &vars).unwrap_err();
            assert!(matches!(e, RemoteError::Config { .. }), "{e:?}");
            assert!(e.to_string().contains("AZURE_STORAGE_USE_EMULATOR"), "{e}");
            assert!(e.hint().unwrap().contains("AZURITE_BLOB_STORAGE_URL"));
        }
    }

    #[test]
    fn s3_addressing() {
        assert_eq!(
            ep("b", Some("http://127.0.0.1:8333/"), None).unwrap(),
            S3Endpoint {
                builder_endpoint: Some("http://127.0.0.1:8333".into()),
                allow_http: true,
                virtual_hosted: false,
                shown: "http://127.0.0.1:8333".into(),
            }
        );
        assert_eq!(
            ep("b", Some("https://minio.example:9000"), Some(false)).unwrap(),
            S3Endpoint {
                builder_endpoint: Some("https://b.minio.example:9000".into()),
                allow_http: false,
                virtual_hosted: true,
                shown: "https://minio.example:9000".into(),
            }
        );
        let aws = ep("b", None, None).unwrap();
        assert!(aws.virtual_hosted && aws.builder_endpoint.is_none());
        assert_eq!(aws.shown, "https://b.s3.eu-west-1.amazonaws.com");
        let dotted = ep("my.bucket", None, None).unwrap();
        assert!(!dotted.virtual_hosted);
        assert_eq!(dotted.shown, "https://s3.eu-west-1.amazonaws.com");
        assert!(!ep("b", None, Some(true)).unwrap().virtual_hosted);
    }

    #[test]
    fn bad_endpoints_are_refused() {
        for bad in [
            "ftp://h",
            "127.0.0.1:9000",
            "http://user:pw@h:1",
            "not a url",
        ] {
            let e = ep("b", Some(bad), None).unwrap_err();
            assert!(matches!(e, RemoteError::Config { .. }), "{bad}: {e:?}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }

    #[test]
    fn gcs_endpoint_in_messages_is_where_requests_go() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        std::fs::write(
            &key,
            r#"{"client_email":"a@b","private_key":"","private_key_id":"","gcs_base_url":"http://127.0.0.1:4443/","disable_oauth":true}"#,
        )
        .unwrap();
        let key = key.to_str().unwrap();
        let opts = RemoteOptions::default();
        let none = Environment::default();
        assert_eq!(gcs_endpoint(&opts, &none), "https://storage.googleapis.com");
        let from_file = Environment::default().with("GOOGLE_SERVICE_ACCOUNT", key);
        assert_eq!(gcs_endpoint(&opts, &from_file), "http://127.0.0.1:4443");
        let from_var = from_file.clone().with("GOOGLE_BASE_URL", "http://h:1/");
        assert_eq!(gcs_endpoint(&opts, &from_var), "http://h:1");
        let flag = RemoteOptions {
            endpoint: Some("http://flag:2".into()),
            ..RemoteOptions::default()
        };
        assert_eq!(gcs_endpoint(&flag, &from_var), "http://flag:2");
        // A missing key file: the default here, object_store's own error when opening.
        let missing = Environment::default().with("GOOGLE_SERVICE_ACCOUNT", "/nonexistent/k.json");
        assert_eq!(
            gcs_endpoint(&opts, &missing),
            "https://storage.googleapis.com"
        );
        let e = Remote::open_in("gs://b/p", &opts, &missing).unwrap_err();
        assert!(matches!(e, RemoteError::Config { .. }), "{e:?}");
        assert!(e.to_string().contains("/nonexistent/k.json"), "{e}");
        assert!(
            e.hint()
                .unwrap()
                .contains("GOOGLE_SERVICE_ACCOUNT=/nonexistent/k.json"),
            "{e:?}"
        );
        // An inline key is never shown.
        let inline = Environment::default().with("GOOGLE_SERVICE_ACCOUNT_KEY", "{not json");
        let e = Remote::open_in("gs://b/p", &opts, &inline).unwrap_err();
        let hint = e.hint().unwrap();
        assert!(hint.contains("GOOGLE_SERVICE_ACCOUNT_KEY"), "{hint}");
        assert!(!hint.contains("not json"), "{hint}");
    }

    #[test]
    fn remote_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Remote>();
        check::<RemoteError>();
    }

    #[test]
    fn open_checks_configuration_without_network() {
        let opts = RemoteOptions::default();
        // Half the static keys.
        let env = Environment::default().with("AWS_ACCESS_KEY_ID", "AKIA1");
        let e = Remote::open_in("s3://b/p", &opts, &env).unwrap_err();
        assert!(matches!(e, RemoteError::Config { .. }), "{e:?}");
        assert!(e.hint().unwrap().contains("AWS_SECRET_ACCESS_KEY"));
        // A named profile that does not exist.
        let env = Environment::default()
            .with("AWS_PROFILE", "nope")
            .with("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds")
            .with("AWS_CONFIG_FILE", "/nonexistent/config");
        let e = Remote::open_in("s3://b/p", &opts, &env).unwrap_err();
        assert!(e.to_string().contains("AWS_PROFILE=nope"), "{e}");
        // Azure needs an account.
        let e = Remote::open_in("az://container/p", &opts, &Environment::default()).unwrap_err();
        assert!(matches!(e, RemoteError::Config { .. }), "{e:?}");
        assert!(e.hint().unwrap().contains("AZURE_STORAGE_ACCOUNT_NAME"));
        let env = Environment::default()
            .with("AZURE_STORAGE_ACCOUNT_NAME", "acct")
            .with("AZURE_STORAGE_ACCOUNT_KEY", "a2V5");
        let r = Remote::open_in("az://container/p", &opts, &env).unwrap();
        assert_eq!(r.url_of("k"), "az://container/p/k");
        // GCS opens (credentials are fetched on the first request).
        let r = Remote::open_in("gs://bucket", &opts, &Environment::default()).unwrap();
        assert_eq!(r.url(), "gs://bucket/");
        // Region is for S3 only.
        let opts = RemoteOptions {
            region: Some("eu-west-1".into()),
            ..RemoteOptions::default()
        };
        assert!(Remote::open_in("gs://bucket", &opts, &Environment::default()).is_err());
    }
}
