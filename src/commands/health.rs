//! `etcd-backup health`: every member's state, whether they agree on the data, the verdict and
//! the action to take; as a table, JSON, and gauges in a textfile for node-exporter.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use serde_json::json;

use super::repair;
use crate::backup::catalog;
use crate::cli::HealthArgs;
use crate::cli::OutputFormat;
use crate::cluster::health::{self, Member, Problem, Report, Verdict};
use crate::cluster::Connector;
use crate::diagnostics::{exit, with_hint, HintExt};
use crate::etcd::{self, ConnectConfig, EtcdError, TlsFiles};
use crate::fsutil;
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &HealthArgs,
    metrics_file: Option<&Path>,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    let connector = connector(settings, args)?;
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    let quota = settings
        .manifest
        .as_ref()
        .and_then(|m| m.flag("quota-backend-bytes"))
        .and_then(|q| q.parse::<u64>().ok());
    let report = health::gather(&endpoints, &listers(settings), &connector, quota).hint(
        "check that etcd runs on this node and that --endpoints and the certificates are right; \
         `etcd-backup health --endpoints URL` can ask another member",
    )?;
    let decision = match args.repair {
        true => Some(repair::decide(settings, args, &report, printer)?),
        false => None,
    };
    let restore_from = match &report.verdict {
        Verdict::QuorumLost { .. } => newest_backup(&settings.backup_dir),
        _ => None,
    };
    match printer.format {
        OutputFormat::Json => {
            let mut v = to_json(&report, restore_from.as_deref());
            if let Some(d) = &decision {
                v["repair"] = repair::to_json(d);
            }
            printer.json(&v)
        }
        _ => {
            print_table(&report, restore_from.as_deref(), printer);
            if let Some(d) = &decision {
                printer.data(format!("repair: {} ({})", d.action.label(), d.reason));
            }
        }
    }
    let outcome = match &decision {
        Some(d) => repair::act(settings, args, d, printer),
        None => Ok(None),
    };
    if let Some(file) = metrics_file {
        let failed = !matches!(outcome, Ok(None) | Ok(Some(exit::SUCCESS)));
        let extra = decision.as_ref().map(|d| repair::metrics(d, failed));
        write_metrics(file, &report, extra.as_deref()).hint(
            "point --metrics-file at a .prom file of its own in an existing directory, e.g. \
             /var/lib/node_exporter/textfile_collector/etcd_health.prom",
        )?;
        printer.detail(format!("wrote {}", file.display()));
    }
    Ok(match (outcome?, &report.verdict) {
        (Some(status), _) => status,
        (None, Verdict::Healthy) => exit::SUCCESS,
        (None, _) => exit::NO,
    })
}

/// The peer URLs of the manifest's `--initial-cluster` (`name=url,...`), other than this node's
/// own: where the member list is asked when no client endpoint answers.
pub(crate) fn peer_urls(settings: &Settings) -> Vec<String> {
    let Some(m) = &settings.manifest else {
        return Vec::new();
    };
    let own = m.flag("initial-advertise-peer-urls").unwrap_or_default();
    m.flag("initial-cluster")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('=').map(|(_, url)| url.trim().to_string()))
        .filter(|url| !url.is_empty() && !own.split(',').any(|o| o == url))
        .collect()
}

