//! A real Azure Blob Storage server for tests: Azurite 3.37.0 (`azurite-blob`, the blob service
//! only), installed into .deps/azurite-3.37.0/ by scripts/install-deps.sh (npm package
//! `azurite`).
//!
//! Each rig has its own temp dir (the server's `--location`, its debug log), a loopback port from
//! [`super::free_port`], the well-known development account `devstoreaccount1` with its
//! documented key, and one container, created by the rig as an operator would create it with
//! `az storage container create` (etcd-backup never creates containers, as it never creates S3
//! buckets). Ready means an authenticated Create Container answered 201 (or 409 when it exists).
//! Telemetry is off (`--disableTelemetry`): the server talks to nothing but its clients.
//! Dropping the rig stops the process by PID: SIGTERM, up to 5 s, then SIGKILL. Starting, the
//! three tries, restarting and stopping are [`super::rig`]'s.
//!
//! The rig's own requests (Create Container, List Blobs with uncommitted blobs) are signed with
//! Shared Key as <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>
//! describes, so that the server, not our client, is the witness of what it holds.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::http_call;
use super::rig::{self, Process, Server};
use base64::Engine as _;
use etcd_backup::remote::{Environment, RemoteOptions};

pub const VERSION: &str = "3.37.0";
/// The development account every Azure emulator knows.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its documented key (public, from Microsoft's Azurite documentation).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "backups";
/// The REST API version of the rig's own requests.
const API_VERSION: &str = "2023-11-03";

/// The `azurite-blob` launcher.
pub fn azurite_blob() -> PathBuf {
    rig::dep(
        &format!("azurite-{VERSION}/node_modules/.bin/azurite-blob"),
        &format!("the Azure tests need Azurite {VERSION} and node"),
    )
}

/// A running Azurite blob service with one container.
pub struct Azurite {
    pub port: u16,
    /// `http://127.0.0.1:<port>`: what `AZURITE_BLOB_STORAGE_URL` takes.
    pub blob_url: String,
    /// `http://127.0.0.1:<port>/devstoreaccount1`: the account's endpoint, what
    /// `--remote-endpoint` or `AZURE_STORAGE_ENDPOINT` takes.
    pub account_url: String,
    pub container: String,
    /// The server's files; survive [`Azurite::stop`] for [`Azurite::restart`].
    pub data_dir: PathBuf,
    process: Process,
}

impl Azurite {
    /// Starts a fresh server with container [`CONTAINER`] and waits until it takes requests.
    pub fn start() -> Azurite {
        let process = Process::new("azurite-");
        let data_dir = process.dir.path().join("data");
        fs::create_dir_all(&data_dir).expect("data dir");
        let mut az = Azurite {
            port: 0,
            blob_url: String::new(),
            account_url: String::new(),
            container: CONTAINER.to_string(),
            data_dir,
            process,
        };
        rig::start(&mut az);
        az
    }

    /// Starts the stopped server again on the same data and port.
    pub fn restart(&mut self) {
        rig::restart(self);
    }

    /// Stops the server by PID (SIGTERM, up to 5 s, then SIGKILL). The data stays.
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

    /// `az://<container>/<prefix>`
    pub fn url(&self, prefix: &str) -> String {
        format!("az://{}/{prefix}", self.container)
    }

