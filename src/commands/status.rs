//! `etcd-backup status FILE`: the numbers `etcdutl snapshot status` prints, byte for byte.

use anyhow::anyhow;

use crate::backend;
use crate::bbolt::BboltError;
use crate::cli::{OutputFormat, StatusArgs};
use crate::diagnostics::{exit, with_hint};
use crate::output::Printer;

pub fn run(printer: &Printer, args: &StatusArgs) -> anyhow::Result<u8> {
    let report = backend::inspect(&args.file, false).map_err(|e| match e {
        BboltError::Io { .. } => with_hint(e, "check the path and that this user may read it"),
        e => with_hint(
            e,
            "the file is not a readable etcd snapshot; `etcd-backup verify FILE` lists every \
             problem",
        ),
    })?;
    if !report.corruption.is_empty() {
        let list = report
            .corruption
            .iter()
            .map(|c| format!("\n    {c}"))
            .collect::<String>();
        return Err(anyhow!(
            "snapshot file integrity check failed on {}: {} problem(s) found:{list}",
            args.file.display(),
            report.corruption.len()
        ))
        .map_err(|e| with_hint(e, "this snapshot is damaged; use another backup"));
    }
    let s = &report.status;
    printer.data(match printer.format {
        OutputFormat::Json => s.to_json(),
        OutputFormat::Table => s.to_table(),
        OutputFormat::Simple => s.to_simple(),
        OutputFormat::Fields => s.to_fields(),
    });
    Ok(exit::SUCCESS)
}
