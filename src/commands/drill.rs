//! `etcd-backup drill`: a restore rehearsal. The backup's data dir is built in a scratch dir
//! with the code of `restore` (`datadir::build`), without the revision bump, so the restored
//! key space is the snapshot's own and its `HashKV` at the snapshot's revision must be exactly
//! the one the sidecar recorded at save time (a bump would add a marker revision and a
//! compaction, and change it). Then it is read back and, when an etcd binary is at hand, served
//! by a real etcd on loopback ports. Every finding is a problem of the drill (exit 1); the
//! scratch dir and the etcd started are removed and stopped on every way out.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::Utc;

use crate::backup::catalog::{self, DrillRecord};
use crate::backup::named::Named;
use crate::backup::set::{scratch_dir, BackupSet};
use crate::cli::LogFormat;
use crate::cli::{DrillArgs, OutputFormat};
use crate::datadir::build::{build, Build, Input};
use crate::datadir::member::{self, Cluster};
use crate::datadir::{snap, wal};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::etcd::hashkv::HashKv;
use crate::etcd::{schema, ConnectConfig, Session, TlsFiles};
use crate::fsutil;
use crate::node::interrupt;
use crate::output::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &DrillArgs,
    metrics_file: Option<&Path>,
) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let set = BackupSet::open(settings)?;
    let target = match (&args.backup, args.latest) {
        (Some(b), _) => set.resolve(b, &settings.remote_options)?,
        (None, _) => {
            let backups = set.trusted_first(set.list()?);
            let Some(newest) = backups.into_iter().next() else {
                printer.data(format!("no backups in {}", set.location()));
                return Ok(ExitStatus::Failure);
            };
            set.named(newest.backup)
        }
    };
    interrupt::install_for_build(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    let scratch = Scratch::create(&scratch_dir(&settings.backup_dir))?;
    let binary = args.etcd_binary.clone().or_else(|| on_path("etcd"));
    let outcome = rehearse(
        &target,
        &scratch.path,
        binary.as_deref(),
        args,
        &settings.identity_files,
        printer,
    );
    drop(scratch);
    if let Some(sig) = interrupt::received() {
        return Err(anyhow::Error::new(crate::etcd::EtcdError::Interrupted(sig))
            .context("the drill stopped; its scratch dir and etcd are gone"));
    }
    let (problems, etcd) = match outcome {
        Ok(found) => (found.problems, found.etcd),
        // No key, or the backup cannot be read at all: nothing is known about the backup.
        Err(e) if cannot_tell(&e) => return Err(e),
        Err(e) => (vec![format!("{e:#}")], None),
    };
    let record = DrillRecord {
        drilled_at: Utc::now(),
        passed: problems.is_empty(),
        problems,
        etcd,
        duration_seconds: started.elapsed().as_secs_f64(),
    };
    record_drill(&target, &record, printer);
    if let Some(file) = metrics_file {
        write_metrics(file, &record).hint(
            "point --metrics-file at a .prom file of its own in an existing directory, e.g. \
             /var/lib/node_exporter/textfile_collector/etcd-backup-drill.prom",
        )?;
    }
    report(printer, &target, &record);
    Ok(if record.passed {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// An error that says nothing about the backup: no identity fits, or its bytes cannot be read
/// (disk, network).
fn cannot_tell(e: &anyhow::Error) -> bool {
    use crate::backup::verify::SpillError;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<SpillError>(),
            Some(SpillError::Keys(_) | SpillError::Read { .. })
        ) || c
            .downcast_ref::<crate::backup::layers::LayerError>()
            .is_some()
            || c.downcast_ref::<crate::diagnostics::Hinted>()
                .is_some_and(|h| cannot_tell(h.inner()))
    })
}

/// The drill's scratch dir (0700, a name of ours), removed with everything in it when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(parent: &Path) -> anyhow::Result<Scratch> {
        let path = parent.join(format!(".etcd-backup-drill-{}", std::process::id()));
        fsutil::create_private_dir(&path)?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What the rehearsal found.
