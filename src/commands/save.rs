//! `etcd-backup save`: stream a snapshot into a new backup file, atomically.
//!
//! Order of work, chosen so that a failure at any point leaves nothing that looks finished:
//! 1. local checks (label, TLS files), backup dir (0700), directory lock;
//! 2. pre-flight: status of every endpoint, pick a voting member, alarms, free space;
//! 3. stream into `<name>.part` (0600, exclusive), SHA-256 checked against etcd's digest;
//! 4. fsync, size check, sidecar `<name>.json` written atomically;
//! 5. rename `<name>.part` → `<name>` without replacing anything, fsync the directory.
//!
//! The final rename is the commit point: every `.db` that exists is complete and has its sidecar.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use chrono::Utc;

use crate::catalog::{self, Sidecar};
use crate::cli::{OutputFormat, SaveArgs};
use crate::diagnostics::{exit, with_hint, HintExt};
use crate::etcd::{self, ConnectConfig, EtcdError, MemberStatus, Session, TlsFiles};
use crate::fsutil::{self, FsError};
use crate::integrity;
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;
use crate::spool::{self, Spool};

/// Room left free beyond the snapshot itself, so a backup never fills the disk it shares with
/// etcd or the system.
const FREE_SPACE_RESERVE: u64 = 64 << 20;

