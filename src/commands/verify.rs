//! `etcd-backup verify`: prove snapshot files intact and restorable.

use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use chrono::Utc;

use crate::backup::catalog;
use crate::backup::layers;
use crate::backup::verify::{self, SpillError, Verdict};
use crate::cli::{OutputFormat, VerifyArgs};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::fsutil::{self, DirLock};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

use super::Named;

pub fn run(
    settings: &Settings,
    printer: &Printer,
    args: &VerifyArgs,
) -> anyhow::Result<ExitStatus> {
    let identities = layers::load_identities(&args.identity.identity)
        .hint("pass the age identity file the backups were encrypted for (mode 0600)")?;
    let remote = super::open_remote(&args.remote)?.map(Arc::new);
    let targets: Vec<Named> = if args.latest || args.all {
        let take = |n: usize| if args.latest { 1 } else { n };
        match &remote {
            Some(r) => {
                let backups = super::remote_backups(r)?;
                if backups.is_empty() {
                    printer.data(format!("no backups in {}", r.url()));
                    return Ok(ExitStatus::Failure);
                }
                let n = take(backups.len());
                backups
                    .into_iter()
                    .take(n)
                    .map(|b| Named::Remote {
                        remote: Arc::clone(r),
                        key: b.key,
                    })
                    .collect()
            }
            None => {
                let dir = &settings.backup_dir;
                let mut backups = super::backups_in(dir)?;
                if backups.is_empty() {
                    printer.data(format!("no backups in {}", dir.display()));
                    return Ok(ExitStatus::Failure);
                }
                if args.latest {
                    // The newest is the newest trusted one, not a name in the future.
                    backups = super::trusted_first(backups);
                }
                let n = take(backups.len());
                backups
                    .into_iter()
                    .take(n)
                    .map(|b| Named::Local(b.path))
                    .collect()
            }
        }
    } else {
        let mut v = Vec::new();
        for f in &args.files {
            v.push(match &remote {
                // With --remote, names are keys in the store.
                Some(r) if !super::is_url(f) => Named::Remote {
                    remote: Arc::clone(r),
                    key: f.to_string_lossy().into_owned(),
                },
                _ => Named::open(f, &args.remote.conn)?,
            });
        }
        v
    };
    if targets.is_empty() {
        return Err(anyhow!("no file to verify")).hint("name files, or use --latest or --all");
    }
    let scratch = super::scratch_dir(&settings.backup_dir);

    let (mut good, mut bad, mut unreadable) = (0, 0, 0);
    let mut json_files = Vec::new();
    for target in &targets {
        let shown = target.shown();
        printer.detail(format!("verifying {shown}"));
        let verdict = match target {
            Named::Local(path) => verify::verify_path(path, &identities, args.allow_no_hash),
            Named::Remote { .. } => target
                .reader()
                .map_err(|e| SpillError::Read {
                    name: shown.clone(),
                    source: std::io::Error::other(format!("{e:#}")),
                })
                .and_then(|mut r| {
                    verify::verify_stored(
                        &mut r,
                        Path::new(&shown),
                        target.layers(),
                        &identities,
                        &scratch,
                        args.allow_no_hash,
                        target.sidecar(),
                    )
                }),
        };
        match verdict {
            Ok(v) if v.ok() => {
                good += 1;
                if v.decrypted {
                    record_verdict(target, &v, printer);
                }
                report(printer, &v, &mut json_files);
            }
            Ok(v) => {
                bad += 1;
                record_verdict(target, &v, printer);
                report(printer, &v, &mut json_files);
            }
            Err(e @ SpillError::Keys(_)) => {
                return Err(anyhow::Error::from(e)).hint(
                    "pass the age identity the backup was encrypted to with --identity FILE \
                     (its sidecar lists the recipients)",
                )
            }
            Err(e) => {
                unreadable += 1;
                let msg = format!("{:#}", anyhow::Error::from(e));
                match printer.format {
                    OutputFormat::Json => json_files.push(serde_json::json!({
                        "path": shown, "ok": false, "error": msg,
                    })),
                    _ => printer.data(format!("ERROR {shown}: {msg}")),
                }
            }
        }
    }
    match printer.format {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "files": json_files, "good": good, "bad": bad, "unreadable": unreadable,
        })),
        _ => printer.data(format!(
            "{} file(s): {good} good, {bad} bad{}",
            targets.len(),
            if unreadable > 0 {
                format!(", {unreadable} unreadable")
            } else {
                String::new()
            }
        )),
    }
    Ok(if unreadable > 0 {
        ExitStatus::Error
    } else if bad > 0 {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn report(printer: &Printer, v: &Verdict, json_files: &mut Vec<serde_json::Value>) {
    if printer.format == OutputFormat::Json {
        json_files.push(serde_json::json!({
            "path": v.path.display().to_string(),
            "ok": v.ok(),
            "problems": v.problems,
            "size": v.file_size,
            "sha256": hex::encode(v.sha256),
            "has_trailer": v.has_trailer,
            "sidecar": v.sidecar.is_some(),
            "layers": v.layers.describe(),
            "decrypted": v.decrypted,
            "snapshot_sha256": v.snapshot_sha256.map(hex::encode),
            "status": v.status.as_ref().map(|s| serde_json::json!({
                "hash": s.hash, "revision": s.revision, "totalKey": s.total_key,
                "totalSize": s.total_size,
            })),
        }));
        return;
    }
    if v.ok() && !v.decrypted {
        printer.data(format!(
            "OK    {}  revision {} (sidecar), {}, encrypted: not opened (no --identity); its \
             bytes match the SHA-256 recorded after the full check at save time",
            v.path.display(),
            v.sidecar.as_ref().map_or(0, |s| s.revision),
            human_bytes(v.file_size),
        ));
    } else if v.ok() {
        let s = v.status.as_ref();
        printer.data(format!(
            "OK    {}  revision {}, {} keys, {}{}",
            v.path.display(),
            s.map_or(0, |s| s.revision),
            s.map_or(0, |s| s.total_key),
            human_bytes(v.file_size),
            match (&v.sidecar, v.has_trailer) {
                (Some(_), _) => ", sha256 and sidecar match",
                (None, true) => ", sha256 matches",
                (None, false) => ", no trailer (allowed)",
            }
        ));
    } else {
        printer.data(format!("BAD   {}", v.path.display()));
        for p in &v.problems {
            printer.data(format!("      {p}"));
        }
    }
}

/// Records the verdict in the sidecar, where one already exists (one of our backup directories
/// or stores); locally only under the directory lock. A pass sets `verified_at` and clears a
/// recorded failure; a failure clears `verified_at` and records when and why, so that `status`,
/// `--max-age` and older versions of this tool never count the file as verified again until it
/// passes. Never an error: a read-only copy or a running save just means the record is skipped,
/// with a warning when it is a failure that goes unrecorded.
fn record_verdict(target: &Named, v: &Verdict, printer: &Printer) {
    let Some(mut sidecar) = v.sidecar.clone() else {
        return;
    };
    let sidecar_shown = format!("{}{}", target.shown(), catalog::SIDECAR_SUFFIX);
    if v.ok() {
        sidecar.verified_at = Some(Utc::now());
        sidecar.failed_verification = None;
    } else {
        sidecar.verified_at = None;
        sidecar.failed_verification = Some(catalog::FailedVerification {
            at: Utc::now(),
            problems: v.problems.clone(),
        });
    }
    let result =
        match target {
            Named::Local(path) => {
                let dir = fsutil::parent_dir(path);
                DirLock::acquire(&dir)
                    .and_then(|_lock| sidecar.write(&catalog::sidecar_path(path), true))
                    .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
            }
            Named::Remote { remote, key } => sidecar
                .to_bytes()
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    remote
                        .put_small(&format!("{key}{}", catalog::SIDECAR_SUFFIX), &bytes, true)
                        .map_err(|e| e.to_string())
                }),
        };
    match result {
        Ok(()) => {}
        Err(e) if v.ok() => printer.detail(format!("not recording the verification: {e}")),
        Err(e) => printer.warn(format!(
            "could not record the failure in {sidecar_shown}: {e}; until it is recorded, \
             `status` still shows the verdict the sidecar holds: run `etcd-backup verify` on \
             the file again once no other run holds the backup dir, or move the file away"
        )),
    }
}
