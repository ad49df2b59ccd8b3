//! What packaging/ ships, judged by the real tools: the systemd units by `systemd-analyze verify`,
//! `security` and `calendar`; the Kubernetes CronJob by kubernetes-validate (strict, Kubernetes
//! 1.28 and the newest bundled version); the cron.d file by a parser of its syntax, by our own CLI
//! parser, and by running its command line in bash with a stand-in `logger`. The promtool helper
//! that the metrics tests use is tested here on hand-written good and bad samples. Each checker
//! is also shown a broken input, to prove it is not passing everything.
//!
//! The .deb is built, installed and purged by scripts/test-deb.sh (it needs root).

use crate::checkers;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;
use etcd_backup::cli::{Cli, Command as Sub};

use checkers::{describe, project_root, systemd_analyze};

const SERVICE: &str = "packaging/systemd/etcd-backup.service";
const TIMER: &str = "packaging/systemd/etcd-backup.timer";
const HEALTH_SERVICE: &str = "packaging/systemd/etcd-backup-health.service";
const HEALTH_TIMER: &str = "packaging/systemd/etcd-backup-health.timer";
const DRILL_SERVICE: &str = "packaging/systemd/etcd-backup-drill.service";
const DRILL_TIMER: &str = "packaging/systemd/etcd-backup-drill.timer";
const UNITS: [&str; 6] = [
    SERVICE,
    TIMER,
    HEALTH_SERVICE,
    HEALTH_TIMER,
    DRILL_SERVICE,
    DRILL_TIMER,
];
const CRON: &str = "packaging/cron/etcd-backup";
const CRONJOB: &str = "packaging/kubernetes/cronjob.yaml";

/// Highest `systemd-analyze security` exposure accepted for the service, in tenths (the tool's
/// `--threshold` unit): 2.5 on its 0–10 scale. The unit scores 1.6 with systemd 252.
const SECURITY_THRESHOLD: u32 = 25;

