//! The config file with the real binary: precedence pinned with `--show-settings` (flag >
//! environment > config file > kubeadm manifest > default), errors that name the file, line,
//! column and key, refused files, and a real `save --prune` driven by the file alone.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

const R1: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const R2: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

/// `backup_cmd()` reading `config` (through --config).
fn with_config(config: &Path) -> Command {
    let mut cmd = backup_cmd();
    cmd.env_remove("ETCD_BACKUP_NO_CONFIG")
        .arg("--config")
        .arg(config);
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn json_of(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", describe(out)))
}

/// A kubeadm-style manifest naming a client URL that nothing else uses.
const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    \
    command:\n    - etcd\n    - --name=cp9\n    \
    - --listen-client-urls=https://127.0.0.1:3379,https://10.9.9.9:3379\n    \
    - --trusted-ca-file=/pki/ca.crt\n    - --cert-file=/pki/s.crt\n    - --key-file=/pki/s.key\n    \
    - --data-dir=/var/lib/etcd\n";

/// Five layers, added one at a time from the bottom; after each, every representative setting
/// shows the value of the highest layer that sets it, and that layer as its source:
/// backup-dir (a global path with a built-in default), endpoints (also from the manifest),
/// save's prune (a switch with an env variable that can turn it off), encrypt-to (a list),
/// dial-timeout (a duration), verbose (a count) and restore's name (from the manifest too).
#[test]
fn flag_beats_env_beats_config_beats_manifest_beats_default() {
    let layers = Layers::new();
    defaults_alone(&layers);
    manifest_over_defaults(&layers);
    config_over_manifest(&layers);
    env_over_config(&layers);
    flags_over_env(&layers);
}

/// The layers of the precedence test, lowest first.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Layer {
    Default,
    Manifest,
    Config,
    Env,
    Flag,
}

/// A manifest and a config file for the precedence test, in a temp dir.
struct Layers {
    tmp: tempfile::TempDir,
    manifest: PathBuf,
    config: PathBuf,
}

impl Layers {
    fn new() -> Layers {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = write(tmp.path(), "etcd.yaml", MANIFEST);
        let config = write(
            tmp.path(),
            "config.toml",
            &format!(
                "backup-dir = \"/from/config\"\nendpoints = [\"https://config-a:2379\", \
                 \"https://config-b:2379\"]\nverbose = 2\n\n[save]\nprune = true\n\
                 encrypt-to = [\"{R1}\", \"{R2}\"]\ndial-timeout = \"7s\"\n\n[restore]\n\
                 name = \"from-config\"\n"
            ),
        );
        Layers {
            tmp,
            manifest,
            config,
        }
    }

    /// `--show-settings -w json COMMAND` with every layer up to `top` in place.
    fn run(&self, top: Layer, command: &str) -> Value {
        let mut cmd = backup_cmd();
        if top >= Layer::Manifest {
            cmd.env_remove("ETCD_BACKUP_NO_MANIFEST")
                .env("ETCD_BACKUP_MANIFEST", &self.manifest);
        } else {
            cmd.env("ETCD_BACKUP_MANIFEST", self.tmp.path().join("none.yaml"));
        }
        if top >= Layer::Config {
            cmd.env_remove("ETCD_BACKUP_NO_CONFIG")
                .env("ETCD_BACKUP_CONFIG", &self.config);
        }
        if top >= Layer::Env {
            cmd.env("ETCD_BACKUP_DIR", "/from/env")
                .env("ETCDCTL_ENDPOINTS", "https://env:2379")
                .env("ETCD_BACKUP_PRUNE", "false")
                .env("ETCD_BACKUP_ENCRYPT_TO", format!("{R2},{R1}"))
                .env("ETCD_BACKUP_DIAL_TIMEOUT", "8s");
        }
        cmd.args(["--show-settings", "-w", "json"]);
        if top >= Layer::Flag {
            cmd.args([
                "--backup-dir",
                "/from/flag",
                "--endpoints",
                "https://flag:2379",
                "-v",
            ]);
        }
        cmd.arg(command);
        if top >= Layer::Flag && command == "save" {
            cmd.args(["--prune", "--encrypt-to", R1, "--dial-timeout", "9s"]);
        }
        if top >= Layer::Flag && command == "restore" {
            cmd.args(["--name", "from-flag"]);
        }
        if command == "restore" {
            cmd.arg("snapshot.db");
        }
        json_of(&cmd.output().unwrap())
    }