struct Found {
    problems: Vec<String>,
    etcd: Option<String>,
}

/// Builds, reads back and serves the backup in `scratch`.
fn rehearse(
    target: &Named,
    scratch: &Path,
    binary: Option<&Path>,
    args: &DrillArgs,
    identities: &[PathBuf],
    printer: &Printer,
) -> anyhow::Result<Found> {
    let sidecar = target.sidecar().map_err(|e| anyhow!(e))?;
    let input = Input::resolve(copy(target), identities, scratch, printer)?;
    let expected = match sidecar.as_ref().and_then(|s| s.hash_kv.as_ref()) {
        Some(h) => HashKv {
            revision: h.revision,
            compact_revision: h.compact_revision,
            hash: h.hash,
            keys: h.keys.unwrap_or(0),
        },
        None => {
            printer.warn(format!(
                "{}: its sidecar records no HashKV (saved by an older version, or no sidecar): \
                 the restored key space is compared with the snapshot's own",
                target.shown()
            ));
            schema::inspect(&input.path, false)?
                .hash_kv
                .ok_or_else(|| anyhow!("the snapshot's HashKV cannot be computed"))?
        }
    };
    let (client, peer) = (free_port()?, free_port()?);
    let peer_url = format!("http://127.0.0.1:{peer}");
    let cluster = member::build_cluster(
        "drill",
        &format!("drill={peer_url}"),
        &peer_url,
        "etcd-backup-drill",
    )
    .map_err(|e| anyhow!("cannot plan the drill's cluster: {e}"))?;
    let data = scratch.join("data");
    let spec = Build {
        snapshot: &input.path,
        out_dir: &data,
        wal_dir: None,
        cluster: &cluster,
        bump: None,
        keep_alarms: false,
        skip_hash_check: false,
    };
    build(&spec, printer)?;
    drop(input);
    let mut problems = read_back(&data, &cluster, expected);
    if !problems.is_empty() {
        return Ok(Found {
            problems,
            etcd: None,
        });
    }
    printer.phase(format!(
        "restored data dir read back: bbolt check, WAL, .snap and member as planned, HashKV \
         {:08x} at revision {} as recorded",
        expected.hash, expected.revision
    ));
    let Some(binary) = binary else {
        printer.warn(
            "no etcd binary (--etcd-binary, or `etcd` on PATH): the restored dir was not started",
        );
        return Ok(Found {
            problems,
            etcd: None,
        });
    };
    let version = etcd_version(binary)?;
    let served = Served {
        binary,
        data: &data,
        client,
        peer_url: &peer_url,
        log: &scratch.join("etcd.log"),
        limit: args.drill_timeout,
    };
    problems.extend(served.check(expected, printer)?);
    Ok(Found {
        problems,
        etcd: Some(version),
    })
}

/// Another handle on the same backup.
fn copy(n: &Named) -> Named {
    match n {
        Named::Local(p) => Named::Local(p.clone()),
        Named::Remote { remote, key } => Named::Remote {
            remote: remote.clone(),
            key: key.clone(),
        },
    }
}

