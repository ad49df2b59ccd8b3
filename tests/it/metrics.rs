//! `--metrics-file` and `--log-format json` against real etcd 3.5.1, judged by promtool from
//! Debian's prometheus package: every file the binary writes passes `promtool check metrics`
//! with no lint output, and is parsed to check its values. The alert rules in
//! docs/monitoring.md pass `promtool check rules` and fire as documented under
//! `promtool test rules`.

use crate::checkers;
use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::Value;

/// Samples of a metrics file: `name{labels}` → value.
type Samples = BTreeMap<String, f64>;

/// Reads the metrics file, has promtool check it (exit 0, no lint output), and parses it.
fn checked_metrics(file: &Path) -> Samples {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if let Err(e) = checkers::promtool_check_metrics(&text) {
        panic!(
            "promtool refused {}:\n{e}\n--- file\n{text}",
            file.display()
        );
    }
    let mut samples = Samples::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let old = samples.insert(series.to_string(), value.parse().unwrap());
        assert!(old.is_none(), "{series} twice in\n{text}");
    }
    samples
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One-hot `etcd_backup_last_result`: the result whose sample is 1 (and all four present).
fn result_of(m: &Samples) -> String {
    let mut set = Vec::new();
    for r in ["success", "partial", "failure", "skipped"] {
        let v = m[&format!("etcd_backup_last_result{{result=\"{r}\"}}")];
        assert!(v == 0.0 || v == 1.0, "{m:?}");
        if v == 1.0 {
            set.push(r.to_string());
        }
    }
    assert_eq!(set.len(), 1, "{m:?}");
    set.remove(0)
}

/// A textfile collector dir of its own (0755, as node-exporter's is) and the file in it.
fn textfile(tmp: &Path) -> (PathBuf, PathBuf) {
    let dir = tmp.join("textfile_collector");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.join("etcd_backup.prom");
    (dir, file)
}

/// Runs the command under umask 077 (as the systemd unit does), so that the file's 0644 is
/// set explicitly rather than inherited.
fn run(cmd: &mut Command) -> Output {
    // SAFETY: the closure runs in the child between fork and exec and only calls umask(2),
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// `save` pointed at a TLS endpoint where nothing listens, with real certificates.
fn dead_save_cmd(pki: &Pki, backups: &Path) -> Command {
    let mut cmd = backup_cmd();
    cmd.arg("--endpoints")
        .arg(format!("https://127.0.0.1:{}", free_port()))
        .arg("--cacert")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&pki.server_crt)
        .arg("--key")
        .arg(&pki.server_key)
        .arg("--backup-dir")
        .arg(backups)
        .args(["save", "--dial-timeout", "2s"]);
    cmd
}

fn sidecar(path: &Path) -> Value {
    let mut s = path.as_os_str().to_owned();
    s.push(".json");
    serde_json::from_slice(&fs::read(PathBuf::from(s)).unwrap()).unwrap()
}