    /// The source of a setting from line `line` of the config file.
    fn cfg(&self, line: u32) -> Value {
        json!({"source": "config", "origin": format!("{}:{line}", self.config.display())})
    }

    /// The source of a setting from the manifest.
    fn manifest_source(&self) -> Value {
        json!({"source": "manifest", "origin": self.manifest.display().to_string()})
    }
}

/// `doc` shows `value` for `table.key`, from `source` (the fields given).
fn check(doc: &Value, table: &str, key: &str, value: Value, source: Value) {
    let got = &doc[table][key];
    assert_eq!(got["value"], value, "{table}.{key}: {got}");
    for (k, v) in source.as_object().unwrap() {
        assert_eq!(&got[k], v, "{table}.{key}: {got}");
    }
}

fn from_default() -> Value {
    json!({"source": "default"})
}

fn from_env(name: &str) -> Value {
    json!({"source": "env", "origin": name})
}

fn from_flag(name: &str) -> Value {
    json!({"source": "flag", "origin": name})
}

/// No manifest, no config file, no environment: every setting is its default.
fn defaults_alone(layers: &Layers) {
    let d = layers.run(Layer::Default, "save");
    assert_eq!(d["config"]["status"], "disabled");
    check(
        &d,
        "global",
        "backup-dir",
        json!("/var/lib/etcd-backups"),
        from_default(),
    );
    check(
        &d,
        "global",
        "endpoints",
        json!(["https://127.0.0.1:2379"]),
        from_default(),
    );
    check(&d, "global", "verbose", json!(0), from_default());
    check(&d, "save", "prune", json!(false), from_default());
    check(&d, "save", "encrypt-to", Value::Null, from_default());
    check(&d, "save", "dial-timeout", json!("5s"), from_default());
    check(
        &layers.run(Layer::Default, "restore"),
        "restore",
        "name",
        Value::Null,
        from_default(),
    );
}

/// The manifest gives the client URL, TLS files, member name and data dir.
fn manifest_over_defaults(layers: &Layers) {
    let m = layers.run(Layer::Manifest, "save");
    check(
        &m,
        "global",
        "backup-dir",
        json!("/var/lib/etcd-backups"),
        from_default(),
    );
    check(
        &m,
        "global",
        "endpoints",
        json!(["https://127.0.0.1:3379"]),
        layers.manifest_source(),
    );
    check(
        &m,
        "global",
        "cacert",
        json!("/pki/ca.crt"),
        layers.manifest_source(),
    );
    check(&m, "save", "prune", json!(false), from_default());
    let mr = layers.run(Layer::Manifest, "restore");
    check(
        &mr,
        "restore",
        "name",
        json!("cp9"),
        layers.manifest_source(),
    );
    check(
        &mr,
        "restore",
        "data-dir",
        json!("/var/lib/etcd"),
        layers.manifest_source(),
    );
}

/// The config file beats the manifest; what it does not set still comes from below.
fn config_over_manifest(layers: &Layers) {
    let c = layers.run(Layer::Config, "save");
    assert_eq!(c["config"]["status"], "read");
    assert_eq!(c["config"]["file"], layers.config.display().to_string());
    check(
        &c,
        "global",
        "backup-dir",
        json!("/from/config"),
        layers.cfg(1),
    );
    check(
        &c,
        "global",
        "endpoints",
        json!(["https://config-a:2379", "https://config-b:2379"]),
        layers.cfg(2),
    );
    check(
        &c,
        "global",
        "cacert",
        json!("/pki/ca.crt"),
        layers.manifest_source(),
    );
    check(&c, "global", "verbose", json!(2), layers.cfg(3));
    check(&c, "save", "prune", json!(true), layers.cfg(6));
    check(&c, "save", "encrypt-to", json!([R1, R2]), layers.cfg(7));
    check(&c, "save", "dial-timeout", json!("7s"), layers.cfg(8));
    check(
        &layers.run(Layer::Config, "restore"),
        "restore",
        "name",
        json!("from-config"),
        layers.cfg(11),
    );
}

