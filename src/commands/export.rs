//! `etcd-backup export BACKUP`: the keys as `etcdctl get "" --prefix -w json` prints its `kvs`,
//! one JSON object per line, in key order (docs/formats.md §10.3).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::anyhow;

use base64::Engine;

use crate::cli::ExportArgs;
use crate::diagnostics::{ExitStatus, HintExt};
use crate::k8s::decode::{self, Decoded};
use crate::k8s::key;
use crate::k8s::manifest::{self, Filter, ObjectRef};
use crate::keyspace::{self, Ask, Rec};
use crate::output::Printer;
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &ExportArgs,
) -> anyhow::Result<ExitStatus> {
    let backup = super::open_backup(settings, &args.backup)?;
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
    let filter = Filter {
        namespace: args.namespace.clone(),
        resource: args.resource.clone(),
        name: args.name.clone(),
    };
    let filtered = filter != Filter::default();
    if let Some(dir) = &args.manifests {
        check_manifests_dir(dir)?;
    }
    // Data on stdout, buffered: one flush per 64 KiB, not per line.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::new();
    let mut written = 0u64;
    let mut files = Manifests::default();
    for rec in sorted {
        let rec = rec
            .map_err(anyhow::Error::from)
            .hint("free space beside the backup copy (--backup-dir, or TMPDIR)")?;
        if rec.tomb {
            continue;
        }
        let decoded = (args.decode || filtered || args.manifests.is_some())
            .then(|| decode::decode(&rec.value));
        if filtered && !matches(&filter, &rec.key, decoded.as_ref()) {
            continue;
        }
        if let Some(dir) = &args.manifests {
            files.add(dir, &rec.key, decoded.as_ref())?;
            continue;
        }
        line.clear();
        kv_json(&rec, &mut line);
        if let (true, Some(d)) = (args.decode, &decoded) {
            line.pop();
            line.push_str(",\"decoded\":");
            line.push_str(&d.to_json().to_string());
            line.push('}');
        }
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            return stdout_closed(e);
        }
        written += 1;
    }
    if let Err(e) = out.flush() {
        return stdout_closed(e);
    }
    if let Some(dir) = &args.manifests {
        files.report(dir, printer);
    } else {
        printer.detail(format!("{written} keys exported"));
    }
    Ok(ExitStatus::Success)
}

/// Whether the key's object passes `--namespace`/`--resource`/`--name`: only Kubernetes objects
/// can (group and resource from the key path, kind, namespace and name from the object, or the
/// key path when the value is encrypted or damaged).
fn matches(filter: &Filter, key: &[u8], decoded: Option<&Decoded>) -> bool {
    let Some(k) = key::parse(key) else {
        return false;
    };
    let object = decoded.and_then(Decoded::object);
    let field = |path: &[&str]| -> Option<&str> {
        let mut v = object?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str()
    };
    let reference = ObjectRef {
        group: k.group_shown(),
        resource: k.resource,
        kind: field(&["kind"]).unwrap_or(""),
        namespace: field(&["metadata", "namespace"])
            .filter(|n| !n.is_empty())
            .or(k.namespace),
        name: field(&["metadata", "name"]).unwrap_or(k.name),
    };
    filter.matches(&reference)
}

/// `--manifests DIR` must be new or empty: files of an earlier export are never mixed in or
/// replaced.
fn check_manifests_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(anyhow!("--manifests {} is not empty", dir.display())).hint(
                    "name a new directory (it is created 0700): files of an earlier export are \
                     never replaced or mixed in",
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::from(e).context(format!("cannot read {}", dir.display())))
            .hint("name a new directory for --manifests"),
    }
}

/// What `--manifests` wrote and left out.
#[derive(Debug, Default)]
struct Manifests {
    written: u64,
    /// Encrypted at rest, per provider and key name: only the API server can decrypt them.
    encrypted: BTreeMap<String, u64>,
    /// Not a whole object: metadata only (a type the schema does not know), damaged, not
    /// Kubernetes, or not a manifest (no name).
    skipped: Vec<String>,
}

impl Manifests {
    fn add(&mut self, dir: &Path, key: &[u8], decoded: Option<&Decoded>) -> anyhow::Result<()> {
        let shown = String::from_utf8_lossy(key);
        let object = match decoded {
            Some(Decoded::Object { object, .. }) => object,
            Some(Decoded::Encrypted { provider, key }) => {
                *self
                    .encrypted
                    .entry(format!("{provider}:{key}"))
                    .or_default() += 1;
                return Ok(());
            }
            Some(Decoded::Partial { reason, .. }) => {
                self.skipped
                    .push(format!("{shown} (only its metadata can be read: {reason})"));
                return Ok(());
            }
            Some(Decoded::Invalid { reason, .. }) => {
                self.skipped.push(format!("{shown} (damaged: {reason})"));
                return Ok(());
            }
            Some(Decoded::Other) | None => return Ok(()),
        };
        let m = match manifest::manifest(object) {
            Ok(m) => m,
            Err(e) => {
                self.skipped.push(format!("{shown} ({e})"));
                return Ok(());
            }
        };
        manifest::write(dir, &m, false)
            .map_err(anyhow::Error::from)
            .hint("check free space and that DIR is writable")?;
        self.written += 1;
        Ok(())
    }

    fn report(&self, dir: &Path, printer: &Printer) {
        for s in &self.skipped {
            printer.detail(format!("not written: {s}"));
        }
        if !self.skipped.is_empty() {
            printer.warn(format!(
                "{} objects were not written (-v lists them): not whole objects",
                self.skipped.len()
            ));
        }
        for (which, n) in &self.encrypted {
            printer.warn(format!(
                "{n} objects are encrypted at rest ({which}) and were not written: only the API \
                 server holding that key can read them (kubectl get them from a cluster restored \
                 with the encryption config)"
            ));
        }
        printer.result(format!(
            "wrote {} manifests under {} (0600 files: they may hold secrets)",
            self.written,
            dir.display()
        ));
    }
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