/// The peer listeners asked for the member list when no client endpoint answers: the other
/// members' ([`peer_urls`]), then this node's own. A member that restarted where it cannot reach
/// a quorum (a partition) never serves clients, since etcd waits for a leader to publish itself
/// first, but its peer listener answers with the members it knows.
fn listers(settings: &Settings) -> Vec<String> {
    let mut urls = peer_urls(settings);
    if let Some(own) = settings
        .manifest
        .as_ref()
        .and_then(|m| m.flag("initial-advertise-peer-urls"))
    {
        urls.extend(
            own.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty() && !urls.iter().any(|x| x == u))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    urls
}

fn connector(settings: &Settings, args: &HealthArgs) -> anyhow::Result<Connector> {
    let tls_files = TlsFiles {
        cacert: settings.cacert.value.clone(),
        cert: settings.cert.value.clone(),
        key: settings.key.value.clone(),
    };
    let any_tls = settings
        .endpoints
        .value
        .iter()
        .any(|e| !e.starts_with("http://"));
    let tls = if any_tls {
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
    Ok(Connector {
        tls,
        config: ConnectConfig {
            tls: tls_files,
            dial_timeout: args.dial_timeout,
            stall_timeout: args.stall_timeout,
        },
        run_timeout: args.timeout,
        deadline: Instant::now() + args.timeout,
    })
}

/// The newest backup in the backup dir that is not suspect and has not failed `verify`,
/// verified ones first: what a restore after a lost quorum starts from.
fn newest_backup(dir: &Path) -> Option<String> {
    let backups = catalog::list_backups(dir).ok()?;
    let now = chrono::Utc::now();
    let facts: Vec<_> = backups
        .iter()
        .map(|b| catalog::local_facts(&b.path, b.taken_at))
        .collect();
    let suspect = catalog::suspects(&facts, now);
    let mut good: Vec<(bool, &catalog::Backup)> = backups
        .iter()
        .zip(suspect)
        .filter(|(_, s)| s.is_none())
        .filter_map(|(b, _)| {
            let sc = catalog::read_sidecar(&b.path).ok().flatten();
            match &sc {
                Some(sc) if sc.failed_verification.is_some() => None,
                _ => Some((sc.is_some_and(|s| s.verified()), b)),
            }
        })
        .collect();
    good.sort_by_key(|(verified, b)| std::cmp::Reverse((*verified, b.taken_at)));
    good.first().map(|(_, b)| b.path.display().to_string())
}

fn member_label(m: &Member) -> String {
    let name = if m.info.name.is_empty() {
        "(unstarted)"
    } else {
        &m.info.name
    };
    format!("{name} ({})", catalog::id_hex(m.info.id))
}

/// What to do about one member's problems.
fn member_action(m: &Member, problems: &[Problem]) -> Option<String> {
    let node = if m.info.name.is_empty() {
        "the node with peer URL ".to_string() + &m.info.peer_urls.join(",")
    } else {
        format!("node {}", m.info.name)
    };
    if problems.iter().any(Problem::needs_rejoin) {
        return Some(format!(
            "on {node}: if its etcd will not start or serve (not only unreachable from here), \
             run `etcd-backup member rejoin` there"
        ));
    }
    if problems
        .iter()
        .any(|p| matches!(p, Problem::NearQuota { .. } | Problem::Alarm(_)))
    {
        return Some(
            "free space: compact old revisions, `etcdctl defrag` each member, then `etcdctl \
             alarm disarm`"
                .to_string(),
        );
    }
    None
}

fn verdict_action(report: &Report, restore_from: Option<&str>) -> Option<String> {
    match &report.verdict {
        Verdict::QuorumLost { .. } => Some(match restore_from {
            Some(b) => format!(
                "restore every control-plane node from the same backup: `etcd-backup restore \
                 {b}` on each (newest trusted backup of this node's backup dir)"
            ),
            None => "restore every control-plane node from the same backup with `etcd-backup \
                     restore`; no usable backup was found in the backup dir (try --remote)"
                .to_string(),
        }),
        _ => None,
    }
}

fn print_table(report: &Report, restore_from: Option<&str>, printer: &Printer) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cluster {} ({} members, listed by {}){}",
        catalog::id_hex(report.cluster_id),
        report.members.len(),
        report.listed_by,
        report
            .hash_revision
            .map(|r| format!(", HashKV at revision {r}"))
            .unwrap_or_default()
    );
    let rows: Vec<[String; 8]> = report.members.iter().map(|m| row(report, m)).collect();
    let head = [
        "MEMBER",
        "ENDPOINT",
        "VERSION",
        "ROLE",
        "RAFT",
        "REVISION",
        "DB (IN USE)",
        "HASHKV",
    ];
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| -> String {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, "{c:<w$}  ", w = widths[i]);
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&head));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
    let _ = writeln!(out, "verdict: {}", report.verdict.label());
    if let Verdict::QuorumLost { reason, .. } = &report.verdict {
        let _ = writeln!(out, "  {reason}");
    }
    for m in &report.members {
        let problems = report.verdict.problems_of(m.info.id);
        for p in problems {
            let _ = writeln!(out, "  {}: {}", member_label(m), p.describe());
        }
        if let Some(a) = member_action(m, problems) {
            let _ = writeln!(out, "  -> {a}");
        }
    }
    if let Some(a) = verdict_action(report, restore_from) {
        let _ = writeln!(out, "  -> {a}");
    }
    for line in out.lines() {
        printer.data(line);
    }
}

