//! A real S3 server for tests: SeaweedFS 4.48 (`weed server` with its S3 gateway), installed
//! into .deps/seaweedfs-4.48/ by scripts/install-deps.sh.
//!
//! Each rig has its own temp dir (data, config, logs, local sockets), every port pinned to a
//! loopback port taken the way the etcd rigs take theirs ([`super::free_port`]), static S3
//! credentials, and one bucket. Ready means an authenticated CreateBucket and a PUT both
//! succeeded (the S3 port answers 403 before the filer is up). Dropping the rig stops the
//! process by PID: SIGTERM, up to 5 s, then SIGKILL (SeaweedFS often ignores SIGTERM), and
//! removes the `/tmp/seaweedfs-*-<port>.sock` files it leaves behind. Starting, the three tries,
//! restarting and stopping are [`super::rig`]'s.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::http_call;
use super::rig::{self, Process, Server};
use etcd_backup::remote::{Environment, Remote, RemoteOptions};
use sha2::{Digest, Sha256};

pub const ACCESS_KEY: &str = "etcdbackuptest";
pub const SECRET_KEY: &str = "etcd-backup-test-secret-0123";
pub const BUCKET: &str = "backups";
pub const VERSION: &str = "4.48";

/// The `weed` binary.
pub fn weed() -> PathBuf {
    rig::dep(
        &format!("seaweedfs-{VERSION}/weed"),
        &format!("the remote tests need SeaweedFS {VERSION}"),
    )
}

/// The ports of one server.
#[derive(Debug, Clone, Copy, Default)]
struct Ports {
    s3: u16,
    s3_grpc: u16,
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    iam: u16,
}

impl Ports {
    /// Nine distinct loopback ports.
    fn take() -> Ports {
        let mut v: Vec<u16> = Vec::new();
        while v.len() < 9 {
            let p = super::free_port();
            if !v.contains(&p) {
                v.push(p);
            }
        }
        Ports {
            s3: v[0],
            s3_grpc: v[1],
            master: v[2],
            master_grpc: v[3],
            volume: v[4],
            volume_grpc: v[5],
            filer: v[6],
            filer_grpc: v[7],
            iam: v[8],
        }
    }

    fn all(&self) -> [u16; 9] {
        [
            self.s3,
            self.s3_grpc,
            self.master,
            self.master_grpc,
            self.volume,
            self.volume_grpc,
            self.filer,
            self.filer_grpc,
            self.iam,
        ]
    }
}

/// A running SeaweedFS with an S3 gateway and one bucket.
pub struct SeaweedFs {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Volumes and filer metadata; survives [`SeaweedFs::stop`] for [`SeaweedFs::restart`].
    pub data_dir: PathBuf,
    ports: Ports,
    process: Process,
}

impl SeaweedFs {
    /// Starts a fresh server with bucket [`BUCKET`] and waits until it takes writes.
    pub fn start() -> SeaweedFs {
        let process = Process::new("seaweedfs-");
        let dir = process.dir.path();
        let data_dir = dir.join("data");
        fs::create_dir_all(&data_dir).expect("data dir");
        fs::create_dir_all(dir.join("conf")).expect("conf dir");
        let config = format!(
            r#"{{"identities":[{{"name":"etcd-backup-test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
        );
        fs::write(dir.join("s3.json"), config).expect("s3 config");
        let mut sw = SeaweedFs {
            endpoint: String::new(),
            bucket: BUCKET.to_string(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
            data_dir,
            ports: Ports::default(),
            process,
        };
        rig::start(&mut sw);
        sw
    }

    /// Starts the stopped server again on the same data dir and ports.
    pub fn restart(&mut self) {
        rig::restart(self);
    }

    /// Stops the server by PID (SIGTERM, up to 5 s, then SIGKILL) and removes its sockets.
    /// The data dir stays.
    pub fn stop(&mut self) {
        rig::stop(self, rig::GRACE);
    }

    /// Kills the server at once (SIGKILL by PID), as a crash or power loss would.
    pub fn kill(&mut self) {
        rig::stop(self, Duration::ZERO);
    }

    /// Is the process still running?
    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    /// `s3://<bucket>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// An environment with this server's credentials and nothing else (no profile files, no
    /// instance metadata lookups).
    pub fn env(&self) -> Environment {
        Environment::default()
            .with("AWS_ACCESS_KEY_ID", &self.access_key)
            .with("AWS_SECRET_ACCESS_KEY", &self.secret_key)
    }

    /// Options pointing at this server, with generous timeouts.
    pub fn options(&self) -> RemoteOptions {
        RemoteOptions {
            endpoint: Some(self.endpoint.clone()),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 2,
            ..RemoteOptions::default()
        }
    }

    /// A remote on `s3://<bucket>/<prefix>`.
    pub fn remote(&self, prefix: &str) -> Remote {
        Remote::open_in(&self.url(prefix), &self.options(), &self.env())
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url(prefix)))
    }

    /// `PUT /<name>` (CreateBucket), signed with SigV4; returns the HTTP status.
    pub fn create_bucket(&self, name: &str) -> Result<u16, String> {
        let host = format!("127.0.0.1:{}", self.ports.s3);
        let path = format!("/{name}");
        let request = sigv4_request(
            "PUT",
            &host,
            &path,
            &self.access_key,
            &self.secret_key,
            chrono::Utc::now(),
        );
        http_status(&host, &request)
    }

    /// Names in a directory of the filer (`/buckets/<bucket>/.uploads` holds unfinished
    /// multipart uploads), read through the filer's HTTP API.
    pub fn filer_list(&self, dir: &str) -> Result<Vec<String>, String> {
        let host = format!("127.0.0.1:{}", self.ports.filer);
        let request = format!(
            "GET {dir}/?limit=1000 HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\
             Connection: close\r\n\r\n"
        );
        let (status, body) = http_call(&host, request.as_bytes(), Duration::from_secs(10))?;
        match status {
            404 => Ok(Vec::new()),
            200 => Ok(json_names(&body)),
            other => Err(format!("filer answered {other}: {body}")),
        }
    }
}