pub fn run(settings: &Settings, printer: &Printer, args: &SaveArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let deadline = started + args.timeout;
    let started_at = Utc::now();
    if args.keep.any_given() && !args.prune {
        return Err(anyhow!(
            "retention flags (--keep-*, --prune-labeled) were given without --prune"
        ))
        .hint("add --prune to prune after saving, or run `etcd-backup prune` with them");
    }
    if let Some(label) = &args.label {
        catalog::validate_label(label)
            .map_err(|e| anyhow!("invalid --label: {e}"))
            .hint("use a short name such as pre-upgrade-1.31")?;
    }
    if let Some(m) = &settings.manifest {
        printer.detail(format!("read kubeadm manifest {}", m.path.display()));
    }
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    let tls_files = TlsFiles {
        cacert: settings.cacert.value.clone(),
        cert: settings.cert.value.clone(),
        key: settings.key.value.clone(),
    };
    let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
        printer.detail(format!(
            "TLS: --cacert {} ({}), --cert {} ({}), --key {} ({})",
            tls_files.cacert.display(),
            settings.cacert.source.describe(),
            tls_files.cert.display(),
            settings.cert.source.describe(),
            tls_files.key.display(),
            settings.key.source.describe(),
        ));
        Some(etcd::load_tls(&tls_files).map_err(|e| {
            let hint = "pass the files with --cacert/--cert/--key (or ETCDCTL_CACERT, \
                        ETCDCTL_CERT, ETCDCTL_KEY); on a kubeadm node they are in \
                        /etc/kubernetes/pki/etcd/";
            with_hint(e, hint)
        })?)
    } else {
        None
    };

    let dir = &settings.backup_dir;
    fsutil::create_private_dir(dir).hint(format!(
        "make {} writable by this user, or choose another --backup-dir",
        dir.display()
    ))?;
    if args.prune {
        // Refuse before streaming what could not be pruned afterwards.
        super::prune::check_dir(dir)?;
    }
    let lock = super::lock_dir(dir)?;
    printer.detail(format!("holding {}", lock.path().display()));

    let config = ConnectConfig {
        tls: tls_files,
        dial_timeout: args.dial_timeout,
        stall_timeout: args.stall_timeout,
    };
    let (mut session, status) = preflight(
        &endpoints,
        tls.as_ref(),
        &config,
        args.timeout,
        deadline,
        printer,
    )?;

    let need = u64::try_from(status.db_size).unwrap_or(0) + 32 + FREE_SPACE_RESERVE;
    let free = fsutil::available_space(dir)?;
    if free < need {
        return Err(anyhow!(
            "not enough free space in {}: {} available, need {} (etcd db {} + {} reserve)",
            dir.display(),
            human_bytes(free),
            human_bytes(need),
            human_bytes(status.db_size.max(0) as u64),
            human_bytes(FREE_SPACE_RESERVE)
        ))
        .hint(format!(
            "free space in {} (remove old backups) or point --backup-dir at a larger \
             file system",
            dir.display()
        ));
    }

    let name = catalog::backup_file_name(started_at, args.label.as_deref());
    let final_path = dir.join(&name);
    let sidecar_path = dir.join(catalog::sidecar_name(&name));
    for p in [&final_path, &sidecar_path] {
        if p.symlink_metadata().is_ok() {
            return Err(FsError::Exists { path: p.clone() }).hint(
                "a backup with this name was taken in the same second; run save again, \
                 or use --label",
            );
        }
    }
    let part_path = fsutil::temp_name(&final_path);
    let mut part = TempFile::create(&part_path)?;

    printer.phase(format!(
        "streaming snapshot ({}) from {} into {}",
        human_bytes(status.db_size.max(0) as u64),
        session.endpoint(),
        part_path.display()
    ));
    let bar = printer.progress("snapshot");
    let mut spool = Spool::new(
        part.file()
            .try_clone()
            .map_err(|e| FsError::io("cannot open", &part_path, e))?,
        &part_path,
        spool::Mode::Auto,
    )
    .map_err(|e| FsError::io("cannot open for writing", &part_path, e))?;
    printer.detail(format!(
        "writing {} (page cache bypassed: {})",
        part_path.display(),
        spool.is_direct()
    ));
    let mut on_progress = |got: u64, total: u64| {
        if bar.length() != Some(total) {
            bar.set_length(total);
        }
        bar.set_position(got);
    };
    let received = session
        .snapshot(&mut spool, &mut on_progress)
        .map_err(|e| stream_error(e, &part_path))?;
    spool
        .finish()
        .map_err(|e| stream_error(EtcdError::Sink(e), &part_path))?;
    bar.finish_and_clear();
    part.file()
        .sync_all()
        .map_err(|e| FsError::io("cannot fsync", &part_path, e))?;
    printer.phase(format!(
        "received {} ({} bytes), SHA-256 matches etcd's digest; verifying the file",
        human_bytes(received.db_size),
        received.db_size
    ));
    // The same checks as `verify`, on what reached the disk, before the file gets a final name:
    // the bytes read back must be the bytes received (whose SHA-256 was checked in the stream),
    // and the database must pass the full bbolt and etcd checks.
    let verdict = integrity::verify_file(
        &part_path,
        integrity::Content::MatchesCrc32c(received.file_crc32c),
        false,
        false,
    )?;
    let file_size = verdict.file_size;
    if file_size != received.db_size + 32 {
        return Err(anyhow!(
            "{} holds {file_size} bytes after writing {} bytes of snapshot and digest",
            part_path.display(),
            received.db_size + 32
        ))
        .hint("the file system lost data; check the disk and run save again");
    }
    let file_status = match (verdict.ok(), &verdict.status) {
        (true, Some(s)) => s.clone(),
        _ => {
            let list = verdict
                .problems
                .iter()
                .map(|p| format!("\n    {p}"))
                .collect::<String>();
            return Err(anyhow!(
                "the snapshot from {} failed verification; it was not kept:{list}",
                session.endpoint()
            ))
            .hint(
                "the snapshot or its copy on this disk is damaged; check etcd's logs and this \
             disk, then save again",
            );
        }
    };

    let member_name = session.member_name(status.member_id).unwrap_or_else(|e| {
        printer.warn(format!("cannot read the member name: {e}"));
        None
    });
    let finished_at = Utc::now();
    let sidecar = Sidecar {
        format_version: catalog::SIDECAR_FORMAT_VERSION,
        tool: env!("CARGO_PKG_NAME").to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        file: name.clone(),
        label: args.label.clone(),
        started_at,
        finished_at,
        duration_seconds: started.elapsed().as_secs_f64(),
        endpoint: session.endpoint().to_string(),
        member_name: member_name.unwrap_or_default(),
        member_id: catalog::id_hex(status.member_id),
        cluster_id: catalog::id_hex(status.cluster_id),
        server_version: status.version.clone(),
        revision: file_status.revision,
        raft_index: status.raft_index,
        raft_term: status.raft_term,
        db_size: status.db_size,
        snapshot_db_size: received.db_size,
        file_size,
        sha256: hex::encode(received.file_sha256),
        db_sha256: hex::encode(received.db_sha256),
        verified_at: Some(Utc::now()),
    };
    sidecar.write(&sidecar_path, false)?;
    if let Err(e) = part.commit(&final_path) {
        let _ = std::fs::remove_file(&sidecar_path);
        return Err(e.into());
    }
    fsutil::fsync_dir(dir)?;

    printer.phase(format!(
        "saved {} ({} bytes, revision {}, member {} {}) in {:.1}s",
        final_path.display(),
        file_size,
        sidecar.revision,
        sidecar.member_name,
        sidecar.member_id,
        sidecar.duration_seconds
    ));
    // Still under the lock: no other save or prune can come between.
    let pruned = args
        .prune
        .then(|| super::prune::prune_locked(dir, &args.keep.policy(), false, Some(&name), printer));
    drop(lock);
    let (pruned, prune_error) = match pruned {
        Some(Ok(p)) => match p.exit_code() {
            Ok(_) => (Some(p), None),
            Err(e) => (Some(p), Some(e)),
        },
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    match printer.format {
        OutputFormat::Table | OutputFormat::Simple | OutputFormat::Fields => {
            printer.result(final_path.display().to_string());
            if let Some(p) = &pruned {
                p.print(printer);
            }
        }
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&sidecar)?;
            v["path"] = serde_json::Value::String(final_path.display().to_string());
            v["sidecar"] = serde_json::Value::String(sidecar_path.display().to_string());
            if args.prune {
                v["prune"] = pruned
                    .as_ref()
                    .map_or(serde_json::Value::Null, |p| p.to_json());
            }
            printer.json(&v);
        }
    }
    if let Some(e) = prune_error {
        printer.error(&e);
        printer.warn(format!(
            "the backup {} was saved, but pruning failed",
            final_path.display()
        ));
        return Ok(exit::PARTIAL);
    }
    Ok(exit::SUCCESS)
}

