//! `etcd-backup save`: stream a snapshot into a new backup file, atomically.
//!
//! Order of work, chosen so that a failure at any point leaves nothing that looks finished:
//! 1. local checks (label, TLS files), backup dir (0700), directory lock;
//! 2. pre-flight: status of every endpoint, pick a voting member, alarms, member name, free
//!    space; a name not used yet (waiting for the next second if this one's is taken);
//! 3. stream into `<name>.part` (0600, exclusive), SHA-256 checked against etcd's digest;
//! 4. fsync, size check, sidecar `<name>.json` written atomically;
//! 5. rename `<name>.part` → `<name>` without replacing anything, fsync the directory.
//!
//! The final rename is the commit point: every `.db` that exists is complete and has its sidecar.
//! SIGINT/SIGTERM and `--timeout` are checked between phases ([`crate::cancel`]): before the
//! commit a stop removes what was written; after it the backup stays, the upload and prune stop,
//! and the error says what was done. What cannot be removed is named, never left unsaid.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};

use crate::backup::catalog::{self, BundleRecord, Sidecar};
use crate::backup::layers::{self, Background, Encoder, Layers, Tally};
use crate::backup::pki_bundle;
use crate::backup::verify;
use crate::cancel::{self, Deadline};
use crate::cli::{Compression, OutputFormat, SaveArgs};
use crate::diagnostics::{exit, with_hint, ExitStatus, HintExt};
use crate::etcd::{self, ConnectConfig, EtcdError, MemberStatus, Session, TlsFiles};
use crate::fsutil::direct_io::{self, Spool};
use crate::fsutil::{self, FsError};
use crate::metrics::{SaveReport, SavedBackup, SetSize};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

/// Room left free beyond the snapshot itself, so a backup never fills the disk it shares with
/// etcd or the system.
const FREE_SPACE_RESERVE: u64 = 64 << 20;

