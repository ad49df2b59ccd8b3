//! `etcd-backup diff A B` and `diff A --live`: keys added, removed and changed from A to B, per
//! Kubernetes resource. Both sides are read in key order and merged, so memory stays bounded:
//! a backup through the key-space reader, the live etcd in pages at one revision.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use anyhow::anyhow;
use serde_json::json;

use crate::cli::{DiffArgs, OutputFormat};
use crate::cluster::Connector;
use crate::diagnostics::{with_hint, ExitStatus, HintExt};
use crate::etcd::{self, ConnectConfig, Session, TlsFiles};
use crate::k8s::key;
use crate::keyspace::{self, Ask, Rec};
use crate::output::Printer;
use crate::settings::Settings;

/// Keys asked per page of the live read (etcd's answer must fit tonic's 4 MiB message limit;
/// a page that does not is asked again with half as many).
const PAGE: i64 = 256;
/// Changes listed in the table output (`-w json` lists all).
const LISTED: usize = 50;

/// How a key differs from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Removed,
    /// The value differs.
    Changed,
    /// Only metadata: the same value with other revision fields or lease (a rewrite of the same
    /// bytes), or a Kubernetes object whose `metadata` alone differs (labels, annotations,
    /// resourceVersion, managedFields; not its spec, data or status).
    Metadata,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed | Change::Metadata => "changed",
        }
    }
}

/// Compares two versions of one key.
pub(crate) fn compare(a: &Rec, b: &Rec) -> Option<Change> {
    if a.value != b.value {
        Some(match only_metadata_differs(&a.value, &b.value) {
            true => Change::Metadata,
            false => Change::Changed,
        })
    } else if (a.create, a.main, a.version, a.lease) != (b.create, b.main, b.version, b.lease) {
        Some(Change::Metadata)
    } else {
        None
    }
}

