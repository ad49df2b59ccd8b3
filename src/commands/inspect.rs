//! `etcd-backup inspect BACKUP`: revisions, keys, members, leases, db size, and per Kubernetes
//! resource the objects, namespaces, bytes and how values are stored.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};

use serde_json::json;

use crate::cli::{InspectArgs, OutputFormat};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::k8s::{key, value};
use crate::keyspace::{self, Ask};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

/// The row of keys outside the Kubernetes roots.
const OTHER: &str = "(other keys)";

/// One resource's figures.
#[derive(Debug, Default)]
struct Resource {
    group: String,
    resource: String,
    /// The key prefix of its objects; empty for [`OTHER`].
    prefix: String,
    count: u64,
    bytes: u64,
    versions: u64,
    bytes_all_versions: u64,
    namespaces: HashSet<String>,
    /// The largest latest versions: (bytes, key), smallest first.
    largest: BinaryHeap<Reverse<(u64, String)>>,
    /// Storage tag → objects.
    storage: BTreeMap<u32, u64>,
}

/// What every version and every key add up to.
#[derive(Debug, Default)]
struct Tally {
    resources: Vec<Resource>,
    by_prefix: HashMap<String, usize>,
    storage_tags: HashMap<value::Storage, u32>,
}

impl Tally {
    fn resource_of(&mut self, k: &[u8]) -> usize {
        let parsed = key::parse(k);
        let prefix = parsed.as_ref().map_or("", |p| p.prefix);
        if let Some(i) = self.by_prefix.get(prefix) {
            return *i;
        }
        let (group, resource) = match &parsed {
            Some(p) => (p.group_shown().to_string(), p.resource.to_string()),
            None => (String::new(), OTHER.to_string()),
        };
        self.resources.push(Resource {
            group,
            resource,
            prefix: prefix.to_string(),
            ..Resource::default()
        });
        self.by_prefix
            .insert(prefix.to_string(), self.resources.len() - 1);
        self.resources.len() - 1
    }

    fn tag(&mut self, v: &[u8]) -> u32 {
        let next = self.storage_tags.len() as u32;
        *self.storage_tags.entry(value::classify(v)).or_insert(next)
    }

    fn storage_name(&self, tag: u32) -> String {
        self.storage_tags
            .iter()
            .find(|(_, t)| **t == tag)
            .map(|(s, _)| s.to_string())
            .unwrap_or_default()
    }
}

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &InspectArgs,
) -> anyhow::Result<ExitStatus> {
    let backup = super::open_backup(settings, &args.backup)?;
    let ask = Ask {
        revision: args.revision,
        ..Ask::default()
    };
    let mut tally = Tally::default();
    let (scan, sorted) = keyspace::scan(&backup, &ask, &mut |rec, v| {
        let i = tally.resource_of(&rec.key);
        let r = &mut tally.resources[i];
        r.versions += 1;
        r.bytes_all_versions += rec.value_len;
        if rec.tomb {
            0
        } else {
            tally.tag(v)
        }
    })?;
    let mut live = 0u64;
    for rec in sorted {
        let rec = rec
            .map_err(anyhow::Error::from)
            .hint("free space beside the backup copy (--backup-dir, or TMPDIR)")?;
        if rec.tomb {
            continue;
        }
        live += 1;
        let i = tally.resource_of(&rec.key);
        let r = &mut tally.resources[i];
        r.count += 1;
        r.bytes += rec.value_len;
        *r.storage.entry(rec.storage).or_default() += 1;
        if let Some(ns) = key::parse(&rec.key).and_then(|k| k.namespace) {
            if !r.namespaces.contains(ns) {
                r.namespaces.insert(ns.to_string());
            }
        }
        if args.top > 0 {
            r.largest.push(Reverse((
                rec.value_len,
                String::from_utf8_lossy(&rec.key).into_owned(),
            )));
            if r.largest.len() > args.top {
                r.largest.pop();
            }
        }
    }
    let mut members = Vec::new();
    backup.bucket_entries(b"members", &mut |_, v| {
        let m: serde_json::Value = serde_json::from_slice(v).unwrap_or_default();
        members.push(json!({"id": format!("{:x}", m["id"].as_u64().unwrap_or(0)),
                            "name": m["name"].as_str().unwrap_or("")}));
    })?;
    let mut leases = 0u64;
    backup.bucket_entries(b"lease", &mut |_, _| leases += 1)?;
    let meta = backup.db().meta();
    tally.resources.sort_by(|a, b| {
        (a.resource == OTHER, &a.group, &a.resource, &a.prefix).cmp(&(
            b.resource == OTHER,
            &b.group,
            &b.resource,
            &b.prefix,
        ))
    });
    let doc = json!({
        "backup": backup.shown,
        "revision": scan.revision,
        "current_revision": scan.current,
        "compact_revision": scan.compacted,
        "keys": {"live": live, "versions": scan.versions, "tombstones": scan.tombstones,
                 "undecodable": scan.undecodable},
        "members": members,
        "leases": leases,
        "db_size": meta.size(),
        "page_size": meta.page_size,
        "free_pages": backup.free_pages(),
        "resources": tally.resources.iter().map(|r| resource_json(r, &tally)).collect::<Vec<_>>(),
    });
    if scan.undecodable > 0 {
        printer.warn(format!(
            "{}: {} entries of the key bucket are not etcd KeyValues and were left out",
            backup.shown, scan.undecodable
        ));
    }
    match printer.format {
        OutputFormat::Json => printer.json(&doc),
        _ => print_table(printer, &doc),
    }
    Ok(ExitStatus::Success)
}