    /// The account's name and key, nothing else.
    pub fn env(&self) -> Environment {
        Environment::default()
            .with("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
            .with("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
    }

    /// Options pointing at the account's endpoint, with generous timeouts.
    pub fn options(&self) -> RemoteOptions {
        RemoteOptions {
            endpoint: Some(self.account_url.clone()),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 2,
            ..RemoteOptions::default()
        }
    }

    /// Create Container (`PUT /<account>/<name>?restype=container`); returns the HTTP status.
    pub fn create_container(&self, name: &str) -> Result<u16, String> {
        self.call("PUT", name, &[("restype", "container")])
            .map(|(status, _)| status)
    }

    /// The names of the blobs under `prefix` that the server holds, committed ones and, with
    /// `uncommitted`, also those that have only uncommitted blocks (List Blobs with
    /// `include=uncommittedblobs`). Names are full blob names; `prefix` is letters, digits and
    /// `/-_.` only.
    pub fn list_blobs(&self, prefix: &str, uncommitted: bool) -> Result<Vec<String>, String> {
        let mut query = vec![
            ("comp", "list"),
            ("prefix", prefix),
            ("restype", "container"),
        ];
        if uncommitted {
            query.push(("include", "uncommittedblobs"));
        }
        let (status, body) = self.call("GET", &self.container, &query)?;
        if status != 200 {
            return Err(format!("List Blobs answered {status}: {body}"));
        }
        if let Some(next) = body.split("<NextMarker>").nth(1) {
            if !next.starts_with('<') {
                return Err(format!("List Blobs has more than one page: {body}"));
            }
        }
        Ok(body
            .split("<Blob>")
            .skip(1)
            .filter_map(|b| b.split("<Name>").nth(1)?.split("</Name>").next())
            .map(str::to_string)
            .collect())
    }

    /// One request with an empty body, signed with the account key: `path` is below the account
    /// (`<container>[/<blob>]`), `query` unescaped pairs of safe characters.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        let host = format!("127.0.0.1:{}", self.port);
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let uri_path = format!("/{ACCOUNT}/{path}");
        let mut sorted: Vec<(&str, &str)> = query.to_vec();
        sorted.sort();
        let mut resource = format!("/{ACCOUNT}{uri_path}");
        for (k, v) in &sorted {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        // VERB, then Content-Encoding, -Language, -Length (empty for 0), -MD5, -Type, Date,
        // If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range: all empty.
        let to_sign = format!(
            "{method}\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n{resource}"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(ACCOUNT_KEY)
            .expect("account key is base64");
        let signature = base64::engine::general_purpose::STANDARD
            .encode(super::s3::hmac_sha256(&key, to_sign.as_bytes()));
        let query_string: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = format!(
            "{method} {uri_path}?{} HTTP/1.1\r\nHost: {host}\r\nx-ms-date: {date}\r\n\
             x-ms-version: {API_VERSION}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            query_string.join("&")
        );
        http_call(&host, request.as_bytes(), Duration::from_secs(10))
    }
}

impl Server for Azurite {
    const NAME: &'static str = "Azurite";
    const PROGRAM: &'static str = "azurite-blob";
    const START_LIMIT: Duration = Duration::from_secs(60);
    const POLL: Duration = Duration::from_millis(100);
    type Progress = ();

    fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn take_ports(&mut self) {
        self.port = super::free_port();
    }

    fn command(&mut self, n: u32) -> Result<(Command, PathBuf), String> {
        self.blob_url = format!("http://127.0.0.1:{}", self.port);
        self.account_url = format!("{}/{ACCOUNT}", self.blob_url);
        let d = self.process.dir.path();
        let mut command = Command::new(azurite_blob());
        command
            .current_dir(d)
            .arg("--blobHost")
            .arg("127.0.0.1")
            .arg("--blobPort")
            .arg(self.port.to_string())
            .arg("--location")
            .arg(&self.data_dir)
            // Requests go to the debug log, not to stdout.
            .arg("--silent")
            .arg("--debug")
            .arg(d.join(format!("debug-{n}.log")))
            .arg("--disableTelemetry");
        Ok((command, d.join(format!("azurite-{n}.log"))))
    }

    /// Ready = an authenticated Create Container answered 201 (or 409 when it exists).
    fn probe(&mut self, _: &mut ()) -> Result<(), String> {
        match self.create_container(&self.container.clone()) {
            Ok(201) | Ok(409) => Ok(()),
            Ok(code) => Err(format!("Create Container answered {code}")),
            Err(e) => Err(format!("Create Container: {e}")),
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
