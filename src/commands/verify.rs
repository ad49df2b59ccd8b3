//! `etcd-backup verify`: prove snapshot files intact and restorable.

use std::path::PathBuf;

use anyhow::anyhow;
use chrono::Utc;

use crate::catalog;
use crate::cli::{OutputFormat, VerifyArgs};
use crate::diagnostics::{exit, HintExt};
use crate::fsutil::{self, DirLock};
use crate::integrity::{self, Verdict};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub fn run(settings: &Settings, printer: &Printer, args: &VerifyArgs) -> anyhow::Result<u8> {
    let files: Vec<PathBuf> = if args.latest || args.all {
        let dir = &settings.backup_dir;
        let backups = super::backups_in(dir)?;
        if backups.is_empty() {
            printer.data(format!("no backups in {}", dir.display()));
            return Ok(exit::NO);
        }
        let take = if args.latest { 1 } else { backups.len() };
        backups.into_iter().take(take).map(|b| b.path).collect()
    } else {
        args.files.clone()
    };
    if files.is_empty() {
        return Err(anyhow!("no file to verify")).hint("name files, or use --latest or --all");
    }

    let (mut good, mut bad, mut unreadable) = (0, 0, 0);
    let mut json_files = Vec::new();
    for path in &files {
        printer.detail(format!("verifying {}", path.display()));
        match integrity::verify_file(path, integrity::Content::Sha256, args.allow_no_hash, true) {
            Ok(v) if v.ok() => {
                good += 1;
                record_verified(&v, printer);
                report(printer, &v, &mut json_files);
            }
            Ok(v) => {
                bad += 1;
                report(printer, &v, &mut json_files);
            }
            Err(e) => {
                unreadable += 1;
                let msg = format!("{:#}", anyhow::Error::from(e));
                match printer.format {
                    OutputFormat::Json => json_files.push(serde_json::json!({
                        "path": path.display().to_string(), "ok": false, "error": msg,
                    })),
                    _ => printer.data(format!("ERROR {}: {msg}", path.display())),
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
            files.len(),
            if unreadable > 0 {
                format!(", {unreadable} unreadable")
            } else {
                String::new()
            }
        )),
    }
    Ok(if unreadable > 0 {
        exit::ERROR
    } else if bad > 0 {
        exit::NO
    } else {
        exit::SUCCESS
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
            "status": v.status.as_ref().map(|s| serde_json::json!({
                "hash": s.hash, "revision": s.revision, "totalKey": s.total_key,
                "totalSize": s.total_size,
            })),
        }));
        return;
    }
    if v.ok() {
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

/// Stamps `verified_at` into the sidecar of a good backup. Only where a sidecar already exists
/// (one of our backup directories), only under the directory lock, and never an error: a
/// read-only copy or a running save just means the stamp is skipped.
fn record_verified(v: &Verdict, printer: &Printer) {
    let Some(mut sidecar) = v.sidecar.clone() else {
        return;
    };
    let dir = fsutil::parent_dir(&v.path);
    let result = DirLock::acquire(&dir).and_then(|_lock| {
        sidecar.verified_at = Some(Utc::now());
        sidecar.write(&catalog::sidecar_path(&v.path), true)
    });
    if let Err(e) = result {
        printer.detail(format!("not recording the verification: {e}"));
    }
}
