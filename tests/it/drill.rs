//! `drill` against real etcd 3.4.23 and 3.5.1 binaries: a backup (local, in S3 through
//! SeaweedFS, encrypted with age) is restored into a scratch dir, read back and served by a
//! real etcd whose `HashKV` and key count must be the sidecar's; a damaged backup fails with
//! exit 1 and the reason. Nothing is left behind: no scratch dir, no etcd process.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::s3::SeaweedFs;
use common::*;
use serde_json::Value;

/// An etcd with leases, overwrites, deletes and a compaction, and one saved backup of it.
struct Fixture {
    tmp: tempfile::TempDir,
    dist: Dist,
    etcd: Etcd,
    backups: PathBuf,
}

fn ctl(etcd: &Etcd, args: &[&str]) -> String {
    let out = etcd.ctl(args);
    assert!(out.status.success(), "etcdctl {args:?}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn fixture(dist: Dist) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    let granted = ctl(&etcd, &["lease", "grant", "3600"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    ctl(&etcd, &["put", "/leased", "x", &format!("--lease={lease}")]);
    for i in 0..10 {
        ctl(&etcd, &["put", &format!("/k{i}"), "value-AAAAAAAA"]);
    }
    ctl(&etcd, &["put", "/k1", "again"]);
    ctl(&etcd, &["del", "/k2"]);
    let rev: Value = serde_json::from_str(&ctl(&etcd, &["get", "/k1", "-w", "json"])).unwrap();
    let rev = rev["header"]["revision"].as_i64().unwrap();
    ctl(&etcd, &["compact", &(rev - 2).to_string()]);
    ctl(&etcd, &["put", "/after", "compaction"]);
    let backups = tmp.path().join("backups");
    Fixture {
        tmp,
        dist,
        etcd,
        backups,
    }
}

impl Fixture {
    fn save(&self, extra: &[&str]) -> PathBuf {
        let out = save_cmd(&self.etcd, &self.backups)
            .arg("save")
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
    }

    fn drill(&self, args: &[&str]) -> Command {
        let mut cmd = backup_cmd();
        cmd.arg("--backup-dir")
            .arg(&self.backups)
            .arg("drill")
            .arg("--etcd-binary")
            .arg(&self.dist.etcd)
            .args(args);
        cmd
    }
}

fn sidecar(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(format!("{}.json", path.display())).unwrap()).unwrap()
}

/// No scratch dir left in `dir`, and no process serving one.
fn nothing_left(dir: &Path) {
    let left: Vec<String> = list_dir(dir)
        .into_iter()
        .filter(|n| n.starts_with(".etcd-backup-drill"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline);
        assert!(
            !(text.contains(".etcd-backup-drill-") && text.contains(dir.to_str().unwrap())),
            "a drill's etcd is still running: {text}"
        );
    }
}

fn passed(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("PASSED "), "{text}");
    assert!(text.contains("served by etcd Version: "), "{text}");
}

fn good_backups_pass(dist: Dist) {
    let f = fixture(dist);
    let plain = f.save(&[]);
    let metrics = f.tmp.path().join("drill.prom");
    let out = f
        .drill(&["--latest"])
        .arg("--metrics-file")
        .arg(&metrics)
        .output()
        .unwrap();
    passed(&out);
    let sc = sidecar(&plain);
    assert_eq!(sc["drill"]["passed"], true, "{sc}");
    assert!(sc["drill"]["etcd"]
        .as_str()
        .unwrap()
        .contains(f.dist.version));
    let text = fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("etcd_backup_last_drill_success 1"), "{text}");
    assert!(
        text.contains("etcd_backup_last_drill_timestamp_seconds "),
        "{text}"
    );
    nothing_left(&f.backups);

    // status shows the last drill.
    let out = backup_cmd()
        .args(["--backup-dir"])
        .arg(&f.backups)
        .args(["status", "-w", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"drill\""), "{}", describe(&out));
}

#[test]
fn good_backups_pass_3_5_1() {
    good_backups_pass(v35());
}