#[test]
fn a_successful_save_writes_metrics_promtool_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(50, 1024);
    let backups = tmp.path().join("backups");
    let store = tmp.path().join("store");
    fs::create_dir(&store).unwrap();
    let (dir, file) = textfile(tmp.path());

    let before = now();
    let out = run(save_cmd(&etcd, &backups)
        .arg("--metrics-file")
        .arg(&file)
        .args(["save", "--prune", "--remote"])
        .arg(format!("file://{}/", store.display())));
    let after = now();
    assert!(out.status.success(), "{}", describe(&out));
    let path = PathBuf::from(
        String::from_utf8(out.stdout.clone())
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    );
    let size = fs::metadata(&path).unwrap().len();
    let sc = sidecar(&path);

    // 0644 whatever the umask, and nothing else left in the collector's dir.
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(list_dir(&dir), ["etcd_backup.prom"]);
    let m = checked_metrics(&file);
    assert_eq!(result_of(&m), "success");
    assert_eq!(m["etcd_backup_last_exit_code"], 0.0);
    assert_eq!(m["etcd_backup_failures_total"], 0.0);
    let attempt = m["etcd_backup_last_attempt_timestamp_seconds"];
    let success = m["etcd_backup_last_success_timestamp_seconds"];
    assert!(
        before - 0.01 <= attempt && attempt <= success && success <= after + 0.01,
        "{m:?}"
    );
    let duration = m["etcd_backup_last_duration_seconds"];
    assert!(duration > 0.0 && duration <= after - before + 0.01, "{m:?}");
    assert_eq!(m["etcd_backup_last_size_bytes"], size as f64);
    assert_eq!(
        m["etcd_backup_last_revision"],
        sc["revision"].as_f64().unwrap()
    );
    assert_eq!(m["etcd_backup_backups{location=\"local\"}"], 1.0);
    assert_eq!(
        m["etcd_backup_backups_size_bytes{location=\"local\"}"],
        size as f64
    );
    // save --prune --remote listed the store anyway: its set is counted too.
    assert_eq!(m["etcd_backup_backups{location=\"remote\"}"], 1.0);
    assert_eq!(
        m["etcd_backup_backups_size_bytes{location=\"remote\"}"],
        size as f64
    );
    // The first run has no previous file to carry the counter over from, and says so.
    assert!(
        stderr(&out).contains("no previous metrics file"),
        "{}",
        describe(&out)
    );

    // Every metric docs/monitoring.md documents is written, and nothing it does not document.
    let written: std::collections::BTreeSet<String> = m
        .keys()
        .map(|k| k.split('{').next().unwrap().to_string())
        .collect();
    let documented: std::collections::BTreeSet<String> = monitoring_doc()
        .lines()
        .filter_map(|l| l.strip_prefix("| `etcd_backup_"))
        .map(|l| format!("etcd_backup_{}", l.split('`').next().unwrap()))
        .collect();
    assert_eq!(written, documented);
}

#[test]
fn a_save_with_etcd_down_writes_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let backups = tmp.path().join("backups");
    let (_, file) = textfile(tmp.path());
    let out = run(dead_save_cmd(&pki, &backups).env("ETCD_BACKUP_METRICS_FILE", &file));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("error: "), "{}", describe(&out));

    let m = checked_metrics(&file);
    assert_eq!(result_of(&m), "failure");
    assert_eq!(m["etcd_backup_last_exit_code"], 2.0);
    assert_eq!(m["etcd_backup_failures_total"], 1.0);
    assert_eq!(m["etcd_backup_last_success_timestamp_seconds"], 0.0);
    assert!(!m.contains_key("etcd_backup_last_size_bytes"), "{m:?}");
    assert!(!m.contains_key("etcd_backup_last_revision"), "{m:?}");
    assert_eq!(m["etcd_backup_backups{location=\"local\"}"], 0.0);
    assert!(m["etcd_backup_last_attempt_timestamp_seconds"] > now() - 60.0);
}

