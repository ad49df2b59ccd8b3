//! Talking to etcd: connect over (m)TLS, member status, alarms, and the snapshot stream.
//!
//! etcd-client and tokio stay inside this module: [`Session`] owns a current-thread runtime and
//! offers blocking calls, each bounded by the run's deadline and interruptible by SIGINT/SIGTERM.
//!
//! [`schema`] is etcd's on-disk schema, read from a backend (bbolt) file with no etcd running:
//! the numbers `etcdutl snapshot status` prints and the schema checks `verify` makes.

pub mod hashkv;
pub(crate) mod probe;
pub mod schema;
pub(crate) mod stream;

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use etcd_client::{AlarmAction, AlarmType, Client, ConnectOptions};
use tokio::runtime::Runtime;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

pub use stream::{Received, StreamError};

/// HTTP/2 flow-control windows we advertise. Larger than the 64 KiB default so that etcd can keep
/// streaming 32 KiB chunks without waiting for window updates.
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;

/// Paths of the client's TLS material.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How to connect and how long to wait.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    pub tls: TlsFiles,
    /// TCP + TLS + HTTP/2 handshake.
    pub dial_timeout: Duration,
    /// Longest wait for any answer: a unary reply or the next snapshot message.
    pub stall_timeout: Duration,
}

/// What went wrong talking to etcd. Every variant names the endpoint or the file.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("cannot read {what} {path}")]
    ReadTls {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path} does not hold a PEM {expected}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("the client certificate {cert} and the client key {key} do not belong together")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error(
        "--endpoints mixes TLS ({}) and plaintext ({}) endpoints",
        https.join(","),
        http.join(",")
    )]
    MixedSchemes {
        https: Vec<String>,
        http: Vec<String>,
    },
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot connect to {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("cannot connect to {endpoint}: no answer within {after:?} (--dial-timeout)")]
    ConnectTimeout { endpoint: String, after: Duration },
    #[error("{what} on {endpoint} failed")]
    Rpc {
        endpoint: String,
        what: &'static str,
        #[source]
        source: CallError,
    },
    #[error("{what} on {endpoint}: no answer within {after:?} (--stall-timeout)")]
    Stalled {
        endpoint: String,
        what: &'static str,
        after: Duration,
    },
    #[error("snapshot stream from {endpoint} broke after {received} of {total} bytes")]
    StreamBroken {
        endpoint: String,
        received: u64,
        total: u64,
        #[source]
        source: CallError,
    },
    #[error("snapshot stream from {endpoint} is not valid")]
    Protocol {
        endpoint: String,
        #[source]
        source: StreamError,
    },
    #[error("cannot write the snapshot")]
    Sink(#[source] std::io::Error),
    #[error("whole run exceeded {after:?} (--timeout)")]
    Deadline { after: Duration },
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl EtcdError {
    /// The error on one line, for a report of several members, without the transport's
    /// repetitions ("tcp connect error: tcp connect error: …").
    pub(crate) fn one_line(self) -> String {
        let full = format!("{:#}", anyhow::Error::new(self));
        let mut parts: Vec<&str> = Vec::new();
        for p in full.split(": ") {
            if parts.last() != Some(&p) {
                parts.push(p);
            }
        }
        parts.join(": ")
    }

    /// A signal or the run's deadline: it ends the whole run, not one member's answer.
    pub(crate) fn ends_run(&self) -> bool {
        matches!(self, EtcdError::Interrupted(_) | EtcdError::Deadline { .. })
    }
}

/// An etcd-client error, shown without the library's Debug text: a gRPC status reads
/// `CODE: message`, and what broke underneath (the transport's errors) is its source.
#[derive(Debug)]
pub struct CallError(pub etcd_client::Error);

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            etcd_client::Error::GRpcStatus(s) => {
                write!(f, "{}: {}", s.code().description(), s.message())
            }
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            etcd_client::Error::GRpcStatus(s) => std::error::Error::source(s),
            other => std::error::Error::source(other),
        }
    }
}

impl From<etcd_client::Error> for CallError {
    fn from(e: etcd_client::Error) -> Self {
        CallError(e)
    }
}

