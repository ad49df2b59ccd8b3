//! The skeleton the object-store rigs share (SeaweedFS in `s3.rs`, Azurite in `azurite.rs`,
//! fake-gcs-server in `gcs.rs`): a server from .deps/ spawned in the rig's own temp dir with its
//! output in a log there, ready when the rig's probe says so, tried three times on fresh loopback
//! ports (a port taken in the meantime), restarted on the same ports, stopped by PID. Each rig
//! says how to run and probe its server by implementing [`Server`].

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{log_tail, stop_child};

/// How long [`stop`] waits after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// A program installed into .deps/ by scripts/install-deps.sh: `path` below .deps/. When it is
/// missing, panics saying to run the script and `why` (what needs it).
pub fn dep(path: &str, why: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".deps")
        .join(path);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-deps.sh ({why})",
        p.display()
    );
    p
}

/// The process of a rig, and the temp dir it runs in.
pub struct Process {
    pub dir: tempfile::TempDir,
    /// The log of the latest start (stdout and stderr).
    pub log: PathBuf,
    child: Option<Child>,
    /// How many times the server was started, failed tries included.
    starts: u32,
}

impl Process {
    /// A process not started yet, with a fresh temp dir named `prefix…`.
    pub fn new(prefix: &str) -> Process {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir");
        Process {
            dir,
            log: PathBuf::new(),
            child: None,
            starts: 0,
        }
    }

    /// Is the process still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => Some(status),
            _ => None,
        }
    }
}

/// What a rig tells the skeleton about its server.
pub trait Server {
    /// The server's name in panics: "SeaweedFS did not start".
    const NAME: &'static str;
    /// The program's name in errors: "weed exited with …".
    const PROGRAM: &'static str;
    /// How long a start may take on a loaded 2-core machine.
    const START_LIMIT: Duration;
    /// The pause between two readiness probes.
    const POLL: Duration;
    /// What the probe remembers from one try to the next within one start (that the bucket
    /// exists, say).
    type Progress: Default;

    fn process(&mut self) -> &mut Process;

    /// Takes fresh loopback ports, before each try of a first start.
    fn take_ports(&mut self);

    /// The command of start number `n` (1, 2, …) and the log its output goes to; stdin, stdout
    /// and stderr are the skeleton's to set.
    fn command(&mut self, n: u32) -> Result<(Command, PathBuf), String>;

    /// One readiness probe: `Err` says why the server is not ready yet.
    fn probe(&mut self, progress: &mut Self::Progress) -> Result<(), String>;

    /// Cleans up after the process stopped (files the server leaves outside its dir).
    fn stopped(&mut self) {}
}

/// Starts `server` on fresh ports and waits until it is ready; up to three tries, then panics
/// with the last error and the end of the log.
pub fn start<S: Server>(server: &mut S) {
    let mut last = String::new();
    for _ in 0..3 {
        // A failure is most likely a port taken in the meantime: try again on others.
        server.take_ports();
        match launch(server) {
            Ok(()) => return,
            Err(why) => {
                last = format!("{why}\n--- log\n{}", log_tail(&server.process().log, 40));
                stop(server, GRACE);
            }
        }
    }
    panic!("{} did not start: {last}", S::NAME);
}

/// Starts the stopped `server` again on the same ports and data; panics if it does not come up.
pub fn restart<S: Server>(server: &mut S) {
    assert!(
        server.process().child.is_none(),
        "restart() needs a stopped server"
    );
    if let Err(why) = launch(server) {
        let log = log_tail(&server.process().log, 40);
        stop(server, GRACE);
        panic!("{} did not restart: {why}\n--- log\n{log}", S::NAME);
    }
}

/// Stops the server by PID: SIGTERM, up to `grace`, then SIGKILL (at once with a zero `grace`).
pub fn stop<S: Server>(server: &mut S, grace: Duration) {
    stop_child(server.process().child.take(), grace);
    server.stopped();
}

fn launch<S: Server>(server: &mut S) -> Result<(), String> {
    let n = {
        let p = server.process();
        p.starts += 1;
        p.starts
    };
    let (mut command, log) = server.command(n)?;
    server.process().log = log;
    let out = fs::File::create(&server.process().log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| {
            let program = Path::new(command.get_program()).display().to_string();
            format!("cannot run {program}: {e}")
        })?;
    server.process().child = Some(child);
    wait_ready(server)
}

fn wait_ready<S: Server>(server: &mut S) -> Result<(), String> {
    let t = Instant::now();
    let mut last = String::from("no answer yet");
    let mut progress = S::Progress::default();
    while t.elapsed() < S::START_LIMIT {
        if let Some(status) = server.process().exited() {
            return Err(format!("{} exited with {status}", S::PROGRAM));
        }
        match server.probe(&mut progress) {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        std::thread::sleep(S::POLL);
    }
    Err(format!("not ready within {:?}: {last}", S::START_LIMIT))
}