/// Saves a backup; `report` receives what `--metrics-file` needs beyond the exit code.
pub fn run(
    settings: &Settings,
    printer: &Printer,
    args: &SaveArgs,
    report: &mut SaveReport,
) -> anyhow::Result<ExitStatus> {
    report.backup_dir = Some(settings.backup_dir.clone());
    let started = Instant::now();
    let deadline = started + args.timeout;
    let bound = Deadline {
        at: deadline,
        timeout: args.timeout,
    };
    let mut started_at = Utc::now();
    // From here on a signal no longer ends the process: each phase stops at its next safe
    // point, removes what it had not committed, and says what was done.
    cancel::install().map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    cancel::set_deadline(bound);
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
    let recipients = layers::load_recipients(&args.encrypt_to).hint(
        "give age public keys (age1…) or files of them; `age-keygen -o key.txt` makes a pair",
    )?;
    let layers = Layers {
        zstd: args.compress == Compression::Zstd,
        age: !recipients.is_empty(),
    };
    // An extra recipient whose secret lives only in this process, so that the file just
    // written can be decrypted and checked in full before it gets its name. The secret is
    // dropped when the check is done; the stanza left in the header opens nothing.
    let check_key = layers.age.then(age::x25519::Identity::generate);
    let pki_sources = pki_bundle::Sources {
        kubernetes_dir: args.kubernetes_dir.clone(),
        kubelet_dir: args.kubelet_dir.clone(),
    };
    if args.with_pki {
        let pki = args.kubernetes_dir.join("pki");
        if !pki.is_dir() {
            return Err(anyhow!(
                "--with-pki: {} is not a directory, so this is not a kubeadm node",
                pki.display()
            ))
            .hint("point --kubernetes-dir at kubeadm's directory, or leave out --with-pki");
        }
        if !layers.age {
            printer.warn(
                "--with-pki without --encrypt-to: the bundle holds the cluster's CA private keys \
                 unencrypted",
            );
        }
    }
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    check_schemes(&endpoints, printer)?;
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
            let hint = match e {
                EtcdError::KeyMismatch { .. } => {
                    "give the key that was made with this certificate (on a kubeadm node \
                     /etc/kubernetes/pki/etcd/server.crt goes with server.key)"
                }
                _ => {
                    "pass the files with --cacert/--cert/--key (or ETCDCTL_CACERT, \
                     ETCDCTL_CERT, ETCDCTL_KEY); on a kubeadm node they are in \
                     /etc/kubernetes/pki/etcd/"
                }
            };
            with_hint(e, hint)
        })?)
    } else {
        None
    };

    // A bad URL or store setting is refused before any work; an unreachable store or wrong
    // credentials only show at upload time, after the local backup is safe.
    let remote = super::open_remote(settings)?;
    // `save FILE`, etcdctl's habit: that one file, written and checked as any backup is, in
    // FILE's directory (clap keeps --prune, --label, --with-pki and --remote away from it).
    let one_off = args
        .file
        .as_deref()
        .map(|f| super::one_off::target(f, layers, &settings.backup_dir))
        .transpose()?;
    let dir = match &one_off {
        Some(t) => &t.dir,
        None => &settings.backup_dir,
    };
    super::create_backup_dir(dir)?;
    if args.prune {
        // Refuse before streaming what could not be pruned afterwards.
        crate::backup::set::check_dir(dir)?;
    }
    // A one-off file outside the backup dir races no save or prune, and gets no lock file.
    let lock = match &one_off {
        Some(t) if !t.in_backup_dir => None,
        _ => Some(super::lock_dir(dir)?),
    };
    if let Some(lock) = &lock {
        printer.detail(format!("holding {}", lock.path().display()));
    }

    let config = ConnectConfig {
        tls: tls_files,
        dial_timeout: args.dial_timeout,
        stall_timeout: args.stall_timeout,
    };
    let (mut session, status, member_name) = preflight(
        &endpoints,
        tls.as_ref(),
        &config,
        args.timeout,
        deadline,
        printer,
    )
    .and_then(|r| {
        bound
            .check()
            .map_err(|e| stopped(e, "connecting to etcd"))?;
        Ok(r)
    })?;

    if args.skip_unless_leader {
        if status.leader == 0 {
            printer.warn(format!(
                "--skip-unless-leader: there is no leader, so member {:x} takes the backup",
                status.member_id
            ));
        } else if status.leader != status.member_id {
            let why = format!(
                "skipped: member {:x} at {} is not the leader (member {:x} is), and \
                 --skip-unless-leader is set",
                status.member_id, status.endpoint, status.leader
            );
            printer.phase(&why);
            if printer.format == OutputFormat::Json {
                printer.json(&serde_json::json!({
                    "skipped": true,
                    "reason": "not the leader",
                    "member_id": catalog::id_hex(status.member_id),
                    "leader_id": catalog::id_hex(status.leader),
                    "endpoint": status.endpoint,
                }));
            }
            report.skipped = true;
            return Ok(exit::SUCCESS);
        }
    }
    // A layered file is checked through a scratch copy of the snapshot in the same directory.
    let db_size = u64::try_from(status.db_size).unwrap_or(0);
    let scratch = if layers.is_plain() { 0 } else { db_size + 32 };
    let need = db_size + 32 + scratch + FREE_SPACE_RESERVE;
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

    let name = match &one_off {
        Some(t) => t.name.clone(),
        None => pick_name(
            dir,
            &mut started_at,
            args.label.as_deref(),
            layers,
            &bound,
            printer,
        )?,
    };
    let final_path = dir.join(&name);
    let sidecar_path = dir.join(catalog::sidecar_name(&name));
    let bundle_name = args.with_pki.then(|| {
        catalog::parse_backup_name(&name)
            .map(|n| n.bundle_name())
            .unwrap_or_default()
    });
    let bundle_path = bundle_name.as_ref().map(|n| dir.join(n));
    if one_off.is_some() {
        for p in [Some(&final_path), Some(&sidecar_path)]
            .into_iter()
            .flatten()
        {
            if p.symlink_metadata().is_ok() {
                return Err(FsError::Exists { path: p.clone() }).hint(
                    "save never replaces a file: name another FILE, or move that one away first",
                );
            }
        }
    }
    let part_path = fsutil::temp_name(&final_path);
    let mut part = TempFile::create(&part_path)?;
    // What this run wrote before the commit and must remove if it does not get there.
    let mut bundle: Option<WrittenBundle> = None;
    let mut written: Vec<PathBuf> = Vec::new();

    let outcome = (|| -> anyhow::Result<Sidecar> {
        printer.phase(format!(
            "streaming snapshot ({}) from {} into {}{}",
            human_bytes(status.db_size.max(0) as u64),
            session.endpoint(),
            part_path.display(),
            match (layers.zstd, layers.age) {
                (false, false) => String::new(),
                (true, false) => ", compressing".to_string(),
                (false, true) => format!(", encrypting to {} recipient(s)", recipients.len()),
                (true, true) => format!(
                    ", compressing and encrypting to {} recipient(s)",
                    recipients.len()
                ),
            }
        ));
        let streamed = stream(
            &mut session,
            &part,
            &part_path,
            layers,
            &recipients,
            check_key.as_ref(),
            printer,
        )?;
        part.file()
            .sync_all()
            .map_err(|e| FsError::io("cannot fsync", &part_path, e))?;
        bound
            .check()
            .map_err(|e| stopped(e, "streaming the snapshot"))?;
        let checked = check_part(
            &part_path,
            layers,
            &streamed,
            check_key.as_ref(),
            session.endpoint(),
            &bound,
            printer,
        )?;
        bound
            .check()
            .map_err(|e| stopped(e, "verifying the file"))?;
        let file_size = checked.file_size;
        let file_status = checked.status;

        if let (Some(n), Some(p)) = (&bundle_name, &bundle_path) {
            failpoint("save-bundle", &bound, printer);
            bundle = Some(write_bundle(
                &pki_sources,
                n,
                p,
                layers,
                &recipients,
                printer,
            )?);
            bound
                .check()
                .map_err(|e| stopped(e, "writing the DR bundle"))?;
        }

        let received = &streamed.received;
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
            member_name: member_name.clone(),
            member_id: catalog::id_hex(status.member_id),
            cluster_id: catalog::id_hex(status.cluster_id),
            server_version: status.version.clone(),
            revision: file_status.revision,
            raft_index: status.raft_index,
            raft_term: status.raft_term,
            db_size: status.db_size,
            snapshot_db_size: received.db_size,
            file_size,
            sha256: hex::encode(checked.file_sha256),
            db_sha256: hex::encode(received.db_sha256),
            verified_at: Some(Utc::now()),
            layers: (!layers.is_plain()).then(|| layers.describe().to_string()),
            recipients: recipients.iter().map(ToString::to_string).collect(),
            snapshot_sha256: (!layers.is_plain()).then(|| hex::encode(received.file_sha256)),
            pki_bundle: bundle.as_ref().map(|b| b.record.clone()),
            failed_verification: None,
        };
        failpoint("save-commit", &bound, printer);
        // The last point where a signal or --timeout still means "nothing saved".
        bound
            .check()
            .map_err(|e| stopped(e, "committing the backup"))?;
        // The commit: sidecar, then bundle, then the backup itself under its final name.
        written.push(fsutil::temp_name(&sidecar_path));
        sidecar.write(&sidecar_path, false)?;
        written.push(sidecar_path.clone());
        failpoint("save-rename", &bound, printer);
        if let (Some(b), Some(p)) = (bundle.as_mut(), &bundle_path) {
            b.part.commit(p)?;
            written.push(p.clone());
        }
        part.commit(&final_path)?;
        Ok(sidecar)
    })();
    let sidecar = match outcome {
        Ok(done) => done,
        Err(e) => {
            let mut temps = vec![&mut part];
            if let Some(b) = bundle.as_mut() {
                temps.push(&mut b.part);
            }
            return Err(abandon(e, temps, &written, dir));
        }
    };
    drop(check_key);
    let file_size = sidecar.file_size;
    fsutil::fsync_dir(dir)?;
    report.backup = Some(SavedBackup {
        path: final_path.clone(),
        size: file_size,
        revision: sidecar.revision,
    });

    printer.phase(format!(
        "saved {} ({} bytes, revision {}, member {} {}) in {:.1}s",
        final_path.display(),
        file_size,
        sidecar.revision,
        sidecar.member_name,
        sidecar.member_id,
        sidecar.duration_seconds
    ));
    // From the commit on the backup stays, whatever happens. A signal or --timeout stops the
    // phases still to come (upload, prune); the run then says which were done.
    let mut stop: Option<(EtcdError, &'static str)> = None;
    // Still under the lock: no other save or prune can come between.
    let uploaded = match &remote {
        None => None,
        Some(r) => {
            failpoint("save-upload", &bound, printer);
            match bound.check() {
                Err(e) => {
                    stop = Some((e, "uploading"));
                    None
                }
                Ok(()) => {
                    let up = upload(r, dir, &name, &sidecar, args.verify_upload, &bound, printer);
                    match (up, bound.check()) {
                        (Err(_), Err(e)) => {
                            stop = Some((e, "uploading"));
                            None
                        }
                        (up, _) => Some(up.inspect_err(|e| {
                            printer.error(e);
                            printer.warn(format!(
                                "the upload failed; the verified backup is kept at {}",
                                final_path.display()
                            ));
                        })),
                    }
                }
            }
        }
    };
    let pruned = if args.prune && stop.is_none() {
        failpoint("save-prune", &bound, printer);
        match bound.check() {
            Err(e) => {
                stop = Some((e, "pruning"));
                None
            }
            Ok(()) => {
                let p = super::prune::prune_locked(
                    dir,
                    &settings.retention,
                    false,
                    Some(&name),
                    &[],
                    printer,
                );
                match (p, bound.check()) {
                    // prune_locked stops before deleting anything once a signal came.
                    (Err(_), Err(e)) => {
                        stop = Some((e, "pruning"));
                        None
                    }
                    (p, _) => Some(p),
                }
            }
        }
    } else {
        None
    };
    drop(lock);
    // The remote set is pruned only after this run's copy is safely there.
    let remote_pruned = match (&remote, &uploaded, args.prune, &stop) {
        (Some(r), Some(Ok(up)), true, None) => match bound.check() {
            Err(e) => {
                stop = Some((e, "pruning the store"));
                None
            }
            Ok(()) => Some(super::prune::prune_remote(
                r,
                &settings.retention,
                false,
                Some(&up.key),
                &[],
                &super::scratch_dir(dir),
                printer,
            )),
        },
        _ => None,
    };
    if stop.is_none() {
        // A signal in the last phase, or a phase that ran past --timeout: the work is done,
        // but the run still did not end as asked.
        if let Err(e) = bound.check() {
            stop = Some((e, "finishing"));
        }
    }
    if let Some(Ok(p)) = &remote_pruned {
        report.remote_set = Some(SetSize::after_prune(p));
    }
    let (remote_pruned, remote_prune_error) = match remote_pruned {
        Some(Ok(p)) => match p.exit_code() {
            Ok(_) => (Some(p), None),
            Err(e) => (Some(p), Some(e)),
        },
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
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
            if let Some(Ok(up)) = &uploaded {
                printer.result(&up.url);
            }
            if let Some(p) = &pruned {
                p.print(printer);
            }
            if let Some(p) = &remote_pruned {
                p.print(printer);
            }
        }
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&sidecar)?;
            v["path"] = serde_json::Value::String(final_path.display().to_string());
            v["sidecar"] = serde_json::Value::String(sidecar_path.display().to_string());
            if let Some(b) = &bundle_path {
                v["pki_bundle_path"] = serde_json::Value::String(b.display().to_string());
            }
            if let Some(up) = &uploaded {
                v["remote"] = match up {
                    Ok(up) => up.to_json(),
                    Err(e) => serde_json::json!({ "error": format!("{e:#}") }),
                };
            }
            if args.prune {
                v["prune"] = pruned
                    .as_ref()
                    .map_or(serde_json::Value::Null, |p| p.to_json());
                if remote.is_some() {
                    v["remote_prune"] = remote_pruned
                        .as_ref()
                        .map_or(serde_json::Value::Null, |p| p.to_json());
                }
            }
            printer.json(&v);
        }
    }
    if let Some((e, phase)) = stop {
        let mut done = vec![format!("saved {}", final_path.display())];
        let mut not_done = Vec::new();
        match &uploaded {
            Some(Ok(up)) => done.push(format!("uploaded to {}", up.url)),
            Some(Err(_)) => not_done.push("the upload failed".to_string()),
            None if remote.is_some() => not_done.push("upload not done".to_string()),
            None => {}
        }
        match (&pruned, &prune_error) {
            (Some(p), None) => done.push(format!("pruned {}", p.dir.display())),
            (_, Some(_)) => not_done.push("pruning failed".to_string()),
            (None, None) if args.prune => not_done.push("nothing deleted".to_string()),
            (None, None) => {}
        }
        if args.prune && remote.is_some() && remote_pruned.is_none() {
            not_done.push("the store not pruned".to_string());
        }
        for e in prune_error.iter().chain(&remote_prune_error) {
            printer.error(e);
        }
        return Err(stopped_after_commit(e, phase, &done, &not_done));
    }
    if let Some(Err(_)) = uploaded {
        // Already reported above; the local backup stands, the run failed.
        return Ok(exit::ERROR);
    }
    let prune_error = match (prune_error, remote_prune_error) {
        (Some(e), _) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
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

/// Refuses a list that mixes https:// and http:// (never fall back from TLS to plaintext) and
/// warns about plaintext endpoints.
fn check_schemes(endpoints: &[String], printer: &Printer) -> anyhow::Result<()> {
    let plain = etcd::check_schemes(endpoints).hint(
        "list only https:// endpoints: etcd-backup never falls back from TLS to plaintext, and \
         a kubeadm etcd serves clients over TLS only",
    )?;
    for ep in plain {
        printer.warn(format!(
            "{ep} is plaintext: the snapshot, which holds every secret of the cluster, crosses \
             the network unencrypted and unauthenticated; use https:// where etcd serves TLS"
        ));
    }
    Ok(())
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
) -> anyhow::Result<(Session, MemberStatus, String)> {
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
                return Err(stopped(e, "connecting to etcd"))
            }
            Err(e) => {
                let e = match probe_failure(ep, &e, config) {
                    Some(m) => {
                        let hint = m.hint();
                        with_hint(anyhow::Error::new(e).context(m.to_string()), hint)
                    }
                    None => connect_error(e),
                };
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
    let mut clusters: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
    for (_, st) in &answered {
        clusters
            .entry(st.cluster_id)
            .or_default()
            .push(&st.endpoint);
    }
    if clusters.len() > 1 {
        let which = clusters
            .iter()
            .map(|(id, eps)| format!("\n    cluster {id:x}: {}", eps.join(", ")))
            .collect::<String>();
        return Err(anyhow!(
            "the endpoints belong to {} different clusters:{which}",
            clusters.len()
        ))
        .hint(
            "list the client URLs of one cluster's members only (`etcdctl endpoint status -w \
             table` shows each endpoint's cluster ID)",
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
        Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
            return Err(stopped(e, "connecting to etcd"))
        }
        Err(e) => printer.warn(format!("cannot list alarms: {}", one_line(&e.into()))),
    }
    // Asked now, before the stream: the sidecar and the store's key need it, and a lookup at
    // the end could be cut short by a signal or --timeout and leave it empty.
    let member_name = match session.member_name(status.member_id) {
        Ok(Some(n)) if !n.is_empty() => n,
        Ok(_) => {
            return Err(anyhow!(
                "member {:x} at {} has no name in `member list`",
                status.member_id,
                status.endpoint
            ))
            .hint(
                "the member has not finished joining the cluster; wait until `etcdctl member \
                 list` shows its name, or point --endpoints at another member",
            )
        }
        Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
            return Err(stopped(e, "connecting to etcd"))
        }
        Err(e) => {
            return Err(connect_error(e)).context(format!(
                "cannot read the name of member {:x} from {}",
                status.member_id, status.endpoint
            ))
        }
    };
    let why = if endpoints.len() > 1 {
        " (voting member with the highest raft index)"
    } else {
        ""
    };
    printer.phase(format!(
        "using {}{why}: member {:x}, etcd {}, revision {}, raft index {}",
        status.endpoint, status.member_id, status.version, status.revision, status.raft_index
    ));
    Ok((session, status, member_name))
}