/// Refuses a list that mixes `https://` and `http://` endpoints: the run must never fall back
/// from TLS to plaintext when the TLS endpoints fail. Returns the plaintext endpoints (to warn
/// about) of a list that is all `http://`.
pub(crate) fn check_schemes(endpoints: &[String]) -> Result<Vec<String>, EtcdError> {
    let (https, http): (Vec<String>, Vec<String>) = endpoints
        .iter()
        .cloned()
        .partition(|e| e.starts_with("https://"));
    if !https.is_empty() && !http.is_empty() {
        return Err(EtcdError::MixedSchemes { https, http });
    }
    Ok(http)
}

/// One member's answer to `endpoint status`.
#[derive(Debug, Clone)]
pub struct MemberStatus {
    pub endpoint: String,
    pub member_id: u64,
    pub cluster_id: u64,
    pub revision: i64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub leader: u64,
    pub version: String,
    pub db_size: i64,
    /// Bytes of the db in use (`dbSizeInUse`, etcd 3.4+): the rest is free pages a defragment
    /// would give back.
    pub db_size_in_use: i64,
    /// The quota this member enforces (`dbSizeQuota`): etcd 3.6+ only, 0 before.
    pub db_size_quota: i64,
    pub raft_applied_index: u64,
    pub is_learner: bool,
    pub errors: Vec<String>,
}

/// One entry of `member list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberInfo {
    pub id: u64,
    /// Empty while a member has been added but has not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

fn member_info(m: &etcd_client::Member) -> MemberInfo {
    MemberInfo {
        id: m.id(),
        name: m.name().to_string(),
        peer_urls: m.peer_urls().to_vec(),
        client_urls: m.client_urls().to_vec(),
        is_learner: m.is_learner(),
    }
}

/// A member's `HashKV` answer: the hash of its key space up to `revision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvHash {
    /// The revision the hash was asked at.
    pub revision: i64,
    /// The member's compacted revision when it hashed; hashes agree only between equal ones.
    pub compact_revision: i64,
    pub hash: u32,
    /// The member's current revision when it answered.
    pub current_revision: i64,
}

/// An active alarm: which member raised which alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub member_id: u64,
    pub kind: String,
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on member {:x}", self.kind, self.member_id)
    }
}

/// A connection to one endpoint, with its own runtime.
pub(crate) struct Session {
    rt: Runtime,
    endpoint: String,
    client: Client,
    config: ConnectConfig,
    deadline: Instant,
    run_timeout: Duration,
    sigint: Signal,
    sigterm: Signal,
}

/// Reads the TLS files once; a missing or wrong file is reported before any network traffic.
pub(crate) fn load_tls(files: &TlsFiles) -> Result<ClientTlsConfig, EtcdError> {
    let read = |what, path: &Path, expected, marker: &str| {
        let pem = std::fs::read(path).map_err(|source| EtcdError::ReadTls {
            what,
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8_lossy(&pem);
        if !(text.contains("-----BEGIN ") && text.contains(marker)) {
            return Err(EtcdError::BadPem {
                what,
                path: path.to_path_buf(),
                expected,
            });
        }
        Ok(pem)
    };
    let ca = read(
        "CA certificate",
        &files.cacert,
        "certificate",
        "CERTIFICATE-----",
    )?;
    let cert = read(
        "client certificate",
        &files.cert,
        "certificate",
        "CERTIFICATE-----",
    )?;
    let key = read("client key", &files.key, "private key", "PRIVATE KEY-----")?;
    if let Err((
        tokio_rustls::rustls::Error::InconsistentKeys(
            tokio_rustls::rustls::InconsistentKeys::KeyMismatch,
        ),
        _,
    )) = probe::client_config(files, &[])
    {
        return Err(EtcdError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
        });
    }
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key)))
}