/// The environment beats the config file; verbose has no variable and stays the file's.
fn env_over_config(layers: &Layers) {
    let e = layers.run(Layer::Env, "save");
    check(
        &e,
        "global",
        "backup-dir",
        json!("/from/env"),
        from_env("ETCD_BACKUP_DIR"),
    );
    check(
        &e,
        "global",
        "endpoints",
        json!(["https://env:2379"]),
        from_env("ETCDCTL_ENDPOINTS"),
    );
    check(&e, "global", "verbose", json!(2), layers.cfg(3));
    check(
        &e,
        "save",
        "prune",
        json!(false),
        from_env("ETCD_BACKUP_PRUNE"),
    );
    check(
        &e,
        "save",
        "encrypt-to",
        json!([R2, R1]),
        from_env("ETCD_BACKUP_ENCRYPT_TO"),
    );
    check(
        &e,
        "save",
        "dial-timeout",
        json!("8s"),
        from_env("ETCD_BACKUP_DIAL_TIMEOUT"),
    );
}

/// Flags beat everything.
fn flags_over_env(layers: &Layers) {
    let f = layers.run(Layer::Flag, "save");
    check(
        &f,
        "global",
        "backup-dir",
        json!("/from/flag"),
        from_flag("--backup-dir"),
    );
    check(
        &f,
        "global",
        "endpoints",
        json!(["https://flag:2379"]),
        from_flag("--endpoints"),
    );
    check(&f, "global", "verbose", json!(1), from_flag("--verbose"));
    check(&f, "save", "prune", json!(true), from_flag("--prune"));
    check(
        &f,
        "save",
        "encrypt-to",
        json!([R1]),
        from_flag("--encrypt-to"),
    );
    check(
        &f,
        "save",
        "dial-timeout",
        json!("9s"),
        from_flag("--dial-timeout"),
    );
    check(
        &layers.run(Layer::Flag, "restore"),
        "restore",
        "name",
        json!("from-flag"),
        from_flag("--name"),
    );
}

/// The readable form names the same sources, one line per setting.
#[test]
fn show_settings_table_names_each_source_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let backups = tmp.path().join("backups");
    let config = write(
        tmp.path(),
        "config.toml",
        &format!(
            "backup-dir = \"{}\"\n[prune]\nkeep-daily = 7\n",
            backups.display()
        ),
    );
    let out = with_config(&config)
        .args(["--show-settings", "prune", "--keep-weekly", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        text.lines().next(),
        Some(format!("config file: {} (read)", config.display()).as_str())
    );
    assert_eq!(
        line("backup-dir"),
        format!("{} config {}:1", backups.display(), config.display())
    );
    assert_eq!(
        line("prune.keep-daily"),
        format!("7 config {}:3", config.display())
    );
    assert_eq!(line("prune.keep-weekly"), "4 flag --keep-weekly");
    assert_eq!(line("prune.keep-last"), "- default");
    assert_eq!(line("prune.dry-run"), "false default");
    assert!(
        !backups.exists(),
        "--show-settings must not touch the backup dir"
    );
}

/// The example in the README's "Configuration file" section is a valid config.
#[test]
fn readme_example_is_valid() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find("### Configuration file").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let text = &section[start..start + section[start..].find("```").unwrap()];
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.toml", text);
    for command in ["save", "status", "prune"] {
        let out = with_config(&config)
            .args(["--show-settings", "-w", "json", command])
            .output()
            .unwrap();
        let doc = json_of(&out);
        assert_eq!(doc["global"]["quiet"]["source"], "config", "{doc}");
    }
}