#[test]
fn good_backups_pass_3_4_23() {
    good_backups_pass(v34());
}

/// An encrypted, compressed backup, drilled locally and from S3 (SeaweedFS).
#[test]
fn encrypted_and_off_site_backups_pass() {
    let f = fixture(v35());
    let key = f.tmp.path().join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let public = fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let s3 = SeaweedFs::start();
    let url = format!("s3://{}/drill/", s3.bucket);
    let with_s3 = |mut c: Command| {
        c.env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &s3.endpoint)
            .env_remove("AWS_PROFILE");
        c
    };
    let out = with_s3(save_cmd(&f.etcd, &f.backups))
        .args([
            "save",
            "--compress",
            "zstd",
            "--encrypt-to",
            &public,
            "--remote",
            &url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let local = PathBuf::from(stdout.lines().next().unwrap());
    let out = f
        .drill(&[local.to_str().unwrap(), "--identity", key.to_str().unwrap()])
        .output()
        .unwrap();
    passed(&out);
    let out = with_s3(f.drill(&["--latest", "--remote", &url, "-i", key.to_str().unwrap()]))
        .output()
        .unwrap();
    passed(&out);
    nothing_left(&f.backups);
    // Without the identity: an error (exit 2) that says what to pass, not a failed drill.
    let out = f.drill(&[local.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--identity"), "{}", describe(&out));
    assert!(sidecar(&local)
        .get("drill")
        .is_some_and(|d| d["passed"] == true));
    nothing_left(&f.backups);
}

fn change_all(data: &mut [u8], from: &[u8], to: &[u8]) {
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
}

/// Each damaged kind fails with exit 1 and its reason, and leaves nothing behind.
fn damaged_backups_fail(dist: Dist) {
    use sha2::{Digest, Sha256};
    let f = fixture(dist);
    let good = f.save(&[]);
    let bytes = fs::read(&good).unwrap();
    let forge = |name: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        edit(&mut b);
        let path = f.tmp.path().join(name);
        fs::write(&path, &b).unwrap();
        let mut sc = sidecar(&good);
        sc["file"] = name.into();
        sc["file_size"] = b.len().into();
        let sum = Sha256::digest(&b);
        sc["sha256"] = sum
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into();
        fs::write(format!("{}.json", path.display()), sc.to_string()).unwrap();
        path
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            // A changed value with its trailer recomputed: only the HashKV knows.
            forge("etcd-snapshot-value.db", &|b| {
                let n = b.len() - 32;
                change_all(&mut b[..n], b"value-AAAAAAAA", b"value-BBBBBBBB");
                let sum: [u8; 32] = Sha256::digest(&b[..n]).into();
                b[n..].copy_from_slice(&sum);
            }),
            "HashKV",
        ),
        (
            forge("etcd-snapshot-trailer.db", &|b| {
                let n = b.len();
                b[n - 1] ^= 0xff;
            }),
            "SHA-256",
        ),
        (
            forge("etcd-snapshot-truncated.db", &|b| b.truncate(b.len() / 2)),
            "etcd-snapshot-truncated.db",
        ),
    ];
    for (path, reason) in &cases {
        let out = f.drill(&[path.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("FAILED "), "{text}");
        assert!(text.contains(reason), "{reason}: {text}");
        assert_eq!(sidecar(path)["drill"]["passed"], false);
        nothing_left(&f.backups);
    }
    // An etcd that cannot serve the dir (here: not etcd at all) fails the drill too.
    let out = backup_cmd()
        .arg("--backup-dir")
        .arg(&f.backups)
        .args(["drill", "--latest", "--etcd-binary", "/bin/false"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("exited"),
        "{}",
        describe(&out)
    );
    nothing_left(&f.backups);
}

#[test]
fn damaged_backups_fail_3_5_1() {
    damaged_backups_fail(v35());
}

#[test]
fn damaged_backups_fail_3_4_23() {
    damaged_backups_fail(v34());
}