#[test]
fn the_failures_counter_and_the_last_success_survive_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("backups");
    let (_, file) = textfile(tmp.path());
    let good = || {
        let out = run(save_cmd(&etcd, &backups)
            .arg("--metrics-file")
            .arg(&file)
            .arg("save"));
        assert!(out.status.success(), "{}", describe(&out));
        checked_metrics(&file)
    };
    let bad = || {
        let out = run(dead_save_cmd(&pki, &backups).env("ETCD_BACKUP_METRICS_FILE", &file));
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        (checked_metrics(&file), stderr(&out))
    };

    let first = good();
    assert_eq!(first["etcd_backup_failures_total"], 0.0);
    let (second, _) = bad();
    assert_eq!(second["etcd_backup_failures_total"], 1.0);
    assert_eq!(result_of(&second), "failure");
    // What the failed run did not change is carried over from the previous file.
    for kept in [
        "etcd_backup_last_success_timestamp_seconds",
        "etcd_backup_last_size_bytes",
        "etcd_backup_last_revision",
    ] {
        assert_eq!(second[kept], first[kept], "{kept}");
    }
    assert!(
        second["etcd_backup_last_attempt_timestamp_seconds"]
            > first["etcd_backup_last_attempt_timestamp_seconds"]
    );

    // Bad flags found after parsing fail the run too, before anything else happens.
    let out = run(save_cmd(&etcd, &backups)
        .arg("--metrics-file")
        .arg(&file)
        .args(["save", "--keep-daily", "3"]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let third = checked_metrics(&file);
    assert_eq!(third["etcd_backup_failures_total"], 2.0);
    assert_eq!(third["etcd_backup_backups{location=\"local\"}"], 1.0);

    // A success after failures keeps the count: a counter never goes down. (Backup names have
    // one-second resolution.)
    std::thread::sleep(Duration::from_millis(1100));
    etcd.put_bulk(20, 512);
    let fourth = good();
    assert_eq!(fourth["etcd_backup_failures_total"], 2.0);
    assert_eq!(result_of(&fourth), "success");
    assert!(
        fourth["etcd_backup_last_success_timestamp_seconds"]
            > first["etcd_backup_last_success_timestamp_seconds"]
    );
    assert!(fourth["etcd_backup_last_revision"] > first["etcd_backup_last_revision"]);
    assert_eq!(fourth["etcd_backup_backups{location=\"local\"}"], 2.0);

    // A garbled file restarts the counter at 0, with a warning that says so.
    fs::write(&file, "etcd_backup_failures_total{oops 3\n").unwrap();
    let (fifth, err) = bad();
    assert!(
        err.contains("etcd_backup_failures_total restarts at 0"),
        "{err}"
    );
    assert_eq!(fifth["etcd_backup_failures_total"], 1.0);
    assert_eq!(fifth["etcd_backup_last_success_timestamp_seconds"], 0.0);
}

#[test]
fn a_skip_by_skip_unless_leader_is_its_own_result() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let dist = v35();
    let leader = Etcd::start(&dist, &pki, tmp.path());
    let peer_port = free_port();
    let peer_url = format!("https://127.0.0.1:{peer_port}");
    let out = leader.ctl(&["member", "add", "node2", "--peer-urls", &peer_url]);
    assert!(out.status.success(), "{}", describe(&out));
    let follower = Etcd::start_with(
        &dist,
        &pki,
        tmp.path(),
        &Member {
            name: "node2".to_string(),
            initial_cluster: Some(format!(
                "{}={},node2={peer_url}",
                leader.name, leader.peer_url
            )),
            peer_port: Some(peer_port),
            ..Member::default()
        },
    );
    let backups = tmp.path().join("b");
    let (_, file) = textfile(tmp.path());
    let save = |etcd: &Etcd| {
        let out = run(save_cmd(etcd, &backups)
            .arg("--metrics-file")
            .arg(&file)
            .args(["save", "--skip-unless-leader"]));
        assert!(out.status.success(), "{}", describe(&out));
        checked_metrics(&file)
    };
    let saved = save(&leader);
    assert_eq!(result_of(&saved), "success");
    let skipped = save(&follower);
    assert_eq!(result_of(&skipped), "skipped");
    assert_eq!(skipped["etcd_backup_last_exit_code"], 0.0);
    assert_eq!(skipped["etcd_backup_failures_total"], 0.0);
    assert_eq!(
        skipped["etcd_backup_last_success_timestamp_seconds"],
        saved["etcd_backup_last_success_timestamp_seconds"]
    );
    assert_eq!(
        skipped["etcd_backup_last_revision"],
        saved["etcd_backup_last_revision"]
    );
}