fn row(report: &Report, m: &Member) -> [String; 8] {
    let endpoint = m.endpoint.clone().unwrap_or_else(|| "-".into());
    let hash = match &m.hash {
        Some(Ok(h)) => format!("{:08x}", h.hash),
        Some(Err(_)) => "error".into(),
        None => "-".into(),
    };
    match &m.status {
        Err(_) => [
            member_label(m),
            endpoint,
            "-".into(),
            if m.info.is_learner {
                "learner, down"
            } else {
                "down"
            }
            .into(),
            "-".into(),
            "-".into(),
            "-".into(),
            hash,
        ],
        Ok(st) => {
            let role = match (m.info.is_learner, st.leader) {
                (true, _) => "learner",
                (false, 0) => "no leader",
                (false, l) if l == m.info.id => "leader",
                _ => "follower",
            };
            let percent = (st.db_size.max(0) as u64).saturating_mul(100) / report.quota.0.max(1);
            [
                member_label(m),
                endpoint,
                st.version.clone(),
                role.into(),
                format!("{}/{}", st.raft_term, st.raft_index),
                st.revision.to_string(),
                format!(
                    "{} ({}) {percent}%",
                    human_bytes(st.db_size.max(0) as u64),
                    human_bytes(st.db_size_in_use.max(0) as u64)
                ),
                hash,
            ]
        }
    }
}

fn problem_json(p: &Problem) -> serde_json::Value {
    let kind = match p {
        Problem::Unreachable(_) => "unreachable",
        Problem::NotStarted => "not_started",
        Problem::NoLeader => "no_leader",
        Problem::Diverged { .. } => "diverged",
        Problem::Alarm(_) => "alarm",
        Problem::Errors(_) => "errors",
        Problem::NearQuota { .. } => "near_quota",
    };
    json!({"kind": kind, "message": p.describe(), "needs_rejoin": p.needs_rejoin()})
}

fn to_json(report: &Report, restore_from: Option<&str>) -> serde_json::Value {
    let members: Vec<_> = report
        .members
        .iter()
        .map(|m| {
            let problems = report.verdict.problems_of(m.info.id);
            let st = m.status.as_ref().ok();
            let hash = m.hash.as_ref().and_then(|h| h.as_ref().ok());
            json!({
                "id": catalog::id_hex(m.info.id),
                "name": m.info.name,
                "peer_urls": m.info.peer_urls,
                "client_urls": m.info.client_urls,
                "is_learner": m.info.is_learner,
                "endpoint": m.endpoint,
                "reachable": st.is_some(),
                "error": m.status.as_ref().err(),
                "version": st.map(|s| s.version.clone()),
                "leader": st.map(|s| catalog::id_hex(s.leader)),
                "is_leader": st.is_some_and(|s| s.leader == m.info.id),
                "raft_term": st.map(|s| s.raft_term),
                "raft_index": st.map(|s| s.raft_index),
                "raft_applied_index": st.map(|s| s.raft_applied_index),
                "revision": st.map(|s| s.revision),
                "db_size": st.map(|s| s.db_size),
                "db_size_in_use": st.map(|s| s.db_size_in_use),
                "hash_kv": hash.map(|h| json!({
                    "revision": h.revision,
                    "compact_revision": h.compact_revision,
                    "hash": h.hash,
                })),
                "hash_error": m.hash.as_ref().and_then(|h| h.as_ref().err()),
                "problems": problems.iter().map(problem_json).collect::<Vec<_>>(),
                "action": member_action(m, problems),
            })
        })
        .collect();
    json!({
        "cluster_id": catalog::id_hex(report.cluster_id),
        "listed_by": report.listed_by,
        "verdict": report.verdict.label(),
        "reason": match &report.verdict {
            Verdict::QuorumLost { reason, .. } => Some(reason),
            _ => None,
        },
        "hash_revision": report.hash_revision,
        "quota_bytes": report.quota.0,
        "quota_source": report.quota.1,
        "alarms": report.alarms.iter().map(|a| json!({
            "member_id": catalog::id_hex(a.member_id),
            "alarm": a.kind,
        })).collect::<Vec<_>>(),
        "members": members,
        "action": verdict_action(report, restore_from),
        "restore_from": restore_from,
    })
}

/// A metric name save writes: a file holding one is save's, and health must not replace it.
const SAVE_METRIC: &str = "etcd_backup_last_attempt_timestamp_seconds";

/// Where health writes its gauges when the metrics file is the shared one (environment or config
/// file), which save writes: `DIR/NAME_health.EXT` beside save's `DIR/NAME.EXT`.
pub(crate) fn beside_save_metrics(save_file: &Path) -> PathBuf {
    let stem = save_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = save_file
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "prom".to_string());
    save_file.with_file_name(format!("{stem}_health.{ext}"))
}