/// Normalises an endpoint the way etcdctl accepts it: `https://h:p`, `http://h:p` or bare `h:p`
/// (taken as https, since we always have TLS material).
pub(crate) fn normalize_endpoint(raw: &str) -> Result<String, EtcdError> {
    let bad = |reason: &str| EtcdError::BadEndpoint {
        endpoint: raw.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = raw.trim().trim_end_matches('/');
    let url = if trimmed.starts_with("https://") || trimmed.starts_with("http://") {
        trimmed.to_string()
    } else if trimmed.contains("://") {
        return Err(bad("only http:// and https:// endpoints are supported"));
    } else {
        format!("https://{trimmed}")
    };
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .map_err(|e: tonic::codegen::http::uri::InvalidUri| bad(&e.to_string()))?;
    if uri.host().is_none_or(str::is_empty) || uri.port_u16().is_none() {
        return Err(bad(
            "expected scheme://host:port, e.g. https://127.0.0.1:2379",
        ));
    }
    Ok(url)
}

impl Session {
    /// Connects to `endpoint` (already normalised). `deadline` bounds every later call.
    pub(crate) fn connect(
        endpoint: &str,
        tls: Option<&ClientTlsConfig>,
        config: &ConnectConfig,
        run_timeout: Duration,
        deadline: std::time::Instant,
    ) -> Result<Session, EtcdError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(EtcdError::Runtime)?;
        let deadline = Instant::from_std(deadline);
        let (sigint, sigterm) = rt
            .block_on(async {
                Ok::<_, std::io::Error>((
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                ))
            })
            .map_err(EtcdError::Runtime)?;
        let mut ep = Endpoint::from_shared(endpoint.to_string())
            .map_err(|e| EtcdError::BadEndpoint {
                endpoint: endpoint.to_string(),
                reason: e.to_string(),
            })?
            .connect_timeout(config.dial_timeout)
            .tcp_nodelay(true)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(config.stall_timeout);
        if endpoint.starts_with("https://") {
            let tls = tls.cloned().unwrap_or_default();
            ep = ep.tls_config(tls).map_err(|source| EtcdError::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?;
        }
        let dial = config.dial_timeout;
        let client = rt.block_on(async {
            let channel = match tokio::time::timeout(dial, ep.connect()).await {
                Err(_) => {
                    return Err(EtcdError::ConnectTimeout {
                        endpoint: endpoint.to_string(),
                        after: dial,
                    })
                }
                Ok(Err(source)) => {
                    return Err(EtcdError::Connect {
                        endpoint: endpoint.to_string(),
                        source,
                    })
                }
                Ok(Ok(c)) => c,
            };
            Client::from_channel(
                etcd_client::Channel::Tonic(channel),
                Some(ConnectOptions::new()),
            )
            .await
            .map_err(|source| EtcdError::Rpc {
                endpoint: endpoint.to_string(),
                what: "client setup",
                source: source.into(),
            })
        })?;
        Ok(Session {
            rt,
            endpoint: endpoint.to_string(),
            client,
            config: config.clone(),
            deadline,
            run_timeout,
            sigint,
            sigterm,
        })
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs a unary call with the stall timeout, the run deadline and signals applied.
    fn unary<T, F>(&mut self, what: &'static str, fut: F) -> Result<T, EtcdError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let limits = self.limits();
        let endpoint = self.endpoint.clone();
        let (sigint, sigterm) = (&mut self.sigint, &mut self.sigterm);
        self.rt.block_on(async move {
            match guarded(fut, &limits, sigint, sigterm).await {
                Err(cut) => Err(cut.into_error(&limits, endpoint, what)),
                Ok(Err(source)) => Err(EtcdError::Rpc {
                    endpoint,
                    what,
                    source: source.into(),
                }),
                Ok(Ok(v)) => Ok(v),
            }
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            stall: self.config.stall_timeout,
            deadline: self.deadline,
            run_timeout: self.run_timeout,
        }
    }

    /// `endpoint status` of the member behind this endpoint.
    pub(crate) fn status(&mut self) -> Result<MemberStatus, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("endpoint status", async move { client.status().await })?;
        let h = r.header();
        Ok(MemberStatus {
            endpoint: self.endpoint.clone(),
            member_id: h.map_or(0, |h| h.member_id()),
            cluster_id: h.map_or(0, |h| h.cluster_id()),
            revision: h.map_or(0, |h| h.revision()),
            raft_term: r.raft_term(),
            raft_index: r.raft_index(),
            leader: r.leader(),
            version: r.version().to_string(),
            db_size: r.db_size(),
            db_size_in_use: r.raft_used_db_size(),
            db_size_quota: r.db_size_quota(),
            raft_applied_index: r.raft_applied_index(),
            is_learner: r.is_learner(),
            errors: r.errors().to_vec(),
        })
    }

    /// One page of a range read: keys in [`key`, `range_end`) at `revision` (0: the newest), at
    /// most `limit`: the header's revision, the keys, and whether more follow.
    pub(crate) fn range_page(
        &mut self,
        key: Vec<u8>,
        range_end: Vec<u8>,
        revision: i64,
        limit: i64,
    ) -> Result<(i64, Vec<etcd_client::KeyValue>, bool), EtcdError> {
        let mut client = self.client.clone();
        let opts = etcd_client::GetOptions::new()
            .with_range(range_end)
            .with_revision(revision)
            .with_limit(limit);
        let mut r = self.unary("range", async move { client.get(key, Some(opts)).await })?;
        let rev = r.header().map_or(0, |h| h.revision());
        let more = r.more();
        Ok((rev, r.take_kvs(), more))
    }

    /// Active alarms in the whole cluster.
    pub(crate) fn alarms(&mut self) -> Result<Vec<Alarm>, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("alarm list", async move {
            client.alarm(AlarmAction::Get, AlarmType::None, None).await
        })?;
        Ok(r.alarms()
            .iter()
            .map(|a| Alarm {
                member_id: a.member_id(),
                kind: match a.alarm() {
                    AlarmType::Nospace => "NOSPACE".to_string(),
                    AlarmType::Corrupt => "CORRUPT".to_string(),
                    other => format!("{other:?}").to_uppercase(),
                },
            })
            .collect())
    }

    /// Name of the member with `id`, from `member list` (empty if it has not started yet).
    pub(crate) fn member_name(&mut self, id: u64) -> Result<Option<String>, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("member list", async move { client.member_list().await })?;
        Ok(r.members()
            .iter()
            .find(|m| m.id() == id)
            .map(|m| m.name().to_string()))
    }

    /// `member list`, in full, as this member knows it (not linearized: it answers without a
    /// quorum, which is when it is needed most).
    pub(crate) fn member_list(&mut self) -> Result<Vec<MemberInfo>, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("member list", async move { client.member_list().await })?;
        Ok(r.members().iter().map(member_info).collect())
    }

    /// `member add` of `peer_urls`, as a learner when asked: the new member's ID and the
    /// member list as it is with it.
    pub(crate) fn member_add(
        &mut self,
        peer_urls: &[String],
        learner: bool,
    ) -> Result<(u64, Vec<MemberInfo>), EtcdError> {
        let mut client = self.client.clone();
        let urls = peer_urls.to_vec();
        let options = if learner {
            etcd_client::MemberAddOptions::new().with_is_learner()
        } else {
            etcd_client::MemberAddOptions::new()
        };
        let r = self.unary("member add", async move {
            client.member_add(urls, Some(options)).await
        })?;
        let id = r.member().map_or(0, |m| m.id());
        Ok((id, r.member_list().iter().map(member_info).collect()))
    }

    /// `member remove` of `id`.
    pub(crate) fn member_remove(&mut self, id: u64) -> Result<(), EtcdError> {
        let mut client = self.client.clone();
        self.unary(
            "member remove",
            async move { client.member_remove(id).await },
        )?;
        Ok(())
    }

    /// `member promote` of the learner `id` (refused by etcd until it has caught up).
    pub(crate) fn member_promote(&mut self, id: u64) -> Result<(), EtcdError> {
        let mut client = self.client.clone();
        self.unary(
            "member promote",
            async move { client.member_promote(id).await },
        )?;
        Ok(())
    }

    /// `HashKV` at `revision`: etcd hashes every key revision up to it (what compaction kept).
    pub(crate) fn hash_kv(&mut self, revision: i64) -> Result<KvHash, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("hash kv", async move { client.hash_kv(revision).await })?;
        Ok(KvHash {
            revision,
            compact_revision: r.compact_version(),
            hash: r.hash(),
            current_revision: r.header().map_or(0, |h| h.revision()),
        })
    }

    /// How many keys the member holds (`get --prefix "" --count-only`).
    pub(crate) fn count_keys(&mut self) -> Result<i64, EtcdError> {
        let mut client = self.client.clone();
        let options = etcd_client::GetOptions::new()
            .with_all_keys()
            .with_count_only();
        let r = self.unary("count keys", async move {
            client.get(vec![0u8], Some(options)).await
        })?;
        Ok(r.count())
    }

    /// `member list`: (name, sorted peer URLs) of every member.
    pub(crate) fn members(&mut self) -> Result<Vec<(String, Vec<String>)>, EtcdError> {
        let mut client = self.client.clone();
        let r = self.unary("member list", async move { client.member_list().await })?;
        Ok(r.members()
            .iter()
            .map(|m| {
                let mut urls = m.peer_urls().to_vec();
                urls.sort();
                (m.name().to_string(), urls)
            })
            .collect())
    }

    /// Streams a snapshot into `out`, checking the protocol and the digest. `progress` is called
    /// with (bytes received, total) after each message.
    pub(crate) fn snapshot(
        &mut self,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Received, EtcdError> {
        let limits = self.limits();
        let endpoint = self.endpoint.clone();
        let mut client = self.client.clone();
        let (sigint, sigterm) = (&mut self.sigint, &mut self.sigterm);
        self.rt.block_on(async move {
            let mut stream = match guarded(client.snapshot(), &limits, sigint, sigterm).await {
                Err(cut) => return Err(cut.into_error(&limits, endpoint, "snapshot")),
                Ok(Err(source)) => {
                    return Err(EtcdError::Rpc {
                        endpoint,
                        what: "snapshot",
                        source: source.into(),
                    })
                }
                Ok(Ok(s)) => s,
            };
            let mut receiver = stream::Receiver::new();
            loop {
                let msg = match guarded(stream.message(), &limits, sigint, sigterm).await {
                    Err(cut) => return Err(cut.into_error(&limits, endpoint, "snapshot stream")),
                    Ok(Err(source)) => {
                        let (received, total) = receiver.progress();
                        return Err(EtcdError::StreamBroken {
                            endpoint,
                            received,
                            total,
                            source: source.into(),
                        });
                    }
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(m))) => m,
                };
                receiver
                    .push(msg.remaining_bytes(), msg.blob())
                    .map_err(|source| EtcdError::Protocol {
                        endpoint: endpoint.clone(),
                        source,
                    })?;
                out.write_all(msg.blob()).map_err(EtcdError::Sink)?;
                let (received, total) = receiver.progress();
                progress(received, total);
            }
            receiver
                .finish()
                .map_err(|source| EtcdError::Protocol { endpoint, source })
        })
    }
}