/// The restored dir read back: bbolt and etcd checks, `HashKV`, the member, the WAL and `.snap`
/// exactly as the writer plans them for this cluster.
fn read_back(data: &Path, cluster: &Cluster, expected: HashKv) -> Vec<String> {
    let mut problems = Vec::new();
    let db_path = data.join("member/snap/db");
    match schema::inspect(&db_path, true) {
        Err(e) => problems.push(format!("the restored db: {e}")),
        Ok(r) => {
            problems.extend(
                r.corruption
                    .iter()
                    .map(|c| format!("restored db: bbolt: {c}")),
            );
            problems.extend(r.schema.iter().map(|p| format!("restored db: etcd: {p}")));
            match r.hash_kv {
                Some(h) if h.hash == expected.hash && h.revision == expected.revision => {}
                Some(h) => problems.push(format!(
                    "the restored key space's HashKV is {:08x} at revision {}, the sidecar \
                     recorded {:08x} at revision {}",
                    h.hash, h.revision, expected.hash, expected.revision
                )),
                None => problems.push("the restored db's HashKV cannot be computed".to_string()),
            }
        }
    }
    let local = &cluster.members[cluster.local];
    let member = crate::bbolt::Db::open(&db_path)
        .and_then(|db| db.get(b"members", format!("{:x}", local.id).as_bytes()));
    if !matches!(member, Ok(Some(_))) {
        problems.push(format!("the restored db has no member {:x}", local.id));
    }
    let wal_path = data.join("member/wal").join(wal::SEGMENT_NAME);
    let records = wal::wal_records(cluster, true);
    match read_prefix(&wal_path, records.len()) {
        Ok(b) if b == records => {}
        Ok(_) => problems.push(format!(
            "{} differs from the planned WAL",
            wal_path.display()
        )),
        Err(e) => problems.push(format!("cannot read {}: {e}", wal_path.display())),
    }
    let snap_path = data
        .join("member/snap")
        .join(snap::snap_file_name(cluster.members.len()));
    match std::fs::read(&snap_path) {
        Ok(b) if b == snap::snap_bytes(cluster) => {}
        Ok(_) => problems.push(format!(
            "{} differs from the planned .snap",
            snap_path.display()
        )),
        Err(e) => problems.push(format!("cannot read {}: {e}", snap_path.display())),
    }
    problems
}

fn read_prefix(path: &Path, len: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; len];
    std::fs::File::open(path)?.read_exact(&mut buf)?;
    Ok(buf)
}

/// An etcd serving the restored dir.
struct Served<'a> {
    binary: &'a Path,
    data: &'a Path,
    client: u16,
    peer_url: &'a str,
    log: &'a Path,
    limit: Duration,
}