fn resource_json(r: &Resource, tally: &Tally) -> serde_json::Value {
    let mut largest: Vec<&(u64, String)> = r.largest.iter().map(|Reverse(x)| x).collect();
    largest.sort_by(|a, b| b.cmp(a));
    let storage: serde_json::Map<String, serde_json::Value> = r
        .storage
        .iter()
        .map(|(t, n)| (tally.storage_name(*t), json!(n)))
        .collect();
    json!({
        "group": r.group,
        "resource": r.resource,
        "prefix": r.prefix,
        "count": r.count,
        "namespaces": r.namespaces.len(),
        "bytes": r.bytes,
        "versions": r.versions,
        "bytes_all_versions": r.bytes_all_versions,
        "largest": largest.iter().map(|(b, k)| json!({"key": k, "bytes": b})).collect::<Vec<_>>(),
        "storage": storage,
    })
}

fn print_table(printer: &Printer, doc: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    let names: Vec<&str> = doc["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
        .unwrap_or_default();
    let free = match doc["free_pages"].as_u64() {
        Some(f) => format!(
            "{f} free pages of {}",
            n(&doc["db_size"]) / n(&doc["page_size"]).max(1)
        ),
        // etcd opens bbolt with NoFreelistSync (docs/formats.md §2.8): no freelist page.
        None => "free pages not recorded: etcd stores no freelist".to_string(),
    };
    printer.data(format!(
        "backup              {}",
        doc["backup"].as_str().unwrap_or("")
    ));
    printer.data(format!(
        "revision            {} (newest {}, compacted {})",
        doc["revision"], doc["current_revision"], doc["compact_revision"]
    ));
    let k = &doc["keys"];
    printer.data(format!(
        "keys                {} live, {} versions kept ({} deletions)",
        k["live"], k["versions"], k["tombstones"]
    ));
    printer.data(format!(
        "members             {} ({})",
        names.len(),
        names.join(", ")
    ));
    printer.data(format!("leases              {}", doc["leases"]));
    printer.data(format!(
        "db size             {} ({free})",
        human_bytes(n(&doc["db_size"]))
    ));
    printer.data("");
    let mut rows = vec![[
        "GROUP",
        "RESOURCE",
        "OBJECTS",
        "NAMESPACES",
        "BYTES",
        "ALL VERSIONS",
        "STORED AS",
    ]
    .map(String::from)];
    let mut largest = Vec::new();
    for r in doc["resources"].as_array().into_iter().flatten() {
        let stored: Vec<String> = r["storage"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
            .unwrap_or_default();
        rows.push([
            r["group"].as_str().unwrap_or("").to_string(),
            r["resource"].as_str().unwrap_or("").to_string(),
            r["count"].to_string(),
            r["namespaces"].to_string(),
            human_bytes(n(&r["bytes"])),
            human_bytes(n(&r["bytes_all_versions"])),
            stored.join(", "),
        ]);
        for l in r["largest"].as_array().into_iter().flatten() {
            largest.push((n(&l["bytes"]), l["key"].as_str().unwrap_or("").to_string()));
        }
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                if (2..6).contains(&c) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        printer.data(line.join("  ").trim_end());
    }
    if !largest.is_empty() {
        largest.sort_by(|a, b| b.cmp(a));
        printer.data("");
        printer.data("largest objects");
        for (bytes, key) in largest.iter().take(10) {
            printer.data(format!("  {:>10}  {key}", human_bytes(*bytes)));
        }
    }
}