/// The bounds every call runs under.
struct Limits {
    stall: Duration,
    deadline: Instant,
    run_timeout: Duration,
}

/// Why a guarded call was cut short.
enum Cut {
    Stalled,
    Deadline,
    Signal(&'static str),
}

impl Cut {
    fn into_error(self, limits: &Limits, endpoint: String, what: &'static str) -> EtcdError {
        match self {
            Cut::Stalled => EtcdError::Stalled {
                endpoint,
                what,
                after: limits.stall,
            },
            Cut::Deadline => EtcdError::Deadline {
                after: limits.run_timeout,
            },
            Cut::Signal(name) => EtcdError::Interrupted(name),
        }
    }
}

/// Awaits `fut` unless it stalls, the run deadline passes, or SIGINT/SIGTERM arrives.
async fn guarded<T>(
    fut: impl Future<Output = T>,
    limits: &Limits,
    sigint: &mut Signal,
    sigterm: &mut Signal,
) -> Result<T, Cut> {
    tokio::select! {
        r = tokio::time::timeout(limits.stall, fut) => r.map_err(|_| Cut::Stalled),
        _ = tokio::time::sleep_until(limits.deadline) => Err(Cut::Deadline),
        _ = sigint.recv() => Err(Cut::Signal("SIGINT")),
        _ = sigterm.recv() => Err(Cut::Signal("SIGTERM")),
    }
}