/// The etcd started by the drill, stopped by PID (SIGTERM, then SIGKILL) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_raw(self.0.id() as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Served<'_> {
    /// Starts etcd, waits until it answers, compares its `HashKV` and key count with
    /// `expected`, and stops it.
    fn check(&self, expected: HashKv, printer: &Printer) -> anyhow::Result<Vec<String>> {
        let url = format!("http://127.0.0.1:{}", self.client);
        let log = std::fs::File::create(self.log)
            .map_err(|e| fsutil::FsError::io("cannot create", self.log, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fsutil::FsError::io("cannot open", self.log, e))?;
        printer.phase(format!(
            "starting {} on the restored dir (client {url})",
            self.binary.display()
        ));
        let child = Command::new(self.binary)
            .arg("--name=drill")
            .arg(format!("--data-dir={}", self.data.display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={}", self.peer_url))
            .arg(format!("--initial-advertise-peer-urls={}", self.peer_url))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| anyhow!("cannot start {}: {e}", self.binary.display()))
            .hint("pass an etcd binary with --etcd-binary PATH")?;
        let mut running = Running(child);
        let mut session = match self.wait_healthy(&url, &mut running) {
            Ok(s) => s,
            Err(why) => return Ok(vec![format!("{why}; its log ends:\n{}", self.log_tail())]),
        };
        let mut problems = Vec::new();
        // etcd answers no HashKV at its compacted revision; 0 is its current one, the same.
        let at = if expected.revision > expected.compact_revision {
            expected.revision
        } else {
            0
        };
        match session.hash_kv(at) {
            Ok(h) if h.hash == expected.hash && h.compact_revision == expected.compact_revision => {
                printer.phase(format!(
                    "etcd serves the restored dir: HashKV {:08x} at revision {} as recorded",
                    h.hash, expected.revision
                ))
            }
            Ok(h) => {
                problems.push(format!(
                "etcd on the restored dir answers HashKV {:08x} (compacted at {}), the sidecar \
                 recorded {:08x} (compacted at {}) at revision {}",
                h.hash, h.compact_revision, expected.hash, expected.compact_revision,
                expected.revision
            ))
            }
            Err(e) => problems.push(format!("etcd on the restored dir: HashKV: {e}")),
        }
        match session.count_keys() {
            Ok(n) if expected.keys == 0 || n as u64 == expected.keys => {}
            Ok(n) => problems.push(format!(
                "etcd on the restored dir holds {n} keys, the backup {}",
                expected.keys
            )),
            Err(e) => problems.push(format!("etcd on the restored dir: count: {e}")),
        }
        drop(session);
        drop(running);
        Ok(problems)
    }

    /// Polls the started etcd until it answers its status, it exits, a signal comes, or the
    /// limit passes.
    fn wait_healthy(&self, url: &str, running: &mut Running) -> Result<Session, String> {
        let t = Instant::now();
        let config = ConnectConfig {
            tls: TlsFiles {
                cacert: PathBuf::new(),
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            dial_timeout: Duration::from_secs(2),
            stall_timeout: Duration::from_secs(30),
        };
        loop {
            if interrupt::received().is_some() {
                return Err("interrupted".to_string());
            }
            if let Ok(Some(st)) = running.0.try_wait() {
                return Err(format!("etcd on the restored dir exited ({st})"));
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            if let Ok(mut s) =
                Session::connect(url, None, &config, Duration::from_secs(60), deadline)
            {
                if s.status().is_ok() {
                    return Ok(s);
                }
            }
            if t.elapsed() > self.limit {
                return Err(format!(
                    "etcd on the restored dir did not answer within {:?}",
                    self.limit
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

/// `etcd --version`'s first line.
fn etcd_version(binary: &Path) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow!("cannot run {} --version: {e}", binary.display()))
        .hint("pass an etcd binary with --etcd-binary PATH")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("etcd").trim().to_string())
}

/// The first executable `name` in `$PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| {
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    })
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| anyhow!("cannot find a free loopback port: {e}"))?;
    Ok(l.local_addr()
        .map_err(|e| anyhow!("cannot find a free loopback port: {e}"))?
        .port())
}

/// Writes the drill's result into the backup's sidecar, when it has one.
fn record_drill(target: &Named, record: &DrillRecord, printer: &Printer) {
    let Ok(Some(mut sidecar)) = target.sidecar() else {
        printer.detail("no sidecar: the drill's result is not recorded beside the backup");
        return;
    };
    sidecar.drill = Some(record.clone());
    if let Err(e) = target.write_sidecar(&sidecar) {
        printer.warn(format!(
            "could not record the drill in {}{}: {e}",
            target.shown(),
            catalog::SIDECAR_SUFFIX
        ));
    }
}

/// The drill's gauges, in a textfile of their own.
fn write_metrics(file: &Path, record: &DrillRecord) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(file) {
        if old.contains("etcd_backup_last_attempt_timestamp_seconds") {
            return Err(anyhow!(
                "{} holds the metrics of `save`; drill would replace them",
                file.display()
            ));
        }
    }
    let text = crate::metrics::drill_text(record);
    fsutil::write_atomic_mode(file, text.as_bytes(), true, 0o644)?;
    Ok(())
}

fn report(printer: &Printer, target: &Named, record: &DrillRecord) {
    if printer.format == OutputFormat::Json {
        printer.json(&serde_json::json!({
            "backup": target.shown(),
            "passed": record.passed,
            "problems": record.problems,
            "etcd": record.etcd,
            "drilled_at": record.drilled_at,
            "duration_seconds": record.duration_seconds,
        }));
        return;
    }
    if record.passed {
        printer.data(format!(
            "PASSED {} ({:.1}s{})",
            target.shown(),
            record.duration_seconds,
            record
                .etcd
                .as_deref()
                .map(|v| format!(", served by {v}"))
                .unwrap_or_else(|| ", not started: no etcd binary".to_string())
        ));
    } else {
        printer.data(format!("FAILED {}", target.shown()));
        for p in &record.problems {
            printer.data(format!("  {p}"));
        }
    }
}