/// Asks every endpoint for its status and picks the member to snapshot from: a voting member,
/// preferring one that has a leader, then the highest raft index, then the order given.
fn preflight(
    endpoints: &[String],
    tls: Option<&tonic::transport::ClientTlsConfig>,
    config: &ConnectConfig,
    run_timeout: std::time::Duration,
    deadline: Instant,
    printer: &Printer,
) -> anyhow::Result<(Session, MemberStatus)> {
    let mut answered: Vec<(Session, MemberStatus)> = Vec::new();
    let mut failed: Vec<anyhow::Error> = Vec::new();
    for ep in endpoints {
        printer.detail(format!("connecting to {ep}"));
        let result = Session::connect(ep, tls, config, run_timeout, deadline)
            .and_then(|mut s| s.status().map(|st| (s, st)));
        match result {
            Ok((s, st)) => {
                printer.detail(format!(
                    "{ep}: member {:x}, etcd {}, raft index {}, leader {:x}{}, db {}",
                    st.member_id,
                    st.version,
                    st.raft_index,
                    st.leader,
                    if st.is_learner { ", learner" } else { "" },
                    human_bytes(st.db_size.max(0) as u64)
                ));
                answered.push((s, st));
            }
            Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                let e = connect_error(e);
                if endpoints.len() > 1 {
                    printer.warn(format!("skipping {ep}: {}", one_line(&e)));
                }
                failed.push(e);
            }
        }
    }
    if answered.is_empty() {
        if failed.len() == 1 {
            return Err(failed.remove(0));
        }
        let all = failed
            .iter()
            .map(|e| format!("\n    {}", one_line(e)))
            .collect::<String>();
        return Err(anyhow!("no endpoint answered:{all}")).hint(
            "check that etcd is running and that --endpoints and the certificates are right",
        );
    }
    let learners: Vec<String> = answered
        .iter()
        .filter(|(_, st)| st.is_learner)
        .map(|(_, st)| format!("{} (member {:x})", st.endpoint, st.member_id))
        .collect();
    let chosen = answered
        .into_iter()
        .enumerate()
        .filter(|(_, (_, st))| !st.is_learner)
        .max_by_key(|(i, (_, st))| (st.leader != 0, st.raft_index, std::cmp::Reverse(*i)))
        .map(|(_, pair)| pair);
    let Some((mut session, status)) = chosen else {
        return Err(anyhow!(
            "refusing to snapshot from a learner: {}",
            learners.join(", ")
        ))
        .hint("a learner may lag behind the cluster; point --endpoints at a voting member");
    };
    if status.leader == 0 {
        printer.warn(format!(
            "member {:x} at {} has no leader: the cluster has lost quorum, so this snapshot \
             holds what this member had applied (raft index {})",
            status.member_id, status.endpoint, status.raft_index
        ));
    }
    for e in &status.errors {
        printer.warn(format!("{} reports: {e}", status.endpoint));
    }
    match session.alarms() {
        Ok(alarms) => {
            for a in alarms {
                let advice = match a.kind.as_str() {
                    "NOSPACE" => {
                        ": etcd refuses writes until space is freed (compact, defragment, then \
                         `etcdctl alarm disarm`); the snapshot still holds all data"
                    }
                    "CORRUPT" => ": a member's data may be corrupt; keep older backups",
                    _ => "",
                };
                printer.warn(format!("active alarm {a}{advice}"));
            }
        }
        Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => return Err(e.into()),
        Err(e) => printer.warn(format!("cannot list alarms: {}", one_line(&e.into()))),
    }
    let why = if endpoints.len() > 1 {
        " (voting member with the highest raft index)"
    } else {
        ""
    };
    printer.phase(format!(
        "using {}{why}: member {:x}, etcd {}, revision {}, raft index {}",
        status.endpoint, status.member_id, status.version, status.revision, status.raft_index
    ));
    Ok((session, status))
}