/// The whole cause chain on one line, for warnings.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// For a failure that could be a misdirected endpoint (an answer, then a closed connection),
/// finds out what listens there instead: a TLS port named http://, or etcd's peer port.
fn probe_failure(
    ep: &str,
    e: &EtcdError,
    config: &ConnectConfig,
) -> Option<etcd::probe::Misdirected> {
    match e {
        EtcdError::Connect { .. } | EtcdError::Rpc { .. } => {
            etcd::probe::misdirected(ep, &config.tls, config.dial_timeout)
        }
        _ => None,
    }
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

/// What streaming into the temp file produced.
struct Streamed {
    received: crate::etcd::Received,
    /// Size and SHA-256 of what was written, when layers made it differ from what arrived.
    stored: Option<(u64, [u8; 32])>,
}

/// Streams the snapshot into `part`: straight through the spool, or through zstd and age on a
/// second thread when layers were asked for.
fn stream(
    session: &mut Session,
    part: &TempFile,
    part_path: &Path,
    layers: Layers,
    recipients: &[age::x25519::Recipient],
    check_key: Option<&age::x25519::Identity>,
    printer: &Printer,
) -> anyhow::Result<Streamed> {
    let bar = printer.progress("snapshot");
    let spool = Spool::new(
        part.file()
            .try_clone()
            .map_err(|e| FsError::io("cannot open", part_path, e))?,
        part_path,
        direct_io::Mode::Auto,
    )
    .map_err(|e| FsError::io("cannot open for writing", part_path, e))?;
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
    let sink_err = |e: std::io::Error| stream_error(EtcdError::Sink(e), part_path);
    let streamed = if layers.is_plain() {
        let mut spool = spool;
        let received = session
            .snapshot(&mut spool, &mut on_progress)
            .map_err(|e| stream_error(e, part_path))?;
        spool.finish().map_err(sink_err)?;
        Streamed {
            received,
            stored: None,
        }
    } else {
        let mut all: Vec<age::x25519::Recipient> = recipients.to_vec();
        all.extend(check_key.map(age::x25519::Identity::to_public));
        let encoder = Encoder::new(Tally::new(spool), layers, &all)?;
        let mut background = Background::new(encoder).map_err(sink_err)?;
        let received = session
            .snapshot(&mut background, &mut on_progress)
            .map_err(|e| stream_error(e, part_path))?;
        let tally = background
            .finish()
            .and_then(Encoder::finish)
            .map_err(sink_err)?;
        let (spool, len, sha) = tally.finish();
        spool.finish().map_err(sink_err)?;
        Streamed {
            received,
            stored: Some((len, sha)),
        }
    };
    bar.finish_and_clear();
    Ok(streamed)
}

/// What the check of the written temp file established.
struct Checked {
    file_size: u64,
    file_sha256: [u8; 32],
    status: crate::etcd::schema::Status,
}

/// Runs the checks of `verify` on the temp file before it gets its name: the bytes on disk are
/// the bytes written, the snapshot inside is the one etcd sent, and it passes the full bbolt and
/// etcd checks. An encrypted file is opened with the run's own check key.
fn check_part(
    part_path: &Path,
    layers: Layers,
    streamed: &Streamed,
    check_key: Option<&age::x25519::Identity>,
    endpoint: &str,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<Checked> {
    let received = &streamed.received;
    printer.phase(format!(
        "received {} ({} bytes), SHA-256 matches etcd's digest; verifying the file",
        human_bytes(received.db_size),
        received.db_size
    ));
    failpoint("save-verify", bound, printer);
    let (mut problems, status, file_size, file_sha256) = match streamed.stored {
        None => {
            // The bytes read back must be the bytes received, whose SHA-256 was checked in the
            // stream; CRC-32C proves that at a tenth of the cost.
            let v = verify::verify_file(
                part_path,
                verify::Content::MatchesCrc32c(received.file_crc32c),
                false,
                false,
            )?;
            let mut problems = v.problems;
            if v.file_size != received.db_size + 32 {
                problems.push(format!(
                    "{} holds {} bytes after writing {} bytes of snapshot and digest",
                    part_path.display(),
                    v.file_size,
                    received.db_size + 32
                ));
            }
            (problems, v.status, v.file_size, received.file_sha256)
        }
        Some((written, written_sha)) => {
            let mut f =
                File::open(part_path).map_err(|e| FsError::io("cannot open", part_path, e))?;
            let keys: Vec<age::x25519::Identity> = check_key.into_iter().cloned().collect();
            let dir = &fsutil::parent_dir(part_path);
            let v = verify::verify_stored(&mut f, part_path, layers, &keys, dir, false, Ok(None))
                .map_err(anyhow::Error::from)
                .hint("check the backup directory's file system and free space")?;
            let mut problems = v.problems;
            if v.file_size != written || v.sha256 != written_sha {
                problems.push(format!(
                    "the file on disk ({} bytes) differs from the {written} bytes written",
                    v.file_size
                ));
            }
            if v.snapshot_sha256 != Some(received.file_sha256) {
                problems.push(
                    "the snapshot inside the file differs from the one etcd sent".to_string(),
                );
            }
            (problems, v.status, written, written_sha)
        }
    };
    let status = match status {
        Some(s) if problems.is_empty() => s,
        _ => {
            if problems.is_empty() {
                problems.push("no status".to_string());
            }
            let list = problems
                .iter()
                .map(|p| format!("\n    {p}"))
                .collect::<String>();
            return Err(anyhow!(
                "the snapshot from {endpoint} failed verification; it was not kept:{list}"
            ))
            .hint(
                "the snapshot or its copy on this disk is damaged; check etcd's logs and this \
                 disk, then save again",
            );
        }
    };
    Ok(Checked {
        file_size,
        file_sha256,
        status,
    })
}

/// The DR bundle, written and checked under its temp name.
struct WrittenBundle {
    part: TempFile,
    record: BundleRecord,
}

/// Writes `<name>-pki.tar[.zst][.age]` under a temp name: the tar stream through the same
/// layers as the snapshot, fsynced, and read back to check it reached the disk intact.
fn write_bundle(
    sources: &pki_bundle::Sources,
    name: &str,
    path: &Path,
    layers: Layers,
    recipients: &[age::x25519::Recipient],
    printer: &Printer,
) -> anyhow::Result<WrittenBundle> {
    let part_path = fsutil::temp_name(path);
    let part = TempFile::create(&part_path)?;
    let io = |e| FsError::io("cannot write", &part_path, e);
    let file = part.file().try_clone().map_err(io)?;
    let encoder = Encoder::new(
        Tally::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        layers,
        recipients,
    )?;
    let (encoder, summary) = pki_bundle::write(sources, encoder).map_err(|e| {
        let hint = e
            .hint()
            .unwrap_or("check --kubernetes-dir and --kubelet-dir, or leave out --with-pki");
        with_hint(e, hint)
    })?;
    let (buffered, size, sha) = encoder.finish().map_err(io)?.finish();
    let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let (back_size, back_sha) = layers::digest(File::open(&part_path).map_err(io)?).map_err(io)?;
    if (back_size, back_sha) != (size, sha) {
        return Err(anyhow!(
            "{} differs from what was written ({back_size} of {size} bytes)",
            part_path.display()
        ))
        .hint("check the backup directory's file system");
    }
    for s in &summary.skipped {
        printer.detail(format!("bundle: skipped {s}"));
    }
    printer.phase(format!(
        "DR bundle: {} files, {} (stored {})",
        summary.files.len(),
        human_bytes(summary.bytes),
        human_bytes(size)
    ));
    Ok(WrittenBundle {
        part,
        record: BundleRecord {
            file: name.to_string(),
            file_size: size,
            sha256: hex::encode(sha),
            entries: summary.files.len(),
        },
    })
}

/// What the upload put where.
struct Uploaded {
    key: String,
    url: String,
    sidecar_url: String,
    bundle_url: Option<String>,
    verified: bool,
    seconds: f64,
    bytes: u64,
}

impl Uploaded {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "key": self.key,
            "sidecar_url": self.sidecar_url,
            "pki_bundle_url": self.bundle_url,
            "verified_upload": self.verified,
            "seconds": self.seconds,
            "bytes": self.bytes,
        })
    }
}