impl Server for SeaweedFs {
    const NAME: &'static str = "SeaweedFS";
    const PROGRAM: &'static str = "weed";
    const START_LIMIT: Duration = Duration::from_secs(90);
    const POLL: Duration = Duration::from_millis(250);
    /// The bucket exists.
    type Progress = bool;

    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn take_ports(&mut self) {
        self.ports = Ports::take();
    }

    fn command(&mut self, n: u32) -> Result<(Command, PathBuf), String> {
        let p = self.ports;
        self.endpoint = format!("http://127.0.0.1:{}", p.s3);
        let d = self.process.dir.path();
        let mut command = Command::new(weed());
        command
            .current_dir(d)
            .env("TMPDIR", d)
            .arg("-logtostderr")
            .arg(format!("-config_dir={}", d.join("conf").display()))
            .arg("server")
            .arg("-ip=127.0.0.1")
            .arg("-ip.bind=127.0.0.1")
            .arg(format!("-dir={}", self.data_dir.display()))
            .arg(format!("-master.port={}", p.master))
            .arg(format!("-master.port.grpc={}", p.master_grpc))
            .arg("-master.telemetry=false")
            .arg("-master.volumeSizeLimitMB=256")
            .arg(format!("-volume.port={}", p.volume))
            .arg(format!("-volume.port.grpc={}", p.volume_grpc))
            .arg("-volume.max=64")
            .arg("-filer=true")
            .arg(format!("-filer.port={}", p.filer))
            .arg(format!("-filer.port.grpc={}", p.filer_grpc))
            .arg(format!(
                "-filer.localSocket={}",
                d.join("filer.sock").display()
            ))
            .arg("-s3=true")
            .arg(format!("-s3.port={}", p.s3))
            .arg(format!("-s3.port.grpc={}", p.s3_grpc))
            .arg("-s3.port.iceberg=0")
            .arg("-s3.port.lance=0")
            // Like AWS: a PUT into a missing bucket fails instead of creating it.
            .arg("-s3.autoCreateBucket=false")
            .arg(format!("-s3.localSocket={}", d.join("s3.sock").display()))
            .arg(format!("-s3.config={}", d.join("s3.json").display()))
            .arg(format!("-iam.port={}", p.iam));
        Ok((command, d.join(format!("weed-{n}.log"))))
    }

    /// Ready = an authenticated CreateBucket answered (200, or 409 when it exists) and a PUT of
    /// a probe object through our own client worked.
    fn probe(&mut self, bucket_ok: &mut bool) -> Result<(), String> {
        if !*bucket_ok {
            match self.create_bucket(&self.bucket.clone()) {
                Ok(200) | Ok(409) => *bucket_ok = true,
                Ok(code) => return Err(format!("CreateBucket answered {code}")),
                Err(e) => return Err(format!("CreateBucket: {e}")),
            }
        }
        let opts = RemoteOptions {
            retries: 0,
            timeout: Duration::from_secs(10),
            ..self.options()
        };
        Remote::open_in(&self.url(""), &opts, &self.env())
            .and_then(|r| r.put_small("readiness-probe", b"ok", true).map(|()| r))
            .and_then(|r| r.delete("readiness-probe"))
            .map_err(|e| {
                format!(
                    "probe PUT: {e}: {:?}",
                    std::error::Error::source(&e).map(|s| s.to_string())
                )
            })
    }

    fn stopped(&mut self) {
        // The gRPC local sockets go to /tmp whatever TMPDIR says.
        for port in self.ports.all() {
            for kind in [
                "master-grpc",
                "volume-grpc",
                "filer-grpc",
                "s3-grpc",
                "filer",
                "s3",
            ] {
                let _ = fs::remove_file(format!("/tmp/seaweedfs-{kind}-{port}.sock"));
            }
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// HMAC-SHA-256 (RFC 2104), for SigV4.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// An HTTP/1.1 request with an empty body, signed with AWS Signature Version 4 for region
/// us-east-1 and service s3.
fn sigv4_request(
    method: &str,
    host: &str,
    path: &str,
    access_key: &str,
    secret_key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let day = now.format("%Y%m%d").to_string();
    let payload = hex::encode(Sha256::digest(b""));
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\n\
         {signed_headers}\n{payload}"
    );
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nx-amz-content-sha256: {payload}\r\n\
         x-amz-date: {amz_date}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={access_key}/{scope}, \
         SignedHeaders={signed_headers}, Signature={signature}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
}

/// Sends `request` to `host` and returns the status code of the answer.
fn http_status(host: &str, request: &str) -> Result<u16, String> {
    http_call(host, request.as_bytes(), Duration::from_secs(10)).map(|(status, _)| status)
}

/// The `"FullPath":"…"` values of a filer listing, as base names.
fn json_names(body: &str) -> Vec<String> {
    body.split("\"FullPath\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect()
}