#[test]
fn json_log_format_gives_only_json_lines_with_the_error_and_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let backups = tmp.path().join("backups");
    let (_, file) = textfile(tmp.path());
    // -vv and RUST_LOG=debug: the details and the libraries' tracing logs are JSON too.
    let out = run(dead_save_cmd(&pki, &backups)
        .args(["--log-format", "json", "-vv", "--metrics-file"])
        .arg(&file)
        .env("RUST_LOG", "debug"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let err = stderr(&out);
    let lines: Vec<Value> = err
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))
        })
        .collect();
    assert!(lines.len() >= 3, "{err}");
    for v in &lines {
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {v}"));
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(keys[..3], ["ts", "level", "msg"], "{v}");
        for k in &keys[3..] {
            assert!(["causes", "hint", "target"].contains(k), "{v}");
        }
        let ts = o["ts"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{v}");
        assert!(
            ["error", "warn", "info", "debug"].contains(&o["level"].as_str().unwrap()),
            "{v}"
        );
        assert!(o["msg"].is_string(), "{v}");
    }
    let errors: Vec<&Value> = lines.iter().filter(|v| v["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "{err}");
    let e = errors[0];
    assert!(e["msg"].as_str().unwrap().contains("127.0.0.1"), "{e}");
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("check that etcd is running"),
        "{e}"
    );
    // The metrics-file warning of a first run and a library's debug log, as JSON.
    assert!(
        lines.iter().any(|v| v["level"] == "warn"
            && v["msg"]
                .as_str()
                .unwrap()
                .contains("no previous metrics file")),
        "{err}"
    );
    assert!(lines.iter().any(|v| v.get("target").is_some()), "{err}");

    // A command line clap refuses is a JSON line too.
    let out = backup_cmd()
        .args(["--log-format=json", "save", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let v: Value = serde_json::from_str(stderr(&out).trim_end()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("--bogus"), "{v}");
    assert!(v["hint"].is_string(), "{v}");
}

fn monitoring_doc() -> String {
    fs::read_to_string(checkers::project_root().join("docs/monitoring.md")).unwrap()
}

/// The fenced block that follows `<!-- NAME -->` in docs/monitoring.md.
fn doc_block(name: &str) -> String {
    let doc = monitoring_doc();
    let marker = format!("<!-- {name} -->");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} missing from docs/monitoring.md"));
    let rest = &doc[start + marker.len()..];
    let open = rest.find("```").unwrap();
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").unwrap() + 1].to_string()
}

fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new(checkers::promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn the_documented_alert_rules_pass_promtool_and_fire_as_documented() {
    let tmp = tempfile::tempdir().unwrap();
    for (block, rules) in [("rules", 3), ("rules-ha", 1)] {
        let file = format!("{block}.yml");
        fs::write(tmp.path().join(&file), doc_block(block)).unwrap();
        let out = promtool(&["check", "rules", &file], tmp.path());
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            checkers::describe("promtool check rules", &out)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("SUCCESS: {rules} rules found")),
            "{said}"
        );
    }

    fs::write(tmp.path().join("rules_test.yml"), RULES_TEST).unwrap();
    let out = promtool(&["test", "rules", "rules_test.yml"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        checkers::describe("promtool test rules", &out)
    );
}

/// Scenarios for `promtool test rules` of docs/monitoring.md's main rules, in its own format. Time starts at 0 (the Unix epoch)
/// with a sample every minute, as scrapes would give; `AxN` is A repeated N more times. The
/// `instance` and `job` labels are what a textfile sample gets when node-exporter is scraped.
const RULES_TEST: &str = r#"rule_files:
  - rules.yml
evaluation_interval: 1m
tests:
  # cp1 saved at 0 and then nothing: "no success in 5h" fires once 5h have passed, and then
  # the rule's `for`. cp2 saves every 4h and never alerts.
  - interval: 1m
    input_series:
      - series: 'etcd_backup_last_success_timestamp_seconds{instance="cp1:9100",job="node"}'
        values: '0x600'
      - series: 'etcd_backup_last_success_timestamp_seconds{instance="cp2:9100",job="node"}'
        values: '0x239 14400x240 28800x120'
    alert_rule_test:
      - eval_time: 5h10m
        alertname: EtcdBackupTooOld
        exp_alerts: []
      - eval_time: 5h20m
        alertname: EtcdBackupTooOld
        exp_alerts:
          - exp_labels:
              severity: critical
              instance: cp1:9100
              job: node
            exp_annotations:
              summary: "No successful etcd backup on cp1:9100 for 5h 20m 0s"
              description: "etcd-backup save has not saved a verified backup on cp1:9100 for more than 5 hours. See `journalctl -u etcd-backup` (or the cron log) and `etcd-backup status` on that node."
  # cp1's runs start failing at 1h and fail again at 2h: "last run failed" fires at once, the
  # counter rule once two runs failed within 6h.
  - interval: 1m
    input_series:
      - series: 'etcd_backup_last_result{instance="cp1:9100",job="node",result="success"}'
        values: '1x60 0x180'
      - series: 'etcd_backup_last_result{instance="cp1:9100",job="node",result="failure"}'
        values: '0x60 1x180'
      - series: 'etcd_backup_failures_total{instance="cp1:9100",job="node"}'
        values: '0x60 1x59 2x120'
    alert_rule_test:
      - eval_time: 50m
        alertname: EtcdBackupFailed
        exp_alerts: []
      - eval_time: 1h30m
        alertname: EtcdBackupFailed
        exp_alerts:
          - exp_labels:
              severity: warning
              instance: cp1:9100
              job: node
              result: failure
            exp_annotations:
              summary: "The last etcd backup run on cp1:9100 failed"
              description: "The last etcd-backup save run on cp1:9100 ended with result failure (failure: no backup saved, or the upload failed; partial: saved, but pruning failed). The error is in `journalctl -u etcd-backup` (or the cron log) on that node."
      - eval_time: 1h30m
        alertname: EtcdBackupFailing
        exp_alerts: []
      - eval_time: 2h30m
        alertname: EtcdBackupFailing
        exp_alerts:
          - exp_labels:
              severity: warning
              instance: cp1:9100
              job: node
            exp_annotations:
              summary: "etcd backups keep failing on cp1:9100"
              description: "2 etcd-backup save runs failed on cp1:9100 in the last 6 hours."
"#;

/// Issue 13: a backup named in the future (a clock that was ahead, a renamed copy) is counted in
/// `etcd_backup_suspect_backups`, which promtool accepts; a later save with the clock right
/// keeps both and says so.
#[test]
fn suspect_backups_are_counted_and_promtool_accepts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(10, 512);
    let backups = tmp.path().join("backups");
    let (_dir, file) = textfile(tmp.path());
    let out = run(save_cmd(&etcd, &backups)
        .arg("--metrics-file")
        .arg(&file)
        .arg("save"));
    assert!(out.status.success(), "{}", describe(&out));
    let m = checked_metrics(&file);
    assert_eq!(m["etcd_backup_suspect_backups{location=\"local\"}"], 0.0);

    // The same backup under a name two hours ahead.
    let first = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    let ahead = etcd_backup::backup::catalog::backup_file_name(
        chrono::Utc::now() + chrono::Duration::hours(2),
        None,
    );
    fs::copy(&first, backups.join(&ahead)).unwrap();
    fs::copy(
        etcd_backup::backup::catalog::sidecar_path(&first),
        backups.join(format!("{ahead}.json")),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let out = run(save_cmd(&etcd, &backups)
        .arg("--metrics-file")
        .arg(&file)
        .args(["save", "--prune", "--keep-last", "1"]));
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let second = PathBuf::from(stdout.lines().next().unwrap());
    assert!(second.exists(), "{}", describe(&out));
    let m = checked_metrics(&file);
    assert_eq!(result_of(&m), "success");
    assert_eq!(m["etcd_backup_suspect_backups{location=\"local\"}"], 1.0);
    assert_eq!(m["etcd_backup_backups{location=\"local\"}"], 2.0, "{m:?}");
}