/// Each problem: exit 2, `FILE:LINE:COLUMN:`, the key and what is expected, and no clap usage
/// message; a value is checked by its flag's own parser.
#[test]
fn config_errors_name_file_line_column_key_and_what_is_expected() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[prune]\nkeep-last = 0\n",
            "2:13: `keep-last` in [prune]: invalid value `0`: 0 is not in 1..=4294967295",
        ),
        (
            "write-out = \"yaml\"\n",
            "1:13: `write-out` in the top level: invalid value `yaml`: expected one of",
        ),
        (
            "\n[save]\nprune = \"yes\"\n",
            "3:9: `prune` in [save]: expected true or false, found a string",
        ),
        (
            "[save]\ndial-timeout = 5\n",
            "2:16: `dial-timeout` in [save]: expected a duration string such as \"5s\"",
        ),
        (
            "backup_dir = \"/x\"\n",
            "1:1: unknown key `backup_dir` in the top level, expected one of endpoints,",
        ),
        (
            "[restore]\nyes = true\n",
            "2:1: `yes` cannot be set in [restore] of the config file: the confirmation must come",
        ),
        (
            "[prune]\ndry-run = true\n",
            "2:1: `dry-run` cannot be set in [prune] of the config file: a per-invocation switch",
        ),
        (
            "[restore]\nresume = true\n",
            "2:1: `resume` cannot be set in [restore] of the config file: it acts on the journal",
        ),
        ("[save\n", "1:6: invalid TOML:"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let config = write(tmp.path(), &format!("c{i}.toml"), text);
        let out = with_config(&config).arg("status").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}\n{}", describe(&out));
        let err = stderr(&out);
        let want = format!("error: {}:{want}", config.display());
        assert!(
            err.starts_with(&want),
            "{text}\nwanted: {want}\n{}",
            describe(&out)
        );
        assert!(err.contains("hint:"), "{err}");
        assert!(!err.contains("Usage:"), "{err}");
        assert!(out.stdout.is_empty(), "{}", describe(&out));
    }

    // With --log-format json (flag or env), the same error is one JSON line on stderr.
    let config = write(tmp.path(), "json.toml", "backup_dir = \"/x\"\n");
    for json_by_flag in [true, false] {
        let mut cmd = with_config(&config);
        if json_by_flag {
            cmd.args(["--log-format", "json"]);
        } else {
            cmd.env("ETCD_BACKUP_LOG_FORMAT", "json");
        }
        let out = cmd.arg("status").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{}", describe(&out));
        let line: Value = serde_json::from_str(&err).unwrap_or_else(|e| panic!("{e}\n{err}"));
        assert_eq!(line["level"], "error", "{err}");
        let msg = line["msg"].as_str().unwrap();
        assert!(msg.contains("unknown key `backup_dir`"), "{err}");
        assert!(
            line["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "{err}"
        );
    }
}

#[test]
fn missing_explicit_file_is_an_error_no_config_reads_none() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.toml");
    let out = with_config(&missing).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: config file {} does not exist (given by --config)",
            missing.display()
        )),
        "{}",
        describe(&out)
    );
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_CONFIG")
        .env("ETCD_BACKUP_CONFIG", &missing)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("(given by ETCD_BACKUP_CONFIG)"),
        "{}",
        describe(&out)
    );
    // --no-config wins over --config, and so does ETCD_BACKUP_NO_CONFIG.
    let out = with_config(&missing)
        .args(["--no-config", "-w", "json", "--show-settings", "status"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["config"]["status"], "disabled");
    let out = with_config(&missing)
        .env("ETCD_BACKUP_NO_CONFIG", "1")
        .args(["-w", "json", "--show-settings", "status"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["config"]["status"], "disabled");
    // Help and version never read the file.
    let broken = write(tmp.path(), "broken.toml", "bogus = 1\n");
    for args in [&["--help"][..], &["save", "--help"], &["--version"]] {
        let out = with_config(&broken).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    }
}

/// Without --config, /etc/etcd-backup/config.toml is read when it exists and silently skipped
/// when it does not. Only the second half can be checked on a machine without the file.
#[test]
fn missing_default_file_is_silent() {
    if Path::new("/etc/etcd-backup/config.toml").exists() {
        eprintln!("skipped: /etc/etcd-backup/config.toml exists on this machine");
        return;
    }
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_CONFIG")
        .args(["-w", "json", "--show-settings", "status"])
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    let doc = json_of(&out);
    assert_eq!(
        doc["config"],
        json!({"file": "/etc/etcd-backup/config.toml", "status": "absent"})
    );
}

/// The file decides where backups go and which are deleted: one that others could have written
/// is refused, with a hint saying how to fix it.
#[test]
fn files_others_could_write_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(tmp.path(), "config.toml", "quiet = true\n");
    let refused = |path: &Path, why: &str| {
        let out = with_config(path).arg("status").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.starts_with("error: refusing config file"), "{err}");
        assert!(err.contains(why), "{why}: {err}");
        assert!(
            err.contains("hint: the file decides where backups go"),
            "{err}"
        );
    };
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).unwrap();
    refused(&config, "writable by every user (mode 0666)");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    let ok = with_config(&config)
        .args(["--show-settings", "status"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "world-readable is fine: {}",
        describe(&ok)
    );

    let open_dir = tmp.path().join("open");
    fs::create_dir(&open_dir).unwrap();
    let inside = write(&open_dir, "config.toml", "quiet = true\n");
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    refused(&inside, "its directory");
    // A sticky directory (like /tmp) is fine: others cannot replace the file.
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let ok = with_config(&inside)
        .args(["--show-settings", "status"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));

    // A symlink in an open directory could be pointed anywhere.
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let link = open_dir.join("link.toml");
    std::os::unix::fs::symlink(&config, &link).unwrap();
    refused(&link, "its directory");

    if rustix::process::geteuid().is_root() {
        let theirs = write(tmp.path(), "theirs.toml", "quiet = true\n");
        let nobody = Some(rustix::process::Uid::from_raw(65534));
        rustix::fs::chown(&theirs, nobody, None).unwrap();
        refused(&theirs, "owned by uid 65534, neither root nor this user");
        let group = write(tmp.path(), "group.toml", "quiet = true\n");
        rustix::fs::chown(&group, None, Some(rustix::process::Gid::from_raw(65534))).unwrap();
        fs::set_permissions(&group, fs::Permissions::from_mode(0o660)).unwrap();
        refused(&group, "writable by group 65534");
    }
}