/// The node part of object keys: the etcd member name (the node name on kubeadm), else the
/// host name, reduced to characters that are safe in every store.
fn node_key(member_name: &str) -> String {
    let raw = if member_name.is_empty() {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    } else {
        member_name.to_string()
    };
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match clean.trim_start_matches('.') {
        "" => "node".to_string(),
        c => c.to_string(),
    }
}

/// Uploads the verified backup, its bundle and then its sidecar to `<node>/<file>`. Each
/// object appears only when complete (multipart completion); the bytes sent are hashed on the
/// way and must be the ones verified. With `verify`, each object is read back and hashed.
fn upload(
    remote: &crate::remote::Remote,
    dir: &Path,
    name: &str,
    sidecar: &Sidecar,
    verify: bool,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<Uploaded> {
    let started = Instant::now();
    let node = node_key(&sidecar.member_name);
    let key = format!("{node}/{name}");
    let mut files = vec![(name.to_string(), sidecar.file_size, sidecar.sha256.clone())];
    if let Some(b) = &sidecar.pki_bundle {
        files.push((b.file.clone(), b.file_size, b.sha256.clone()));
    }
    let mut bytes = 0;
    for (file, size, sha) in &files {
        let obj = format!("{node}/{file}");
        let url = remote.url_of(&obj);
        let path = dir.join(file);
        printer.phase(format!(
            "uploading {} ({}) to {url}",
            path.display(),
            human_bytes(*size)
        ));
        let f = File::open(&path).map_err(|e| FsError::io("cannot open", &path, e))?;
        // Stops within one read on a signal or at the deadline.
        let mut f = cancel::Reader {
            inner: f,
            deadline: *bound,
        };
        let sent = remote.upload(&obj, &mut f).map_err(super::remote_error)?;
        if sent.size != *size || hex::encode(sent.sha256) != *sha {
            let _ = remote.delete(&obj);
            return Err(anyhow!(
                "{} changed after it was verified ({} bytes sent, {size} verified); the upload \
                 to {url} was deleted",
                path.display(),
                sent.size
            ))
            .hint("something else writes into the backup dir; find it, then save again");
        }
        bytes += sent.size;
        if verify {
            printer.phase(format!("reading {url} back"));
            let reader = cancel::Reader {
                inner: remote.reader(&obj).map_err(super::remote_error)?,
                deadline: *bound,
            };
            let (got, got_sha) =
                layers::digest(reader).map_err(|e| anyhow!("cannot read {url} back: {e}"))?;
            if got != *size || hex::encode(got_sha) != *sha {
                return Err(anyhow!(
                    "{url} reads back as {got} bytes with SHA-256 {}, not the {size} bytes \
                     uploaded ({sha})",
                    hex::encode(got_sha)
                ))
                .hint("the store lost or changed data; check it, and keep the local backup");
            }
        }
    }
    let sidecar_key = format!("{key}{}", catalog::SIDECAR_SUFFIX);
    bound.check()?;
    let json = sidecar.to_bytes()?;
    remote
        .put_small(&sidecar_key, &json, false)
        .map_err(super::remote_error)?;
    let seconds = started.elapsed().as_secs_f64();
    printer.phase(format!(
        "uploaded {} in {seconds:.1}s ({}/s){}",
        human_bytes(bytes),
        human_bytes((bytes as f64 / seconds.max(0.001)) as u64),
        if verify {
            ", read back and checked"
        } else {
            ""
        }
    ));
    Ok(Uploaded {
        url: remote.url_of(&key),
        sidecar_url: remote.url_of(&sidecar_key),
        bundle_url: sidecar
            .pki_bundle
            .as_ref()
            .map(|b| remote.url_of(&format!("{node}/{}", b.file))),
        key,
        verified: verify,
        seconds,
        bytes,
    })
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
        EtcdError::Deadline { .. } | EtcdError::Interrupted(_) => {
            stopped(e, "streaming the snapshot")
        }
        other => connect_error(other),
    }
}

