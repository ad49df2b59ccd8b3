//! `etcd-backup export BACKUP`: the keys as `etcdctl get "" --prefix -w json` prints its `kvs`,
//! one JSON object per line, in key order (docs/formats.md §10.3).

use std::io::Write;

use base64::Engine;

use crate::backup::named::Named;
use crate::backup::set::scratch_dir;
use crate::cli::ExportArgs;
use crate::diagnostics::{ExitStatus, HintExt};
use crate::keyspace::{self, Ask, Backup, Rec};
use crate::output::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &ExportArgs,
) -> anyhow::Result<ExitStatus> {
    let identities = settings.identities()?;
    let named = Named::open(&args.backup, &settings.remote_options)?;
    let backup = Backup::open(&named, &identities, &scratch_dir(&settings.backup_dir))?;
    let ask = Ask {
        revision: args.revision,
        prefix: args.prefix.as_bytes().to_vec(),
        values: true,
    };
    let (scan, sorted) = keyspace::scan(&backup, &ask, &mut |_, _| 0)?;
    if scan.undecodable > 0 {
        printer.warn(format!(
            "{}: {} entries of the key bucket are not etcd KeyValues and were left out",
            backup.shown, scan.undecodable
        ));
    }
    printer.detail(format!(
        "{}: keys at revision {} (compacted {}), sorted in memory{}",
        backup.shown,
        scan.revision,
        scan.compacted,
        match scan.runs {
            0 => String::new(),
            n => format!(" and through {n} runs in scratch files"),
        }
    ));
    // Data on stdout, buffered: one flush per 64 KiB, not per line.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::new();
    let mut written = 0u64;
    for rec in sorted {
        let rec = rec
            .map_err(anyhow::Error::from)
            .hint("free space beside the backup copy (--backup-dir, or TMPDIR)")?;
        if rec.tomb {
            continue;
        }
        line.clear();
        kv_json(&rec, &mut line);
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            return stdout_closed(e);
        }
        written += 1;
    }
    if let Err(e) = out.flush() {
        return stdout_closed(e);
    }
    printer.detail(format!("{written} keys exported"));
    Ok(ExitStatus::Success)
}

/// A reader that stopped reading (`| head`) ends the export quietly.
fn stdout_closed(e: std::io::Error) -> anyhow::Result<ExitStatus> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Ok(ExitStatus::Success);
    }
    Err(anyhow::Error::from(e).context("cannot write to stdout"))
        .hint("check where stdout goes (a full disk?)")
}

/// One element of `kvs` as etcdctl's JSON printer writes `mvccpb.KeyValue` (Go
/// `encoding/json` with every field `omitempty`, in the proto's field order): `key`,
/// `create_revision`, `mod_revision`, `version`, `value`, `lease`; bytes as standard base64.
pub(crate) fn kv_json(rec: &Rec, out: &mut String) {
    use std::fmt::Write as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    out.push('{');
    let mut sep = "";
    if !rec.key.is_empty() {
        let _ = write!(out, "\"key\":\"{}\"", b64.encode(&rec.key));
        sep = ",";
    }
    for (name, n) in [
        ("create_revision", rec.create),
        ("mod_revision", rec.main),
        ("version", rec.version),
    ] {
        if n != 0 {
            let _ = write!(out, "{sep}\"{name}\":{n}");
            sep = ",";
        }
    }
    if !rec.value.is_empty() {
        let _ = write!(out, "{sep}\"value\":\"{}\"", b64.encode(&rec.value));
        sep = ",";
    }
    if rec.lease != 0 {
        let _ = write!(out, "{sep}\"lease\":{}", rec.lease);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_as_etcdctl_writes_them() {
        let mut s = String::new();
        let rec = Rec {
            key: b"/a".to_vec(),
            main: 5,
            create: 3,
            version: 2,
            value: b"v".to_vec(),
            lease: 7587869535069520133,
            ..Rec::default()
        };
        kv_json(&rec, &mut s);
        assert_eq!(
            s,
            r#"{"key":"L2E=","create_revision":3,"mod_revision":5,"version":2,"value":"dg==","lease":7587869535069520133}"#
        );
        s.clear();
        kv_json(
            &Rec {
                key: b"/e".to_vec(),
                main: 9,
                create: 9,
                version: 1,
                ..Rec::default()
            },
            &mut s,
        );
        assert_eq!(
            s,
            r#"{"key":"L2U=","create_revision":9,"mod_revision":9,"version":1}"#
        );
    }
}
