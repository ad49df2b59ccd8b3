//! `etcd-backup verify`: prove snapshot files intact and restorable.

use anyhow::anyhow;
use chrono::Utc;

use crate::backup::catalog;
use crate::backup::named::Named;
use crate::backup::set::{scratch_dir, BackupSet};
use crate::backup::verify::{SpillError, Verdict};
use crate::cli::{OutputFormat, VerifyArgs};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &VerifyArgs,
) -> anyhow::Result<ExitStatus> {
    let identities = settings.identities()?;
    let set = BackupSet::open(settings)?;
    let Some(targets) = targets(&set, settings, args)? else {
        printer.data(format!("no backups in {}", set.location()));
        return Ok(ExitStatus::Failure);
    };
    if targets.is_empty() {
        return Err(anyhow!("no file to verify")).hint("name files, or use --latest or --all");
    }
    let scratch = scratch_dir(&settings.backup_dir);
    let mut tally = Tally::default();
    for target in &targets {
        let shown = target.shown();
        printer.detail(format!("verifying {shown}"));
        match target.verify(&identities, &scratch, args.allow_no_hash) {
            Ok(v) => {
                if v.ok() {
                    tally.good += 1;
                } else {
                    tally.bad += 1;
                }
                if v.decrypted || !v.ok() {
                    record_verdict(target, &v, printer);
                }
                let encryption = match target {
                    Named::Local(path) => crate::backup::encryption::check(
                        path,
                        &v.encrypted,
                        v.sidecar.as_ref().and_then(|s| s.pki_bundle.as_ref()),
                        &identities,
                    ),
                    Named::Remote { .. } => None,
                };
                report(printer, &v, &mut tally.json_files);
                report_encryption(printer, encryption.as_ref(), &mut tally.json_files);
            }
            Err(e @ SpillError::Keys(_)) => {
                return Err(anyhow::Error::from(e)).hint(
                    "pass the age identity the backup was encrypted to with --identity FILE \
                     (its sidecar lists the recipients)",
                )
            }
            Err(e) => {
                tally.unreadable += 1;
                let msg = format!("{:#}", anyhow::Error::from(e));
                match printer.format {
                    OutputFormat::Json => tally.json_files.push(serde_json::json!({
                        "path": shown, "ok": false, "error": msg,
                    })),
                    _ => printer.data(format!("ERROR {shown}: {msg}")),
                }
            }
        }
    }
    Ok(tally.finish(printer, targets.len()))
}

/// What to verify: the files named (with `--remote`, names that are not URLs are keys in the
/// store), or the newest backup (`--latest`, the newest trusted one) or every backup (`--all`)
/// of the set; `None` when the set has no backup to take.
fn targets(
    set: &BackupSet,
    settings: &Settings,
    args: &VerifyArgs,
) -> anyhow::Result<Option<Vec<Named>>> {
    if !(args.latest || args.all) {
        let named = args
            .files
            .iter()
            .map(|f| set.resolve(f, &settings.remote_options))
            .collect::<anyhow::Result<Vec<Named>>>()?;
        return Ok(Some(named));
    }
    let mut backups = set.list()?;
    if backups.is_empty() {
        return Ok(None);
    }
    if args.latest {
        // The newest is the newest trusted one, not a name in the future.
        backups = set.trusted_first(backups);
    }
    let n = if args.latest { 1 } else { backups.len() };
    Ok(Some(
        backups
            .into_iter()
            .take(n)
            .map(|l| set.named(l.backup))
            .collect(),
    ))
}

/// The verdicts so far.
#[derive(Default)]
struct Tally {
    good: usize,
    bad: usize,
    unreadable: usize,
    json_files: Vec<serde_json::Value>,
}

impl Tally {
    /// Prints the summary (or the JSON document) of `files` verified, and says how the run
    /// ends: an unreadable file is an error, a bad one a "no".
    fn finish(self, printer: &Printer, files: usize) -> ExitStatus {
        let Tally {
            good,
            bad,
            unreadable,
            json_files,
        } = self;
        match printer.format {
            OutputFormat::Json => printer.json(&serde_json::json!({
                "files": json_files, "good": good, "bad": bad, "unreadable": unreadable,
            })),
            _ => printer.data(format!(
                "{files} file(s): {good} good, {bad} bad{}",
                if unreadable > 0 {
                    format!(", {unreadable} unreadable")
                } else {
                    String::new()
                }
            )),
        }
        if unreadable > 0 {
            ExitStatus::Error
        } else if bad > 0 {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }
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

/// The keys the values were encrypted at rest with, against the bundled encryption config:
/// warnings (the file itself is fine), and `encryption` in the file's JSON entry.
fn report_encryption(
    printer: &Printer,
    f: Option<&crate::backup::encryption::Finding>,
    json_files: &mut [serde_json::Value],
) {
    let Some(f) = f else { return };
    if printer.format == OutputFormat::Json {
        if let Some(entry) = json_files.last_mut() {
            entry["encryption"] = serde_json::json!({
                "keys": f.used, "bundle": f.bundle, "missing_from_bundle": f.missing,
            });
        }
    }
    for w in &f.warnings {
        printer.warn(w);
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
    let result = target.write_sidecar(&sidecar);
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