/// The whole cause chain on one line, for warnings.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// Adds advice to a connection or status failure, based on what the TLS/transport layer said.
fn connect_error(e: EtcdError) -> anyhow::Error {
    let text = chain_text(&e);
    let hint = match &e {
        EtcdError::ConnectTimeout { .. } | EtcdError::Stalled { .. } => {
            "etcd did not answer: check that it is running and not overloaded, and that \
             --endpoints is right (raise --dial-timeout for slow links)"
        }
        _ if text.contains("UnknownIssuer")
            || text.contains("BadSignature")
            || text.contains("certificate verify failed") =>
        {
            "etcd's serving certificate is not signed by --cacert; on a kubeadm node use \
             /etc/kubernetes/pki/etcd/ca.crt"
        }
        _ if text.contains("NotValidForName") || text.contains("not valid for name") => {
            "etcd's certificate does not cover this host name or IP; connect with a name or \
             IP listed in its SANs (kubeadm certs include 127.0.0.1 and localhost)"
        }
        _ if text.contains("BadCertificate")
            || text.contains("CertificateRequired")
            || text.contains("UnknownCA")
            || text.contains("bad certificate") =>
        {
            "etcd rejected the client certificate; use a certificate signed by etcd's CA \
             (--cert/--key), e.g. /etc/kubernetes/pki/etcd/server.crt and server.key"
        }
        // With TLS 1.3 the server checks the client certificate after the handshake and just
        // drops the connection, so a rejected certificate shows up on the first request.
        // Which of these the client sees depends on a race with the server's close.
        EtcdError::Rpc { .. }
            if text.contains("broken pipe")
                || text.contains("BrokenPipe")
                || text.contains("ConnectionReset")
                || text.contains("connection closed") =>
        {
            "etcd closed the connection on the first request, which is what it does when it \
             rejected the client certificate; use a certificate signed by etcd's CA \
             (--cert/--key), e.g. /etc/kubernetes/pki/etcd/server.crt and server.key"
        }
        _ if text.contains("Connection refused") || text.contains("connection refused") => {
            "nothing listens there: check that etcd is running and that --endpoints is right"
        }
        _ => "check that etcd is running and that --endpoints and the certificates are right",
    };
    with_hint(e, hint)
}

/// Every message and debug form in an error chain, to recognise TLS failures by their names.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cur = Some(e);
    while let Some(c) = cur {
        text.push_str(&format!("{c} {c:?} "));
        cur = c.source();
    }
    text
}

/// Adds the temp file's path and advice to a failure during the stream.
fn stream_error(e: EtcdError, part: &Path) -> anyhow::Error {
    match e {
        EtcdError::Sink(io) => {
            let hint = if io.raw_os_error() == Some(28) {
                "the disk filled up while writing; free space or choose another --backup-dir"
            } else {
                "check the backup directory's file system"
            };
            with_hint(FsError::io("cannot write", part, io), hint)
        }
        EtcdError::Stalled { .. } => with_hint(
            e,
            "etcd stopped sending (overloaded, paused or a network problem); check etcd and run \
             save again, or raise --stall-timeout",
        ),
        EtcdError::StreamBroken { .. } => with_hint(
            e,
            "the connection to etcd broke mid-stream (etcd restarted or was killed?); check etcd \
             and run save again",
        ),
        EtcdError::Protocol { .. } => with_hint(
            e,
            "the snapshot etcd sent is damaged or incomplete; nothing was kept. Run save again; \
             if it repeats, check etcd's logs and disk",
        ),
        EtcdError::Deadline { .. } => with_hint(
            e,
            "the snapshot took too long; raise --timeout for very large databases",
        ),
        EtcdError::Interrupted(_) => e.into(),
        other => connect_error(other),
    }
}

/// A `.part` file that is removed on drop unless committed under its final name.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn create(path: &Path) -> anyhow::Result<TempFile> {
        let file = fsutil::create_new_private(path).map_err(|e| match e {
            FsError::Exists { .. } => with_hint(
                e,
                "a save with the same name is in progress or was interrupted; wait, or remove \
                 the .part file if no etcd-backup is running",
            ),
            e => anyhow::Error::from(e),
        })?;
        Ok(TempFile {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("open until commit")
    }

    /// Renames the temp file to `final_path` (never replacing) and disarms removal.
    fn commit(&mut self, final_path: &Path) -> Result<(), FsError> {
        self.file = None;
        fsutil::rename_noreplace(&self.path, final_path)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