fn write_metrics(file: &Path, report: &Report, extra: Option<&str>) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(file) {
        if old.contains(SAVE_METRIC) {
            return Err(anyhow!(
                "{} holds the metrics of `save`; health would replace them",
                file.display()
            ));
        }
    }
    let mut text = render_metrics(report);
    text.push_str(extra.unwrap_or_default());
    fsutil::write_atomic_mode(file, text.as_bytes(), true, 0o644)?;
    Ok(())
}

fn render_metrics(report: &Report) -> String {
    let mut out = String::new();
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    gauge(
        "etcd_backup_health_last_check_timestamp_seconds",
        "When etcd-backup health last ran (Unix time).",
        vec![(String::new(), now)],
    );
    gauge(
        "etcd_backup_health_verdict",
        "1 for the verdict of the last check: healthy, degraded or quorum_lost.",
        ["healthy", "degraded", "quorum lost"]
            .iter()
            .map(|v| {
                (
                    format!("{{verdict=\"{}\"}}", v.replace(' ', "_")),
                    f64::from(u8::from(report.verdict.label() == *v)),
                )
            })
            .collect(),
    );
    let per_member = |f: &dyn Fn(&Member) -> Option<f64>| -> Vec<(String, f64)> {
        report
            .members
            .iter()
            .filter_map(|m| {
                f(m).map(|v| {
                    (
                        format!(
                            "{{member=\"{}\",name=\"{}\"}}",
                            catalog::id_hex(m.info.id),
                            m.info.name.replace(['"', '\\', '\n'], "_")
                        ),
                        v,
                    )
                })
            })
            .collect()
    };
    let flag = |b: bool| f64::from(u8::from(b));
    gauge(
        "etcd_backup_health_member_up",
        "1 when the member answered endpoint status.",
        per_member(&|m| Some(flag(m.status.is_ok()))),
    );
    gauge(
        "etcd_backup_health_member_has_leader",
        "1 when the member knows a leader.",
        per_member(&|m| Some(flag(m.status.as_ref().is_ok_and(|s| s.leader != 0)))),
    );
    gauge(
        "etcd_backup_health_member_is_leader",
        "1 for the leader.",
        per_member(&|m| Some(flag(m.status.as_ref().is_ok_and(|s| s.leader == m.info.id)))),
    );
    gauge(
        "etcd_backup_health_member_is_learner",
        "1 for a learner (not voting).",
        per_member(&|m| Some(flag(m.info.is_learner))),
    );
    gauge(
        "etcd_backup_health_member_db_size_bytes",
        "Size of the member's db file.",
        per_member(&|m| m.status.as_ref().ok().map(|s| s.db_size as f64)),
    );
    gauge(
        "etcd_backup_health_member_db_size_in_use_bytes",
        "Bytes of the member's db in use (the rest a defragment gives back).",
        per_member(&|m| m.status.as_ref().ok().map(|s| s.db_size_in_use as f64)),
    );
    gauge(
        "etcd_backup_health_member_raft_index",
        "The member's raft index.",
        per_member(&|m| m.status.as_ref().ok().map(|s| s.raft_index as f64)),
    );
    gauge(
        "etcd_backup_health_member_revision",
        "The member's current revision.",
        per_member(&|m| m.status.as_ref().ok().map(|s| s.revision as f64)),
    );
    gauge(
        "etcd_backup_health_member_data_agrees",
        "1 when the member's HashKV equals the majority's at the same revision.",
        per_member(&|m| {
            m.hash.as_ref().and_then(|h| h.as_ref().ok()).map(|_| {
                flag(
                    !report
                        .verdict
                        .problems_of(m.info.id)
                        .iter()
                        .any(|p| matches!(p, Problem::Diverged { .. })),
                )
            })
        }),
    );
    gauge(
        "etcd_backup_health_member_problems",
        "How many problems the check found on the member.",
        per_member(&|m| Some(report.verdict.problems_of(m.info.id).len() as f64)),
    );
    gauge(
        "etcd_backup_health_quota_bytes",
        "The backend quota the db sizes are measured against.",
        vec![(String::new(), report.quota.0 as f64)],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_metrics_go_beside_saves() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            beside_save_metrics(&p(
                "/var/lib/node_exporter/textfile_collector/etcd_backup.prom"
            )),
            p("/var/lib/node_exporter/textfile_collector/etcd_backup_health.prom")
        );
        assert_eq!(beside_save_metrics(&p("m/etcd")), p("m/etcd_health.prom"));
    }
}