fn read(rel: &str) -> String {
    fs::read_to_string(project_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("etcd-backup-packaging-")
        .tempdir()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// systemd

/// `Key=value` settings of one section of a unit file, in order (keys may repeat).
fn unit_settings(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
        } else if current == section {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not Key=value: {line}"));
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn setting(text: &str, section: &str, key: &str) -> Vec<String> {
    unit_settings(text, section)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// A root for `systemd-analyze verify --root=`: the units at the path the .deb installs them to,
/// unchanged, beside a copy of the host's own units (our units need sysinit.target,
/// timers.target, network-online.target…, and with --root systemd looks only inside the root),
/// and the binary we built at /usr/bin/etcd-backup.
///
/// Why a root rather than a copy of the unit with ExecStart pointed at target/: verify checks
/// that ExecStart's program exists and is executable, and a rewritten unit would no longer be
/// the file we ship. With --root the shipped file is checked byte for byte, and the binary it
/// names is found where the package puts it.
///
/// `Documentation=man:…` entries are checked too: verify runs `man` on each, and MANPATH
/// points at our generated pages (docs/man), so a unit naming a page we do not ship fails.
struct VerifyRoot {
    dir: tempfile::TempDir,
}

impl VerifyRoot {
    fn new() -> VerifyRoot {
        let dir = tempdir();
        let root = dir.path();
        let units = root.join("usr/lib/systemd/system");
        fs::create_dir_all(units.parent().unwrap()).unwrap();
        let host_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .into_iter()
            .find(|d| Path::new(d).join("sysinit.target").exists())
            .expect("no sysinit.target on the host: install Debian's systemd");
        let cp = Command::new("cp")
            .args(["-a", host_units])
            .arg(&units)
            .output()
            .unwrap();
        assert!(cp.status.success(), "{}", describe("cp -a", &cp));
        for rel in UNITS {
            let name = Path::new(rel).file_name().unwrap();
            fs::copy(project_root().join(rel), units.join(name)).unwrap();
        }
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        let bin = root.join("usr/bin/etcd-backup");
        let built = env!("CARGO_BIN_EXE_etcd-backup");
        if fs::hard_link(built, &bin).is_err() {
            fs::copy(built, &bin).unwrap();
        }
        let man1 = root.join("man/man1");
        fs::create_dir_all(&man1).unwrap();
        for page in fs::read_dir(project_root().join("docs/man")).unwrap() {
            let page = page.unwrap().path();
            fs::copy(&page, man1.join(page.file_name().unwrap())).unwrap();
        }
        VerifyRoot { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn unit(&self, name: &str) -> PathBuf {
        self.path().join("usr/lib/systemd/system").join(name)
    }

    /// `systemd-analyze verify` on every unit: Ok only when it exits 0 and prints nothing,
    /// since it exits 0 with only a warning for an unknown key or a bad value.
    fn verify(&self) -> Result<(), String> {
        let root_arg = format!("--root={}", self.path().display());
        let man = self.path().join("man");
        let mut args = vec!["verify".to_string(), root_arg];
        args.extend(UNITS.iter().map(|u| {
            Path::new(u)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        }));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = systemd_analyze(&args, &[("MANPATH", &man)]);
        if out.status.success() && out.stdout.is_empty() && out.stderr.is_empty() {
            Ok(())
        } else {
            Err(describe("systemd-analyze verify", &out))
        }
    }
}

#[test]
fn systemd_units_pass_verify_silently() {
    let root = VerifyRoot::new();
    root.verify().unwrap();

    // The check sees what it is meant to see. An unknown key: exit 0, a warning only.
    let service = root.unit("etcd-backup.service");
    let good = fs::read_to_string(&service).unwrap();
    fs::write(&service, format!("{good}BogusKey=1\n")).unwrap();
    let err = root.verify().unwrap_err();
    assert!(err.contains("Unknown key 'BogusKey'"), "{err}");
    fs::write(&service, &good).unwrap();

    // ExecStart's program missing.
    let bin = root.path().join("usr/bin/etcd-backup");
    fs::rename(&bin, root.path().join("moved")).unwrap();
    let err = root.verify().unwrap_err();
    assert!(
        err.contains("/usr/bin/etcd-backup is not executable"),
        "{err}"
    );
    fs::rename(root.path().join("moved"), &bin).unwrap();

    // A Documentation= page we do not ship.
    fs::remove_file(root.path().join("man/man1/etcd-backup-prune.1")).unwrap();
    let err = root.verify().unwrap_err();
    assert!(err.contains("man etcd-backup-prune(1)"), "{err}");

    // The health units are verified too: an unknown key in them is seen.
    let page = root.path().join("man/man1/etcd-backup-prune.1");
    fs::copy(project_root().join("docs/man/etcd-backup-prune.1"), page).unwrap();
    root.verify().unwrap();
    let health = root.unit("etcd-backup-health.service");
    let good = fs::read_to_string(&health).unwrap();
    fs::write(&health, format!("{good}BogusKey=1\n")).unwrap();
    let err = root.verify().unwrap_err();
    assert!(err.contains("etcd-backup-health.service"), "{err}");
    assert!(err.contains("Unknown key 'BogusKey'"), "{err}");
}

#[test]
fn service_is_hardened() {
    let path = project_root().join(SERVICE);
    let path = path.to_str().unwrap();
    let threshold = format!("--threshold={SECURITY_THRESHOLD}");
    let out = systemd_analyze(&["security", "--offline=yes", &threshold, path], &[]);
    let report = describe("systemd-analyze security", &out);
    assert!(out.status.success(), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let score: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for etcd-backup.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in\n{report}"));
    eprintln!("systemd-analyze security: etcd-backup.service exposure {score}");
    assert!(score * 10.0 <= f64::from(SECURITY_THRESHOLD), "{report}");
    assert!(out.stderr.is_empty(), "{report}");

    // --threshold is enforced: just below the unit's own score, the tool fails.
    let below = format!("--threshold={}", (score * 10.0).round() as u32 - 1);
    let out = systemd_analyze(&["security", "--offline=yes", &below, path], &[]);
    assert!(
        !out.status.success(),
        "{}",
        describe("security, lower threshold", &out)
    );

    // The requirements the score does not pin: what the unit runs and under which conditions.
    let unit = read(SERVICE);
    let one = |section: &str, key: &str| -> String {
        let v = setting(&unit, section, key);
        assert_eq!(v.len(), 1, "{key}= in [{section}]: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("Service", "Type"), "oneshot");
    assert_eq!(
        one("Service", "ExecStart"),
        "/usr/bin/etcd-backup save --prune"
    );
    assert_eq!(one("Service", "CapabilityBoundingSet"), "");
    assert_eq!(one("Service", "UMask"), "0077");
    assert_eq!(one("Service", "ProtectSystem"), "strict");
    assert_eq!(one("Service", "StateDirectory"), "etcd-backups");
    assert_eq!(one("Service", "StateDirectoryMode"), "0700");
    assert_eq!(
        one("Unit", "ConditionPathExists"),
        "/etc/kubernetes/manifests/etcd.yaml"
    );
    // The unit is started by the timer only: nothing enables it on its own.
    assert!(unit_settings(&unit, "Install").is_empty());
    let exec_start = one("Service", "ExecStart");
    let exec: Vec<&str> = exec_start.split(' ').collect();
    assert_save_prune(&exec, false);
}

#[test]
fn timer_fires_every_4_hours() {
    let timer = read(TIMER);
    let spec = setting(&timer, "Timer", "OnCalendar");
    assert_eq!(spec.len(), 1, "{spec:?}");
    let (stdout, report, times) = calendar(&spec[0], 7);
    let normalized = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Normalized form: "))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(normalized, "*-*-* 00/4:00:00");
    assert_eq!(times.len(), 7, "{report}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::TimeDelta::hours(4), "{report}");
    }

    let bad = Command::new("systemd-analyze")
        .args(["calendar", "*-*-* 00/4:61:00"])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "{}", describe("bad calendar", &bad));

    assert_eq!(setting(&timer, "Timer", "Persistent"), ["true"]);
    assert_eq!(setting(&timer, "Timer", "RandomizedDelaySec"), ["10min"]);
    assert_eq!(setting(&timer, "Install", "WantedBy"), ["timers.target"]);
}

#[test]
fn health_units_run_repair_every_5_minutes_not_enabled_and_hardened() {
    let unit = read(HEALTH_SERVICE);
    let one = |section: &str, key: &str| -> String {
        let v = setting(&unit, section, key);
        assert_eq!(v.len(), 1, "{key}= in [{section}]: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("Service", "Type"), "oneshot");
    let exec_start = one("Service", "ExecStart");
    let argv: Vec<&str> = exec_start.split(' ').collect();
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    match cli.command {
        Sub::Health(h) => {
            assert!(h.repair, "{argv:?}: no --repair");
            assert_eq!(h.repair_after, 3);
            assert_eq!(h.state_dir, Path::new("/var/lib/etcd-backup"));
        }
        other => panic!("{argv:?}: not health: {other:?}"),
    }
    assert_eq!(one("Service", "StateDirectory"), "etcd-backup");
    assert_eq!(one("Service", "CapabilityBoundingSet"), "");
    assert_eq!(one("Service", "UMask"), "0077");
    assert_eq!(one("Service", "ProtectSystem"), "strict");
    // Started by its timer only.
    assert!(unit_settings(&unit, "Install").is_empty());

    let path = project_root().join(HEALTH_SERVICE);
    let path = path.to_str().unwrap();
    let threshold = format!("--threshold={SECURITY_THRESHOLD}");
    let out = systemd_analyze(&["security", "--offline=yes", &threshold, path], &[]);
    let report = describe("systemd-analyze security", &out);
    assert!(out.status.success() && out.stderr.is_empty(), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let score = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for etcd-backup-health.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no overall exposure level in\n{report}"));
    eprintln!("systemd-analyze security: etcd-backup-health.service exposure {score}");
    assert!(score * 10.0 <= f64::from(SECURITY_THRESHOLD), "{report}");

    let timer = read(HEALTH_TIMER);
    let spec = setting(&timer, "Timer", "OnCalendar");
    assert_eq!(spec.len(), 1, "{spec:?}");
    let (_, report, times) = calendar(&spec[0], 4);
    assert_eq!(times.len(), 4, "{report}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], chrono::TimeDelta::minutes(5), "{report}");
    }
    assert_eq!(setting(&timer, "Install", "WantedBy"), ["timers.target"]);

    // The .deb installs both as systemd units (cargo-deb's systemd-units, so that a purge also
    // removes an enable link; scripts/test-deb.sh checks that on a real dpkg), never enabled.
    let cargo = read("Cargo.toml");
    let entry = cargo
        .lines()
        .find(|l| l.contains("unit-name = \"etcd-backup-health\""))
        .unwrap_or_else(|| panic!("no etcd-backup-health entry in Cargo.toml's systemd-units"));
    for want in [
        "unit-scripts = \"packaging/systemd/\"",
        "enable = false",
        "start = false",
    ] {
        assert!(entry.contains(want), "{want} not in {entry}");
    }
}

// ---------------------------------------------------------------------------------------------
// The command lines we ship parse with our CLI as `save --prune`.

fn assert_save_prune(argv: &[&str], quiet: bool) {
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert_eq!(cli.global.quiet, quiet, "{argv:?}");
    match cli.command {
        Sub::Save(save) => assert!(save.prune, "{argv:?}: no --prune"),
        other => panic!("{argv:?}: not save: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn cronjob_validates_strictly_for_kubernetes_1_28_and_newest() {
    let report =
        checkers::kubernetes_validate(&[&project_root().join(CRONJOB)], &["1.28", "latest"])
            .unwrap_or_else(|e| panic!("{e}"));
    // Two documents (ServiceAccount, CronJob), two versions.
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        4,
        "{report}"
    );
    assert!(
        report.contains("CronJob etcd-backup: Kubernetes 1.28 (strict)"),
        "{report}"
    );
}

#[test]
fn kubernetes_validate_rejects_broken_manifests() {
    let good = read(CRONJOB);
    let dir = tempdir();
    let cases = [
        // A field typo: only strict mode catches it.
        (
            "typo",
            good.replace("concurrencyPolicy: Forbid", "concurrencyPolicyy: Forbid"),
            "'concurrencyPolicyy' was unexpected",
        ),
        // An apiVersion Kubernetes no longer serves: the CLI only warns, the API raises.
        (
            "v1beta1",
            good.replace("batch/v1", "batch/v1beta1"),
            "Couldn't find schema",
        ),
        // A wrong type.
        (
            "type",
            good.replace(
                "startingDeadlineSeconds: 600",
                "startingDeadlineSeconds: soon",
            ),
            "is not of type 'integer'",
        ),
    ];
    for (name, text, expected) in cases {
        assert_ne!(text, good, "{name}: the replacement did not apply");
        let file = dir.path().join(format!("{name}.yaml"));
        fs::write(&file, text).unwrap();
        let err = checkers::kubernetes_validate(&[&file], &["1.28", "latest"]).unwrap_err();
        assert!(err.contains(expected), "{name}: {err}");
    }
}

/// What the validator cannot know: the pod reaches etcd and the PKI the way kubeadm lays them out.
#[test]
fn cronjob_runs_save_prune_on_control_plane_nodes() {
    use serde_norway::Value;
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&read(CRONJOB))
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let cronjob = docs
        .iter()
        .find(|d| d["kind"] == "CronJob")
        .expect("a CronJob");
    let spec = &cronjob["spec"];
    assert_eq!(spec["schedule"], "0 */4 * * *");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    let pod = &spec["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(
        pod["nodeSelector"]["node-role.kubernetes.io/control-plane"],
        ""
    );
    assert!(pod["tolerations"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(
            |t| t["key"] == "node-role.kubernetes.io/control-plane" && t["effect"] == "NoSchedule"
        ));
    assert_eq!(pod["securityContext"]["runAsUser"], 0);
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert!(sc["capabilities"]["add"].is_null());

    let command: Vec<&str> = container["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_save_prune(&command, false);

    // Every mount is a hostPath at the node's own path, read-only except the backup dir.
    let volumes = pod["volumes"].as_sequence().unwrap();
    let mut read_write = BTreeSet::new();
    for mount in container["volumeMounts"].as_sequence().unwrap() {
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("a volume for every mount");
        if let Some(host) = volume["hostPath"]["path"].as_str() {
            assert_eq!(mount["mountPath"].as_str(), Some(host));
            if mount["readOnly"] != true {
                read_write.insert(host.to_string());
            }
        }
    }
    assert_eq!(
        read_write,
        BTreeSet::from(["/var/lib/etcd-backups".to_string()])
    );
}

// ---------------------------------------------------------------------------------------------
// cron

/// One job line of a system crontab (/etc/cron.d): five time fields, a user, a command.
#[derive(Debug)]
struct CronJob {
    fields: [String; 5],
    user: String,
    command: String,
}

/// A cron.d file: its NAME=value lines and its jobs.
#[derive(Debug)]
struct CronFile {
    env: Vec<(String, String)>,
    jobs: Vec<CronJob>,
}

/// Reads a file as Debian's cron reads /etc/cron.d files; a line that is not a job, a variable,
/// a comment or blank is an error.
fn parse_cron_d(text: &str) -> Result<CronFile, String> {
    if !text.ends_with('\n') {
        return Err("the last line has no newline: cron ignores it".into());
    }
    let mut env = Vec::new();
    let mut jobs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let first = trimmed.split_whitespace().next().unwrap_or_default();
        if let Some((name, _)) = first.split_once('=') {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("line {n}: bad variable name {name:?}"));
            }
            let value = trimmed[name.len() + 1..].trim();
            env.push((name.to_string(), value.to_string()));
            continue;
        }
        // Five fields and the user, then the command as written (whitespace kept).
        let mut rest = trimmed;
        let mut head = Vec::new();
        for _ in 0..6 {
            let end = rest
                .find(char::is_whitespace)
                .ok_or(format!("line {n}: too few fields"))?;
            head.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        let command = rest.trim_end().to_string();
        if command.is_empty() {
            return Err(format!("line {n}: no command"));
        }
        // cron turns an unescaped % into a newline and feeds the rest to stdin.
        if command.replace("\\%", "").contains('%') {
            return Err(format!("line {n}: unescaped % in the command"));
        }
        let limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        for (field, (lo, hi)) in head.iter().zip(limits) {
            cron_field(field, lo, hi).map_err(|e| format!("line {n}: {field:?}: {e}"))?;
        }
        let user = head.pop().unwrap();
        if !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            return Err(format!("line {n}: bad user {user:?}"));
        }
        jobs.push(CronJob {
            fields: head.try_into().unwrap(),
            user,
            command,
        });
    }
    Ok(CronFile { env, jobs })
}

/// The values a numeric cron field matches: `*`, `N`, `N-M`, each with an optional `/STEP`,
/// comma-separated. (Names like `mon` are valid cron but not used in our files.)
fn cron_field(field: &str, lo: u32, hi: u32) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|e| format!("step {s:?}: {e}"))?),
            None => (item, 1),
        };
        if step == 0 {
            return Err("step 0".into());
        }
        let num = |s: &str| -> Result<u32, String> {
            let v: u32 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
            if v < lo || v > hi {
                return Err(format!("{v} outside {lo}-{hi}"));
            }
            Ok(v)
        };
        let (a, b) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (num(a)?, num(b)?),
                None if step == 1 => (num(r)?, num(r)?),
                None => (num(r)?, hi),
            },
        };
        if a > b {
            return Err(format!("range {a}-{b}"));
        }
        out.extend((a..=b).step_by(step as usize));
    }
    Ok(out)
}

#[test]
fn cron_parser_rejects_broken_lines() {
    for bad in [
        "0 */4 * * * root\n",
        "0 */4 * * root etcd-backup save\n",
        "61 */4 * * * root etcd-backup save\n",
        "0 */0 * * * root etcd-backup save\n",
        "0 */4 * * * root date +%s\n",
        "0 */4 * * * root etcd-backup save",
        "BAD NAME=1\n",
    ] {
        assert!(parse_cron_d(bad).is_err(), "{bad:?} parsed");
    }
    let cron = parse_cron_d("0 */4 * * * root date +\\%s\n").unwrap();
    assert_eq!(cron.jobs[0].command, "date +\\%s");
}

#[test]
fn cron_file_runs_save_prune_every_4_hours_as_root() {
    let CronFile { env, jobs } =
        parse_cron_d(&read(CRON)).unwrap_or_else(|e| panic!("{CRON}: {e}"));
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.user, "root");
    let f = &job.fields;
    assert_eq!(cron_field(&f[0], 0, 59).unwrap(), BTreeSet::from([0]));
    assert_eq!(
        cron_field(&f[1], 0, 23).unwrap(),
        BTreeSet::from([0, 4, 8, 12, 16, 20])
    );
    for (field, lo, hi) in [(&f[2], 1, 31), (&f[3], 1, 12), (&f[4], 0, 7)] {
        assert_eq!(cron_field(field, lo, hi).unwrap().len() as u32, hi - lo + 1);
    }
    assert!(
        env.contains(&("SHELL".into(), "/bin/bash".into())),
        "{env:?}"
    );

    // The etcd-backup invocation is the first command of the line.
    let argv: Vec<&str> = job
        .command
        .split(['|', ';', '&'])
        .next()
        .unwrap()
        .split_whitespace()
        .filter(|w| !w.starts_with("2>"))
        .collect();
    assert_eq!(argv[0], "/usr/bin/etcd-backup");
    assert_save_prune(&argv, true);
}

/// Runs the cron line as cron would (its SHELL, `-c`), with `logger` replaced by a script that
/// records its arguments and input, and /usr/bin/etcd-backup by `program`.
fn run_cron_line(program: &Path, extra_env: &[(&str, &Path)]) -> (i32, String, String) {
    let CronFile { env, jobs } = parse_cron_d(&read(CRON)).unwrap();
    let shell = env
        .iter()
        .find(|(k, _)| k == "SHELL")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/bin/sh".into());
    let dir = tempdir();
    let stubs = dir.path().join("bin");
    fs::create_dir(&stubs).unwrap();
    let log = dir.path().join("logger.log");
    let logger = stubs.join("logger");
    fs::write(
        &logger,
        "#!/bin/sh\nprintf 'logger %s\\n' \"$*\" >>\"$LOGGER_LOG\"\nsed 's/^/| /' >>\"$LOGGER_LOG\"\n",
    )
    .unwrap();
    fs::set_permissions(&logger, fs::Permissions::from_mode(0o755)).unwrap();
    let line = &jobs[0].command;
    assert_eq!(line.matches("/usr/bin/etcd-backup").count(), 1, "{line}");
    let line = line.replace("/usr/bin/etcd-backup", program.to_str().unwrap());
    let mut cmd = Command::new(shell);
    cmd.arg("-c")
        .arg(&line)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .env("LOGGER_LOG", &log)
        .env("HOME", dir.path())
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.stderr.is_empty(), "{}", describe("cron line", &out));
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn cron_line_logs_output_and_keeps_the_exit_code() {
    // The real binary failing (no CA file): the error is logged, cron gets one line to mail,
    // and the job exits with etcd-backup's code.
    let dir = tempdir();
    let missing = dir.path().join("pki/missing");
    let (code, mail, log) = run_cron_line(
        Path::new(env!("CARGO_BIN_EXE_etcd-backup")),
        &[
            ("ETCD_BACKUP_NO_MANIFEST", Path::new("1")),
            ("ETCD_BACKUP_NO_CONFIG", Path::new("1")),
            ("ETCD_BACKUP_DIR", &dir.path().join("backups")),
            ("ETCDCTL_ENDPOINTS", Path::new("https://127.0.0.1:9")),
            ("ETCDCTL_CACERT", &missing.join("ca.crt")),
            ("ETCDCTL_CERT", &missing.join("client.crt")),
            ("ETCDCTL_KEY", &missing.join("client.key")),
        ],
    );
    assert_eq!(code, 2, "{mail}\n{log}");
    assert_eq!(
        mail,
        "etcd-backup save --prune failed with exit code 2: see journalctl -t etcd-backup or \
         /var/log/syslog\n"
    );
    let mut lines = log.lines();
    assert_eq!(lines.next(), Some("logger -t etcd-backup -p user.warning"));
    assert_eq!(
        lines
            .next()
            .map(|l| l.starts_with("| error: cannot read CA certificate")),
        Some(true),
        "{log}"
    );
    assert!(
        log.ends_with("logger -t etcd-backup -p user.err save --prune failed with exit code 2\n"),
        "{log}"
    );

    // A good run: nothing to mail, nothing logged (the stand-in prints what -q would: nothing).
    let ok = dir.path().join("ok");
    fs::write(&ok, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&ok, fs::Permissions::from_mode(0o755)).unwrap();
    let (code, mail, log) = run_cron_line(&ok, &[]);
    assert_eq!((code, mail.as_str()), (0, ""), "{log}");
    assert_eq!(log, "logger -t etcd-backup -p user.warning\n");

    // Saved but not pruned (exit 3): the 3 reaches cron, the warning the log.
    let partly = dir.path().join("partly");
    fs::write(
        &partly,
        "#!/bin/sh\necho 'warning: prune failed' >&2\nexit 3\n",
    )
    .unwrap();
    fs::set_permissions(&partly, fs::Permissions::from_mode(0o755)).unwrap();
    let (code, mail, log) = run_cron_line(&partly, &[]);
    assert_eq!(code, 3, "{mail}\n{log}");
    assert!(mail.contains("exit code 3"), "{mail}");
    assert!(log.contains("| warning: prune failed\n"), "{log}");
}

// ---------------------------------------------------------------------------------------------
// promtool (the metrics file itself is tested where it is written)

#[test]
fn promtool_accepts_good_metrics() {
    let good = "\
# HELP etcd_backup_last_success_timestamp_seconds When the last backup succeeded (Unix time).
# TYPE etcd_backup_last_success_timestamp_seconds gauge
etcd_backup_last_success_timestamp_seconds 1.7632e+09
# HELP etcd_backup_failures_total Runs that failed.
# TYPE etcd_backup_failures_total counter
etcd_backup_failures_total 2
# HELP etcd_backup_backups Backups on disk.
# TYPE etcd_backup_backups gauge
etcd_backup_backups{dir=\"/var/lib/etcd-backups\"} 42
";
    checkers::promtool_check_metrics(good).unwrap();
}

#[test]
fn promtool_rejects_bad_metrics() {
    for (bad, expected) in [
        // Parse error (exit 1).
        ("# TYPE a gauge\na{b=\"c} 1\n", "parsing error"),
        // Lint: no HELP (exit 3).
        (
            "# TYPE etcd_backup_x gauge\netcd_backup_x 1\n",
            "no help text",
        ),
        // Lint: a counter must end in _total.
        (
            "# HELP etcd_backup_failures Failures.\n# TYPE etcd_backup_failures counter\n\
             etcd_backup_failures 1\n",
            "_total",
        ),
        // Not a number.
        (
            "# HELP etcd_backup_x X.\n# TYPE etcd_backup_x gauge\netcd_backup_x one\n",
            "parsing error",
        ),
        ("", "empty"),
    ] {
        let err = checkers::promtool_check_metrics(bad).unwrap_err();
        assert!(err.contains(expected), "{bad:?}: {err}");
    }
}

#[test]
fn drill_units_run_drill_latest_weekly_not_enabled() {
    let unit = read(DRILL_SERVICE);
    let one = |section: &str, key: &str| -> String {
        let v = setting(&unit, section, key);
        assert_eq!(v.len(), 1, "{key}= in [{section}]: {v:?}");
        v[0].clone()
    };
    assert_eq!(one("Service", "Type"), "oneshot");
    let exec_start = one("Service", "ExecStart");
    let argv: Vec<&str> = exec_start.split(' ').collect();
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    match cli.command {
        Sub::Drill(d) => assert!(d.latest, "{argv:?}: no --latest"),
        other => panic!("{argv:?}: not drill: {other:?}"),
    }
    assert_eq!(one("Service", "StateDirectory"), "etcd-backups");
    assert_eq!(one("Service", "CapabilityBoundingSet"), "");
    assert_eq!(one("Service", "UMask"), "0077");
    assert_eq!(one("Service", "ProtectSystem"), "strict");
    // Started by its timer only, and the timer is not enabled by the package.
    assert!(unit_settings(&unit, "Install").is_empty());

    let timer = read(DRILL_TIMER);
    let spec = setting(&timer, "Timer", "OnCalendar");
    assert_eq!(spec.len(), 1, "{spec:?}");
    let (_, report, times) = calendar(&spec[0], 3);
    assert_eq!(times.len(), 3, "{report}");
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], chrono::Duration::days(7), "{report}");
    }
    let packaged = fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
    assert!(
        packaged.contains("unit-name = \"etcd-backup-drill\", enable = false"),
        "the drill units are not in the .deb, or enabled by it"
    );
}

/// `systemd-analyze calendar --iterations=N SPEC` in UTC: its stdout, the report for messages,
/// and the elapse times it lists ("Next elapse: Fri 2025-11-21 12:00:00 UTC", then
/// "Iter. #2: …").
fn calendar(spec: &str, iterations: u32) -> (String, String, Vec<chrono::NaiveDateTime>) {
    let out = Command::new("systemd-analyze")
        .args(["calendar", &format!("--iterations={iterations}"), spec])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let report = describe("systemd-analyze calendar", &out);
    assert!(out.status.success() && out.stderr.is_empty(), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let times = stdout
        .lines()
        .filter(|l| l.contains("Next elapse:") || l.contains("Iter. #"))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let n = fields.len();
            let text = format!("{} {}", fields[n - 3], fields[n - 2]);
            chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S")
                .unwrap_or_else(|e| panic!("{l}: {e}\n{report}"))
        })
        .collect();
    (stdout, report, times)
}