/// Whether two values are the same Kubernetes object but for its `metadata` (both decoded whole;
/// an encrypted or undecodable value is never "only metadata").
fn only_metadata_differs(a: &[u8], b: &[u8]) -> bool {
    use crate::k8s::decode::{decode, Decoded};
    let without_metadata = |v: &[u8]| match decode(v) {
        Decoded::Object { mut object, .. } => {
            object.as_object_mut()?.remove("metadata");
            Some(object)
        }
        _ => None,
    };
    match (without_metadata(a), without_metadata(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Counts per resource.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub metadata_only: u64,
}

/// Merges two key-ordered streams of live keys, calling `each` for every difference.
pub(crate) fn merge(
    mut a: impl Iterator<Item = anyhow::Result<Rec>>,
    mut b: impl Iterator<Item = anyhow::Result<Rec>>,
    each: &mut dyn FnMut(&Rec, Change),
) -> anyhow::Result<()> {
    let mut next_a = a.next().transpose()?;
    let mut next_b = b.next().transpose()?;
    loop {
        match (&next_a, &next_b) {
            (None, None) => return Ok(()),
            (Some(x), None) => {
                each(x, Change::Removed);
                next_a = a.next().transpose()?;
            }
            (None, Some(y)) => {
                each(y, Change::Added);
                next_b = b.next().transpose()?;
            }
            (Some(x), Some(y)) => match x.key.cmp(&y.key) {
                std::cmp::Ordering::Less => {
                    each(x, Change::Removed);
                    next_a = a.next().transpose()?;
                }
                std::cmp::Ordering::Greater => {
                    each(y, Change::Added);
                    next_b = b.next().transpose()?;
                }
                std::cmp::Ordering::Equal => {
                    if let Some(c) = compare(x, y) {
                        each(y, c);
                    }
                    next_a = a.next().transpose()?;
                    next_b = b.next().transpose()?;
                }
            },
        }
    }
}

/// The live keys of a backup, in key order.
fn backup_side(
    settings: &Settings,
    spec: &std::path::Path,
    prefix: &[u8],
) -> anyhow::Result<(String, i64, impl Iterator<Item = anyhow::Result<Rec>>)> {
    let backup = super::open_backup(settings, spec)?;
    let ask = Ask {
        revision: None,
        prefix: prefix.to_vec(),
        values: true,
    };
    let (scan, sorted) = keyspace::scan(&backup, &ask, &mut |_, _| 0)?;
    let live = sorted.filter_map(|r| match r {
        Ok(r) if r.tomb => None,
        Ok(r) => Some(Ok(r)),
        Err(e) => Some(Err(with_hint(
            anyhow::Error::from(e).context("cannot read a sort run back"),
            "free space beside the backup copy (--backup-dir, or TMPDIR)",
        ))),
    });
    Ok((backup.shown.clone(), scan.revision, live))
}

/// The end of the range of keys that start with `prefix` (etcd's `GetPrefixRangeEnd`); for
/// `""`, `"\0"`: every key.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The live etcd read in pages at the revision of the first page.
struct LivePages {
    session: Session,
    next: Vec<u8>,
    end: Vec<u8>,
    revision: i64,
    buf: VecDeque<Rec>,
    done: bool,
    limit: i64,
}

impl LivePages {
    fn fill(&mut self) -> anyhow::Result<()> {
        loop {
            let got = self.session.range_page(
                self.next.clone(),
                self.end.clone(),
                self.revision,
                self.limit,
            );
            let (rev, kvs, more) = match got {
                Ok(page) => page,
                Err(e) if self.limit > 1 && e.to_string().contains("message") => {
                    self.limit /= 2;
                    continue;
                }
                Err(e) => {
                    return Err(with_hint(
                        e,
                        "a compaction past the read's revision stops it: run the diff again",
                    ))
                }
            };
            if self.revision == 0 {
                self.revision = rev;
            }
            if let Some(last) = kvs.last() {
                self.next = last.key().to_vec();
                self.next.push(0);
            }
            self.done = !more || kvs.is_empty();
            self.buf.extend(kvs.iter().map(|kv| Rec {
                key: kv.key().to_vec(),
                main: kv.mod_revision(),
                create: kv.create_revision(),
                version: kv.version(),
                lease: kv.lease(),
                value_len: kv.value().len() as u64,
                value: kv.value().to_vec(),
                ..Rec::default()
            }));
            return Ok(());
        }
    }
}

impl Iterator for LivePages {
    type Item = anyhow::Result<Rec>;
    fn next(&mut self) -> Option<anyhow::Result<Rec>> {
        if self.buf.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

/// Connection limits of the live read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub dial: std::time::Duration,
    pub stall: std::time::Duration,
    pub total: std::time::Duration,
}

fn live_side(
    settings: &Settings,
    endpoint: Option<&str>,
    limits: Limits,
    prefix: &[u8],
) -> anyhow::Result<LivePages> {
    let Some(endpoint) = endpoint.or(settings.endpoints.value.first().map(String::as_str)) else {
        return Err(anyhow!("no etcd endpoint to compare with"))
            .hint("pass --endpoints https://HOST:PORT (and --cacert, --cert, --key)");
    };
    let tls_files = TlsFiles {
        cacert: settings.cacert.value.clone(),
        cert: settings.cert.value.clone(),
        key: settings.key.value.clone(),
    };
    let tls = if endpoint.starts_with("http://") {
        None
    } else {
        Some(etcd::load_tls(&tls_files).map_err(|e| {
            with_hint(
                e,
                "pass the files with --cacert/--cert/--key (or ETCDCTL_CACERT, ETCDCTL_CERT, \
                 ETCDCTL_KEY); on a kubeadm node they are in /etc/kubernetes/pki/etcd/",
            )
        })?)
    };
    let connector = Connector {
        tls,
        config: ConnectConfig {
            tls: tls_files,
            dial_timeout: limits.dial,
            stall_timeout: limits.stall,
        },
        run_timeout: limits.total,
        deadline: Instant::now() + limits.total,
    };
    let endpoint = etcd::normalize_endpoint(endpoint)?;
    let session = connector
        .session(&endpoint)
        .hint("check --endpoints and the certificates (`etcd-backup health` tells more)")?;
    let mut pages = LivePages {
        session,
        next: if prefix.is_empty() {
            vec![0]
        } else {
            prefix.to_vec()
        },
        end: prefix_end(prefix),
        revision: 0,
        buf: VecDeque::new(),
        done: false,
        limit: PAGE,
    };
    pages.fill()?;
    Ok(pages)
}

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &DiffArgs,
) -> anyhow::Result<ExitStatus> {
    let prefix = args.prefix.as_bytes();
    let (a_shown, a_rev, a) = backup_side(settings, &args.a, prefix)?;
    let json_out = printer.format == OutputFormat::Json;
    let mut summary: BTreeMap<(String, String), Counts> = BTreeMap::new();
    let mut listed = Vec::new();
    let mut first = true;
    let mut each = |rec: &Rec, change: Change, b_shown: &str, b_rev: i64| {
        let k = key::parse(&rec.key);
        let (group, resource) = k
            .as_ref()
            .map_or((String::new(), "(other keys)".to_string()), |k| {
                (k.group_shown().to_string(), k.resource.to_string())
            });
        let c = summary
            .entry((group.clone(), resource.clone()))
            .or_default();
        match change {
            Change::Added => c.added += 1,
            Change::Removed => c.removed += 1,
            Change::Changed => c.changed += 1,
            Change::Metadata => {
                c.changed += 1;
                c.metadata_only += 1
            }
        }
        let shown = String::from_utf8_lossy(&rec.key).into_owned();
        if json_out {
            if first {
                printer.data(format!(
                    "{{\"a\":{},\"a_revision\":{a_rev},\"b\":{},\"b_revision\":{b_rev},\"changes\":[",
                    json!(a_shown),
                    json!(b_shown)
                ));
            }
            let mut entry = json!({"key": shown, "change": change.name(), "group": group,
                                   "resource": resource});
            if let Some(k) = &k {
                entry["namespace"] = json!(k.namespace);
                entry["name"] = json!(k.name);
            }
            if matches!(change, Change::Changed | Change::Metadata) {
                entry["detail"] = json!(if change == Change::Metadata {
                    "metadata"
                } else {
                    "value"
                });
            }
            printer.data(format!("{}{entry}", if first { "" } else { "," }));
        } else if listed.len() < LISTED {
            listed.push((change, shown));
        }
        first = false;
    };
    let (b_shown, b_rev) = if args.live {
        let limits = Limits {
            dial: args.dial_timeout,
            stall: args.stall_timeout,
            total: args.timeout,
        };
        let pages = live_side(settings, None, limits, prefix)?;
        let (shown, rev) = (pages.session.endpoint().to_string(), pages.revision);
        merge(a, pages, &mut |r, c| each(r, c, &shown, rev))?;
        (shown, rev)
    } else {
        let spec = args
            .b
            .as_deref()
            .ok_or_else(|| anyhow!("diff needs B or --live"))?;
        let (shown, rev, b) = backup_side(settings, spec, prefix)?;
        merge(a, b, &mut |r, c| each(r, c, &shown, rev))?;
        (shown, rev)
    };
    let rows: Vec<serde_json::Value> = summary
        .iter()
        .map(|((g, r), c)| {
            json!({"group": g, "resource": r, "added": c.added, "removed": c.removed,
                   "changed": c.changed, "metadata_only": c.metadata_only})
        })
        .collect();
    if json_out {
        if first {
            printer.data(format!(
                "{{\"a\":{},\"a_revision\":{a_rev},\"b\":{},\"b_revision\":{b_rev},\"changes\":[",
                json!(a_shown),
                json!(b_shown)
            ));
        }
        printer.data(format!("],\"summary\":{}}}", serde_json::Value::from(rows)));
    } else {
        print_table(
            printer, &a_shown, a_rev, &b_shown, b_rev, &summary, &listed, args.live,
        );
    }
    Ok(if summary.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// For the node restore's plan and prompt: what restoring `snapshot` (a plain file) would do to
/// the live etcd at `endpoint`, in one sentence ("restoring will remove 3 namespaces and 41
/// pods created since, bring back …, and revert 12 deployments").
pub(crate) fn restore_summary(
    settings: &Settings,
    snapshot: &std::path::Path,
    endpoint: &str,
) -> anyhow::Result<String> {
    let (_, _, a) = backup_side(settings, snapshot, b"")?;
    let limits = Limits {
        dial: std::time::Duration::from_secs(2),
        stall: std::time::Duration::from_secs(60),
        total: std::time::Duration::from_secs(300),
    };
    let live = live_side(settings, Some(endpoint), limits, b"")?;
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    merge(a, live, &mut |rec, change| {
        let name =
            key::parse(&rec.key).map_or("other keys".to_string(), |k| k.resource.to_string());
        let c = counts.entry(name).or_default();
        match change {
            Change::Added => c.added += 1,
            Change::Removed => c.removed += 1,
            Change::Changed | Change::Metadata => c.changed += 1,
        }
    })?;
    Ok(summary_sentence(&counts))
}

/// "restoring will remove 3 namespaces and 41 pods created since, bring back 2 secrets deleted
/// since, and revert 12 deployments": the most numerous resources first, at most 4 named each.
pub(crate) fn summary_sentence(counts: &BTreeMap<String, Counts>) -> String {
    let part = |pick: fn(&Counts) -> u64| -> Option<String> {
        let mut v: Vec<(u64, &String)> = counts
            .iter()
            .map(|(r, c)| (pick(c), r))
            .filter(|(n, _)| *n > 0)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let mut names: Vec<String> = v.iter().take(4).map(|(n, r)| format!("{n} {r}")).collect();
        let rest: u64 = v.iter().skip(4).map(|(n, _)| n).sum();
        if rest > 0 {
            names.push(format!("{rest} other keys"));
        }
        Some(match names.len() {
            1 => names.remove(0),
            _ => {
                let last = names.pop().unwrap_or_default();
                format!("{} and {last}", names.join(", "))
            }
        })
    };
    let parts: Vec<String> = [
        part(|c| c.added).map(|p| format!("remove {p} created since")),
        part(|c| c.removed).map(|p| format!("bring back {p} deleted since")),
        part(|c| c.changed).map(|p| format!("revert {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    match parts.len() {
        0 => "restoring changes no key: the live etcd holds what the snapshot holds".to_string(),
        1 => format!("restoring will {}", parts[0]),
        _ => {
            let (last, first) = parts.split_last().unwrap_or((&parts[0], &[]));
            format!("restoring will {}, and {last}", first.join(", "))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    printer: &Printer,
    a: &str,
    a_rev: i64,
    b: &str,
    b_rev: i64,
    summary: &BTreeMap<(String, String), Counts>,
    listed: &[(Change, String)],
    live: bool,
) {
    printer.data(format!("A  {a} at revision {a_rev}"));
    printer.data(format!(
        "B  {b} at revision {b_rev}{}",
        if live { " (live)" } else { "" }
    ));
    if summary.is_empty() {
        printer.data("no differences");
        return;
    }
    let total = summary.values().fold(Counts::default(), |mut t, c| {
        t.added += c.added;
        t.removed += c.removed;
        t.changed += c.changed;
        t
    });
    if live {
        printer.data(format!(
            "restoring A would remove {} keys created since, bring back {} deleted and revert {} \
             changed",
            total.added, total.removed, total.changed
        ));
    }
    printer.data("");
    let mut rows = vec![["GROUP", "RESOURCE", "ADDED", "REMOVED", "CHANGED"].map(String::from)];
    for ((g, r), c) in summary {
        rows.push([
            g.clone(),
            r.clone(),
            c.added.to_string(),
            c.removed.to_string(),
            c.changed.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i >= 2 {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        printer.data(cells.join("  ").trim_end());
    }
    printer.data("");
    for (change, key) in listed {
        let mark = match change {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed | Change::Metadata => '~',
        };
        printer.data(format!("{mark} {key}"));
    }
    let n = total.added + total.removed + total.changed;
    if n as usize > listed.len() {
        printer.data(format!(
            "… {} more (-w json lists every change)",
            n as usize - listed.len()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_sentence() {
        let mut m = BTreeMap::new();
        let c = |added, removed, changed| Counts {
            added,
            removed,
            changed,
            metadata_only: 0,
        };
        assert_eq!(
            summary_sentence(&m),
            "restoring changes no key: the live etcd holds what the snapshot holds"
        );
        m.insert("pods".to_string(), c(41, 0, 2));
        m.insert("namespaces".to_string(), c(3, 0, 0));
        m.insert("deployments".to_string(), c(0, 0, 12));
        assert_eq!(
            summary_sentence(&m),
            "restoring will remove 41 pods and 3 namespaces created since, and revert 12 \
             deployments and 2 pods"
        );
        m.insert("secrets".to_string(), c(0, 2, 0));
        assert!(summary_sentence(&m).contains(", bring back 2 secrets deleted since, and revert"));
    }

    #[test]
    fn a_change_of_metadata_alone_is_told_apart() {
        let rec = |value: &str, main| Rec {
            key: b"/registry/configmaps/a/b".to_vec(),
            value: value.as_bytes().to_vec(),
            main,
            create: 1,
            version: 1,
            ..Rec::default()
        };
        let v1 = r#"{"kind":"ConfigMap","metadata":{"name":"b","resourceVersion":"1"},"data":{"x":"1"}}"#;
        let v2 =
            r#"{"kind":"ConfigMap","metadata":{"name":"b","labels":{"l":"1"}},"data":{"x":"1"}}"#;
        let v3 = r#"{"kind":"ConfigMap","metadata":{"name":"b"},"data":{"x":"2"}}"#;
        assert_eq!(compare(&rec(v1, 2), &rec(v2, 3)), Some(Change::Metadata));
        assert_eq!(compare(&rec(v1, 2), &rec(v3, 3)), Some(Change::Changed));
        assert_eq!(compare(&rec(v1, 2), &rec(v1, 3)), Some(Change::Metadata));
        assert_eq!(compare(&rec(v1, 2), &rec(v1, 2)), None);
        // Encrypted: nobody can tell, so it is a change.
        let e1 = "k8s:enc:aescbc:v1:key1:aaaa";
        let e2 = "k8s:enc:aescbc:v1:key1:bbbb";
        assert_eq!(compare(&rec(e1, 2), &rec(e2, 3)), Some(Change::Changed));
    }

    #[test]
    fn prefix_ends_like_etcd() {
        assert_eq!(prefix_end(b""), vec![0]);
        assert_eq!(prefix_end(b"/a"), b"/b".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