/// A `save` with no flag at all: connection, backup dir, `--prune` and the retention of
/// `[prune]` all come from the file, against a real etcd with kubeadm-style mTLS.
#[test]
fn save_and_prune_driven_by_the_file_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("backups");
    let config = write(
        tmp.path(),
        "config.toml",
        &format!(
            "endpoints = [\"{}\"]\ncacert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
             backup-dir = \"{}\"\nwrite-out = \"json\"\n\n[save]\nprune = true\n\
             dial-timeout = \"3s\"\n\n[prune]\nkeep-last = 1\n",
            etcd.client_url,
            pki.ca.display(),
            pki.server_crt.display(),
            pki.server_key.display(),
            backups.display()
        ),
    );
    // Two saves in the same second would get the same name; an older backup stands in for one.
    fs::create_dir_all(&backups).unwrap();
    fs::set_permissions(&backups, fs::Permissions::from_mode(0o700)).unwrap();
    let first = json_of(&with_config(&config).arg("save").output().unwrap());
    let first = PathBuf::from(first["path"].as_str().unwrap());
    let old = backups.join("etcd-snapshot-2020-01-01_00-00-00.db");
    fs::copy(&first, &old).unwrap();
    fs::remove_file(&first).unwrap();
    fs::remove_file(format!("{}.json", first.display())).unwrap();
    let out = with_config(&config).arg("save").output().unwrap();
    let doc = json_of(&out);
    let saved = PathBuf::from(doc["path"].as_str().unwrap());
    assert!(saved.exists(), "{}", describe(&out));
    assert_eq!(
        finished_looking(&backups),
        [
            saved.file_name().unwrap().to_string_lossy().into_owned(),
            format!("{}.json", saved.file_name().unwrap().to_string_lossy())
        ],
        "keep-last = 1 from [prune] pruned the old backup: {}",
        describe(&out)
    );
    // `save` without prune in the file ignores [prune]'s retention: no error about keep flags.
    // (A second later, so that the new backup gets a name of its own.)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let no_prune = write(
        tmp.path(),
        "noprune.toml",
        &fs::read_to_string(&config)
            .unwrap()
            .replace("prune = true\n", ""),
    );
    let out = with_config(&no_prune).arg("save").output().unwrap();
    json_of(&out);
    assert_eq!(
        finished_looking(&backups).len(),
        4,
        "{:?}",
        list_dir(&backups)
    );
}