/// How many times a name already taken in this second makes the save wait for the next one.
const NAME_RETRIES: u32 = 3;

/// The backup's name: the time of `started_at` (to the second) and the label. Two saves in the
/// same second would want the same name; then this one waits for the next second and takes
/// that time instead (moving `started_at` with it), so that the name stays truthful, never
/// ahead of the clock, and sorts after the one before it. Taken means any file of that
/// backup: the file, its sidecar, its DR bundle, or the temp file of any of them.
fn pick_name(
    dir: &Path,
    started_at: &mut DateTime<Utc>,
    label: Option<&str>,
    layers: Layers,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<String> {
    let mut tries = 0;
    loop {
        let name = catalog::layered_file_name(*started_at, label, layers);
        let Some(taken) = name_taken(dir, &name) else {
            return Ok(name);
        };
        if tries == NAME_RETRIES {
            return Err(FsError::Exists { path: taken }).hint(format!(
                "the clock did not move past a second already used in {} (or went back); \
                 check the system clock, or use --label",
                dir.display()
            ));
        }
        tries += 1;
        printer.detail(format!(
            "{} exists: waiting for the next second for a new name",
            taken.display()
        ));
        let into_second = Duration::from_nanos(u64::from(Utc::now().timestamp_subsec_nanos()));
        bound
            .sleep(Duration::from_secs(1).saturating_sub(into_second) + Duration::from_millis(5))
            .map_err(|e| stopped(e, "choosing the backup's name"))?;
        *started_at = Utc::now();
    }
}

/// The first file of backup `name` that exists in `dir`, if any.
fn name_taken(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(name);
    let sidecar = dir.join(catalog::sidecar_name(name));
    let bundle = catalog::parse_backup_name(name).map(|n| dir.join(n.bundle_name()));
    [Some(file), Some(sidecar), bundle]
        .into_iter()
        .flatten()
        .flat_map(|p| [fsutil::temp_name(&p), p])
        .find(|p| p.symlink_metadata().is_ok())
}

/// A signal or `--timeout` before the commit: nothing was saved.
fn stopped(e: EtcdError, phase: &str) -> anyhow::Error {
    let hint = match e {
        EtcdError::Deadline { .. } => {
            "raise --timeout: it bounds the whole run, from connecting to the commit, and the \
             upload and prune after it"
        }
        _ => "nothing was changed; run save again",
    };
    with_hint(
        anyhow::Error::new(e).context(format!("stopped while {phase}: nothing was saved")),
        hint,
    )
}

/// A signal or `--timeout` after the commit: the backup stays; says what was and was not done.
fn stopped_after_commit(
    e: EtcdError,
    phase: &str,
    done: &[String],
    not_done: &[String],
) -> anyhow::Error {
    let next = match phase {
        "uploading" => "it is kept only in the backup dir (the next save uploads its own backup)",
        "pruning" | "pruning the store" => {
            "`etcd-backup prune` (or the next `save --prune`) prunes what was not pruned"
        }
        _ => "nothing was left undone",
    };
    let hint = match e {
        EtcdError::Deadline { .. } => format!(
            "the backup is complete and verified; {next}. Raise --timeout: it bounds the whole \
             run, upload and prune included"
        ),
        _ => format!("the backup is complete and verified; {next}"),
    };
    let msg = if not_done.is_empty() {
        format!(
            "{}; stopped at the end, with everything done",
            done.join("; ")
        )
    } else {
        format!(
            "{}; stopped while {phase}: {}",
            done.join("; "),
            not_done.join("; ")
        )
    };
    with_hint(anyhow::Error::new(e).context(msg), hint)
}

/// The run failed before the commit: removes what it wrote (the temp files, and a sidecar or
/// bundle already renamed). What cannot be removed is named in the error, with its size and
/// what to do, rather than left there unsaid.
fn abandon(
    err: anyhow::Error,
    temps: Vec<&mut TempFile>,
    written: &[PathBuf],
    dir: &Path,
) -> anyhow::Error {
    let mut left: Vec<(PathBuf, u64, std::io::Error)> = Vec::new();
    for t in temps {
        if let Err(l) = t.discard() {
            left.push(l);
        }
    }
    for p in written.iter().rev() {
        if let Err(l) = remove_ours(p) {
            left.push(l);
        }
    }
    let _ = fsutil::fsync_dir(dir);
    if left.is_empty() {
        return err;
    }
    let list = left
        .iter()
        .map(|(p, size, e)| {
            format!(
                "{} ({}, {size} bytes): {e}",
                p.display(),
                human_bytes(*size)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let paths = left
        .iter()
        .map(|(p, _, _)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let hint = if left
        .iter()
        .any(|(_, _, e)| e.raw_os_error() == Some(libc::EPERM))
    {
        format!(
            "{d} refuses changes even to root, so it is probably immutable (`lsattr -d {d}` \
             shows an `i`): run `chattr -i {d}`, then `rm {paths}` and run save again",
            d = dir.display()
        )
    } else {
        format!(
            "make {} writable, then `rm {paths}` and run save again",
            dir.display()
        )
    };
    with_hint(
        err.context(format!(
            "save failed, and what it had written could not be removed, so it is left \
             behind: {list}"
        )),
        hint,
    )
}

/// Removes a file this run wrote; gone already is fine.
fn remove_ours(path: &Path) -> Result<(), (PathBuf, u64, std::io::Error)> {
    let size = path.symlink_metadata().map_or(0, |m| m.len());
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err((path.to_path_buf(), size, e)),
    }
}

/// A hook for the tests, to hold a phase long enough to hit it with a signal, a timeout or a
/// `chattr +i`: `ETCD_BACKUP_FAILPOINT=<phase>:hang` waits at `<phase>` until a signal or
/// `--timeout`; `<phase>:pause-<ms>` waits that many milliseconds (or less, on a signal).
/// Phases: `save-verify`, `save-bundle`, `save-commit` (before the sidecar), `save-rename`
/// (between the sidecar and the final rename), `save-upload`, `save-prune`.
fn failpoint(phase: &str, bound: &Deadline, printer: &Printer) {
    let Ok(fp) = std::env::var("ETCD_BACKUP_FAILPOINT") else {
        return;
    };
    let Some((name, what)) = fp.split_once(':') else {
        return;
    };
    if name != phase {
        return;
    }
    let wait = match what {
        "hang" => Duration::from_secs(3600),
        _ => match what
            .strip_prefix("pause-")
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            Some(ms) => Duration::from_millis(ms),
            None => return,
        },
    };
    printer.phase(format!(
        "failpoint {phase}: waiting {wait:?} (ETCD_BACKUP_FAILPOINT)"
    ));
    // The check after the phase reports the signal or the timeout.
    let _ = bound.sleep(wait);
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

    /// Removes the temp file now, unless committed; on failure returns its path, size and
    /// the error (and leaves it to no one: the caller reports it).
    fn discard(&mut self) -> Result<(), (PathBuf, u64, std::io::Error)> {
        self.file = None;
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let path = std::mem::take(&mut self.path);
        remove_ours(&path)
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
