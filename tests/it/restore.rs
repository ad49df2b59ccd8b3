//! `restore --output-dir`: real etcd 3.4.23 and 3.5.1 are the judges. The restored dirs must
//! boot, serve exactly the source cluster's data (every key, value, revision, version, lease),
//! form multi-member clusters, and, without a revision bump, hold WAL and `.snap` files
//! byte-identical to `etcdutl snapshot restore` 3.5.1's and a db with the same status hash.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use serde_json::Value;

const BUMP: i64 = 1_000_000_000;

/// A snapshot of a populated cluster and what that cluster served when it was taken.
struct Source {
    tmp: tempfile::TempDir,
    dist: Dist,
    pki: Pki,
    snapshot: PathBuf,
    /// `etcdctl get "" --prefix -w json` at the time of the snapshot.
    all: Value,
    /// The cluster's revision then (`header.revision`).
    revision: i64,
    lease: String,
}

fn ctl_json(etcd: &Etcd, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-w", "json"]);
    let out = ctl_patient(etcd, &a);
    assert!(out.status.success(), "etcdctl {args:?}: {}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ctl_ok(etcd: &Etcd, args: &[&str]) -> String {
    let out = ctl_patient(etcd, args);
    assert!(out.status.success(), "etcdctl {args:?}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// `etcdctl`, run again (up to 5 times) when etcd answered "request timed out": on a loaded
/// 2-core machine a fresh member, or a 3-member cluster's raft round, can miss etcdctl's deadline.
/// Every command these tests repeat is idempotent (puts of a fixed value, reads).
fn ctl_patient(etcd: &Etcd, args: &[&str]) -> std::process::Output {
    let mut out = etcd.ctl(args);
    for _ in 0..4 {
        if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("timed out") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        out = etcd.ctl(args);
    }
    out
}

/// Leases, many keys (a multi-level `key` bucket), overwrites, deletes, a prefix delete, an
/// overflow value, a compaction, and last a delete that the final compaction removes, so the
/// newest key in the snapshot is older than the cluster's revision.
fn populate(etcd: &Etcd) -> String {
    let granted = ctl_ok(etcd, &["lease", "grant", "3600"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    for i in 0..5 {
        ctl_ok(
            etcd,
            &[
                "put",
                &format!("/leased/k{i}"),
                "v",
                &format!("--lease={lease}"),
            ],
        );
    }
    etcd.put_bulk(300, 700);
    etcd.put_bulk(40, 900);
    ctl_ok(etcd, &["put", "/big", &"b".repeat(12_000)]);
    ctl_ok(etcd, &["del", "/registry/bulk/00050"]);
    ctl_ok(etcd, &["del", "--prefix", "/registry/bulk/0010"]);
    let rev = ctl_json(etcd, &["get", "/big"])["header"]["revision"]
        .as_i64()
        .unwrap();
    ctl_ok(etcd, &["compact", &(rev - 5).to_string()]);
    ctl_ok(etcd, &["put", "/gone", "x"]);
    ctl_ok(etcd, &["del", "/gone"]);
    let rev = ctl_json(etcd, &["get", "/big"])["header"]["revision"]
        .as_i64()
        .unwrap();
    ctl_ok(etcd, &["compact", &rev.to_string()]);
    lease
}

fn source(dist: fn() -> Dist) -> Source {
    let dist = dist();
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    let lease = populate(&etcd);
    let all = ctl_json(&etcd, &["get", "", "--prefix"]);
    let revision = all["header"]["revision"].as_i64().unwrap();
    let out = save_cmd(&etcd, &tmp.path().join("backups"))
        .arg("save")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snapshot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    drop(etcd);
    Source {
        tmp,
        dist,
        pki,
        snapshot,
        all,
        revision,
        lease,
    }
}

fn src34() -> &'static Source {
    static S: OnceLock<Source> = OnceLock::new();
    S.get_or_init(|| source(v34))
}

fn src35() -> &'static Source {
    static S: OnceLock<Source> = OnceLock::new();
    S.get_or_init(|| source(v35))
}

fn restore(snapshot: &Path, out: &Path, args: &[&str]) -> std::process::Output {
    backup_cmd()
        .arg("restore")
        .arg(snapshot)
        .arg("--output-dir")
        .arg(out)
        .args(args)
        .output()
        .unwrap()
}

fn peer(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// Starts `name` on a restored dir with the peer port it was restored for.
fn start_restored(src: &Source, dir: &Path, name: &str, port: u16, no_wait: bool) -> Etcd {
    Etcd::start_with(
        &src.dist,
        &src.pki,
        src.tmp.path(),
        &Member {
            name: name.to_string(),
            peer_port: Some(port),
            data_dir: Some(dir.to_path_buf()),
            no_wait,
            ..Member::default()
        },
    )
}

fn round_trip(src: &Source) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("restored");
    let port = free_port();
    let out = restore(
        &src.snapshot,
        &dir,
        &[
            "--name",
            "node1",
            "--initial-advertise-peer-urls",
            &peer(port),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        dir.display().to_string()
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "revision {} bumped by 1000000000 to",
            src.revision
        )) && err.contains("marked compacted"),
        "{err}"
    );
    for (p, mode) in [
        (dir.clone(), 0o700),
        (dir.join("member"), 0o700),
        (dir.join("member/snap"), 0o700),
        (dir.join("member/wal"), 0o700),
        (dir.join("member/snap/db"), 0o600),
    ] {
        let m = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{}", p.display());
    }
    assert!(!work.path().join(".restored.restoring").exists());

    let etcd = start_restored(src, &dir, "node1", port, false);
    let all = ctl_json(&etcd, &["get", "", "--prefix"]);
    assert_eq!(
        all["kvs"], src.all["kvs"],
        "keys, values, revisions, versions, leases"
    );
    assert_eq!(all["count"], src.all["count"]);
    assert_eq!(
        all["header"]["revision"].as_i64(),
        Some(src.revision + BUMP)
    );
    let leases = ctl_ok(&etcd, &["lease", "list"]);
    assert!(leases.contains(&src.lease), "{leases}");
    // Old revisions are compacted: reads and watches there fail, so clients relist.
    let out = etcd.ctl(&["get", "/big", "--rev", &src.revision.to_string()]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(stderr(&out).contains("compacted"), "{}", describe(&out));
    let watch = etcdctl(&etcd.dist, &etcd.client_url, &etcd.pki);
    let out = std::process::Command::new("timeout")
        .arg("10")
        .arg(watch.get_program())
        .args(watch.get_args())
        .env("ETCDCTL_API", "3")
        .args(["watch", "/big", "--rev", &(src.revision - 1).to_string()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        text.contains("compacted"),
        "watch at an old revision: {}",
        describe(&out)
    );
    // New writes continue from the bumped revision.
    let put = ctl_json(&etcd, &["put", "/after", "1"]);
    assert_eq!(
        put["header"]["revision"].as_i64(),
        Some(src.revision + BUMP + 1)
    );
}

#[test]
fn round_trip_3_4_23() {
    round_trip(src34());
}

#[test]
fn round_trip_3_5_1() {
    round_trip(src35());
}

/// Three members from one snapshot form a healthy cluster that takes writes.
fn three_members(src: &Source) {
    let work = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let names = ["m1", "m2", "m3"];
    let initial: Vec<String> = names
        .iter()
        .zip(&ports)
        .map(|(n, p)| format!("{n}={}", peer(*p)))
        .collect();
    let initial = initial.join(",");
    let mut members = Vec::new();
    for (n, p) in names.iter().zip(&ports) {
        let dir = work.path().join(n);
        let out = restore(
            &src.snapshot,
            &dir,
            &[
                "--name",
                n,
                "--initial-cluster",
                &initial,
                "--initial-cluster-token",
                "restored-3",
                "--initial-advertise-peer-urls",
                &peer(*p),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        members.push(start_restored(src, &dir, n, *p, true));
    }
    for m in &mut members {
        assert!(
            m.wait_healthy(Duration::from_secs(60)),
            "{} never became healthy",
            m.name
        );
    }
    let list = ctl_json(&members[0], &["member", "list"]);
    let mut got: Vec<(String, String)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["peerURLs"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String)> = names
        .iter()
        .zip(&ports)
        .map(|(n, p)| (n.to_string(), peer(*p)))
        .collect();
    assert_eq!(got, want);
    ctl_ok(&members[0], &["put", "/written-after-restore", "yes"]);
    let got = ctl_json(&members[2], &["get", "/written-after-restore"]);
    assert_eq!(got["count"], 1);
    let all = ctl_json(
        &members[1],
        &["get", "/registry", "--prefix", "--keys-only"],
    );
    assert_eq!(
        all["count"],
        ctl_json_count(src, "/registry"),
        "every member serves the snapshot's keys"
    );
}

fn ctl_json_count(src: &Source, prefix: &str) -> Value {
    let kvs = src.all["kvs"].as_array().unwrap();
    let n = kvs
        .iter()
        .filter(|kv| {
            let k = base64_decode(kv["key"].as_str().unwrap());
            k.starts_with(prefix.as_bytes())
        })
        .count();
    Value::from(n)
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn three_members_3_5_1() {
    three_members(src35());
}

#[test]
fn three_members_3_4_23() {
    three_members(src34());
}

fn etcdutl() -> PathBuf {
    v35().etcdutl.expect("etcdutl 3.5.1")
}

/// Files under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

fn status_json(db: &Path) -> Value {
    let out = backup_cmd()
        .args(["status", "-w", "json"])
        .arg(db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Without a bump: WAL and `.snap` byte-identical to etcdutl's, and the same db content.
fn parity(src: &Source, args: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let ours = work.path().join("ours");
    let theirs = work.path().join("theirs");
    let mut a = args.to_vec();
    a.push("--no-bump-revision");
    let out = restore(&src.snapshot, &ours, &a);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = std::process::Command::new(etcdutl())
        .args(["snapshot", "restore"])
        .arg(&src.snapshot)
        .arg("--data-dir")
        .arg(&theirs)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "etcdutl: {}", describe(&out));
    assert_eq!(tree(&ours), tree(&theirs));
    for f in tree(&ours) {
        if f.ends_with(".wal") || f.ends_with(".snap") {
            let (a, b) = (
                fs::read(ours.join(&f)).unwrap(),
                fs::read(theirs.join(&f)).unwrap(),
            );
            assert!(
                a == b,
                "{f} differs from etcdutl's ({} vs {} bytes)",
                a.len(),
                b.len()
            );
        }
    }
    // The db: same buckets, keys and values (the status hash covers them all), and upstream
    // reads ours.
    let (s_ours, s_theirs) = (
        status_json(&ours.join("member/snap/db")),
        status_json(&theirs.join("member/snap/db")),
    );
    assert_eq!(
        s_ours["hash"], s_theirs["hash"],
        "db content differs from etcdutl's"
    );
    assert_eq!(s_ours["revision"], s_theirs["revision"]);
    assert_eq!(s_ours["totalKey"], s_theirs["totalKey"]);
    let out = std::process::Command::new(etcdutl())
        .args(["snapshot", "status", "-w", "json"])
        .arg(ours.join("member/snap/db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "etcdutl reads our db: {}",
        describe(&out)
    );
    let up: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(up["hash"], s_theirs["hash"]);
}

const THREE: [&str; 8] = [
    "--name",
    "m1",
    "--initial-cluster",
    "m1=http://127.0.0.1:23381,m2=http://127.0.0.1:23382,m3=http://127.0.0.1:23383",
    "--initial-cluster-token",
    "tok-3",
    "--initial-advertise-peer-urls",
    "http://127.0.0.1:23381",
];

#[test]
fn byte_parity_with_etcdutl() {
    for src in [src35(), src34()] {
        parity(src, &[]);
        parity(src, &THREE);
        let mut m3 = THREE;
        m3[1] = "m3";
        m3[7] = "http://127.0.0.1:23383";
        parity(src, &m3);
    }
}

/// Each invalid restore fails with a clear message and leaves nothing behind.
#[test]
fn invalid_restores_leave_nothing() {
    let src = src35();
    let work = tempfile::tempdir().unwrap();
    let no_trailer = work.path().join("raw.db");
    let bytes = fs::read(&src.snapshot).unwrap();
    fs::write(&no_trailer, &bytes[..bytes.len() - 32]).unwrap();
    let bad_trailer = work.path().join("bad.db");
    let mut b = bytes.clone();
    let n = b.len();
    b[n - 1] ^= 0xff;
    fs::write(&bad_trailer, &b).unwrap();
    let full = work.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("x"), "").unwrap();

    let snap = src.snapshot.as_path();
    let cases: Vec<(&str, &Path, Vec<&str>, &str)> = vec![
        (
            "name not in the cluster",
            snap,
            vec![
                "--name",
                "x",
                "--initial-cluster",
                "y=http://127.0.0.1:2380",
            ],
            "couldn't find local name \"x\"",
        ),
        (
            "advertise URLs differ",
            snap,
            vec![
                "--name",
                "a",
                "--initial-cluster",
                "a=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2381",
            ],
            "initial-advertise-peer-urls",
        ),
        (
            "duplicate URL",
            snap,
            vec![
                "--name",
                "a",
                "--initial-cluster",
                "a=http://127.0.0.1:2380,b=http://127.0.0.1:2380",
                "--initial-advertise-peer-urls",
                "http://127.0.0.1:2380",
            ],
            "duplicate",
        ),
        ("no trailer", &no_trailer, vec![], "no SHA-256 trailer"),
        ("wrong trailer", &bad_trailer, vec![], "is damaged"),
        (
            "bump without --mark-compacted",
            snap,
            vec!["--bump-revision", "10"],
            "--mark-compacted required",
        ),
        (
            "--mark-compacted alone",
            snap,
            vec!["--mark-compacted"],
            "needs --bump-revision",
        ),
    ];
    for (what, file, args, message) in cases {
        let out_dir = work.path().join("out");
        let out = restore(file, &out_dir, &args);
        assert_eq!(out.status.code(), Some(2), "{what}: {}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains(message), "{what}: {err}");
        assert!(err.contains("hint:"), "{what}: {err}");
        assert!(!out_dir.exists(), "{what}: output dir left behind");
        let left: Vec<String> = list_dir(work.path())
            .into_iter()
            .filter(|n| n.contains("restoring"))
            .collect();
        assert!(left.is_empty(), "{what}: temp dir left behind: {left:?}");
    }

    let out = restore(snap, &full, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", describe(&out));
    assert_eq!(
        list_dir(&full),
        vec!["x"],
        "a non-empty dir is never touched"
    );

    // A raw db copy restores with --skip-hash-check; an empty existing dir is accepted.
    let empty = work.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out = restore(&no_trailer, &empty, &["--skip-hash-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(empty.join("member/snap/db").exists());
}

/// A snapshot taken while NOSPACE was raised: restored, the alarm is cleared and writes work;
/// with --keep-alarms the restored cluster still refuses writes, as etcdutl's would.
#[test]
fn stored_alarms_are_cleared_unless_kept() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let mut spec = Member::single("node1");
    spec.extra_args
        .push(format!("--quota-backend-bytes={}", 4 << 20));
    let etcd = Etcd::start_with(&v35(), &pki, tmp.path(), &spec);
    let value = "x".repeat(100 * 1024);
    // Fill until etcd refuses for the quota; any other failure (a timeout under load) is retried.
    for i in 0..200 {
        let out = ctl_patient(&etcd, &["put", &format!("/fill/{i}"), &value]);
        if !out.status.success() {
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("database space exceeded"),
                "put /fill/{i}: {}",
                describe(&out)
            );
            break;
        }
    }
    assert!(ctl_ok(&etcd, &["alarm", "list"]).contains("NOSPACE"));
    let out = save_cmd(&etcd, &tmp.path().join("b"))
        .arg("save")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snapshot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    drop(etcd);
    let src = Source {
        tmp,
        dist: v35(),
        pki,
        snapshot,
        all: Value::Null,
        revision: 0,
        lease: String::new(),
    };

    for (keep, dir) in [(false, "cleared"), (true, "kept")] {
        let dir = src.tmp.path().join(dir);
        let port = free_port();
        let mut args = vec!["--name", "node1", "--initial-advertise-peer-urls"];
        let url = peer(port);
        args.push(&url);
        if keep {
            args.push("--keep-alarms");
        }
        let out = restore(&src.snapshot, &dir, &args);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("NOSPACE alarm"), "{err}");
        assert_eq!(err.contains("it was cleared"), !keep, "{err}");
        // `endpoint health` fails while an alarm is active, so wait for `endpoint status`
        // (what `initial_cluster` selects; the flag itself is ignored on an existing WAL).
        let etcd = Etcd::start_with(
            &src.dist,
            &src.pki,
            src.tmp.path(),
            &Member {
                name: "node1".into(),
                peer_port: Some(port),
                data_dir: Some(dir.clone()),
                initial_cluster: Some(format!("node1={url}")),
                ..Member::default()
            },
        );
        let alarms = ctl_ok(&etcd, &["alarm", "list"]);
        assert_eq!(alarms.contains("NOSPACE"), keep, "{alarms}");
        let put = etcd.ctl(&["put", "/after-restore", "1"]);
        assert_eq!(put.status.success(), !keep, "{}", describe(&put));
    }
}

/// On a kubeadm node the member settings come from the etcd manifest; flags win over it.
#[test]
fn member_settings_come_from_the_kubeadm_manifest() {
    let src = src35();
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("etcd.yaml");
    let url = "https://127.0.0.1:23380";
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n\
         spec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.1-0\n\
         \x20   command:\n    - etcd\n",
    );
    for a in [
        "--name=cp1".to_string(),
        format!("--initial-advertise-peer-urls={url}"),
        format!("--initial-cluster=cp1={url}"),
        "--data-dir=/var/lib/etcd".to_string(),
    ] {
        yaml.push_str(&format!("    - {a}\n"));
    }
    fs::write(&manifest, yaml).unwrap();
    let run = |extra: &[&str], out: &Path| {
        backup_cmd()
            .env_remove("ETCD_BACKUP_NO_MANIFEST")
            .env("ETCD_BACKUP_MANIFEST", &manifest)
            .args(["-w", "json", "restore"])
            .arg(&src.snapshot)
            .arg("--output-dir")
            .arg(out)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[], &work.path().join("a"));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["name"], "cp1");
    assert_eq!(doc["members"][0]["peer_urls"][0], url);
    assert_eq!(doc["initial_cluster_token"], "etcd-cluster");

    let out = run(&["--name", "other"], &work.path().join("b"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("couldn't find local name \"other\""), "{err}");
    assert!(err.contains("--initial-cluster from manifest"), "{err}");
    assert!(!work.path().join("b").exists());
}

/// `--wal-dir`: the WAL goes there (built beside it and renamed too), and etcd started with the
/// same flag serves the data.
#[test]
fn separate_wal_dir() {
    let src = src35();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("data");
    let wal = work.path().join("wal-disk").join("wal");
    let port = free_port();
    let url = peer(port);
    let out = restore(
        &src.snapshot,
        &dir,
        &[
            "--name",
            "node1",
            "--initial-advertise-peer-urls",
            &url,
            "--wal-dir",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--wal-dir needs a value: {}",
        describe(&out)
    );
    let out = restore(
        &src.snapshot,
        &dir,
        &[
            "--name",
            "node1",
            "--initial-advertise-peer-urls",
            &url,
            "--wal-dir",
            wal.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(wal.join("0000000000000000-0000000000000000.wal").exists());
    assert!(!dir.join("member/wal").exists());
    assert!(list_dir(wal.parent().unwrap())
        .iter()
        .all(|n| !n.contains("restoring")));
    let etcd = Etcd::start_with(
        &src.dist,
        &src.pki,
        src.tmp.path(),
        &Member {
            name: "node1".into(),
            peer_port: Some(port),
            data_dir: Some(dir.clone()),
            extra_args: vec![format!("--wal-dir={}", wal.display())],
            ..Member::default()
        },
    );
    let all = ctl_json(&etcd, &["get", "", "--prefix"]);
    assert_eq!(all["kvs"], src.all["kvs"]);

    // A WAL dir inside the data dir, other than member/wal, is refused before any work.
    let d2 = work.path().join("d2");
    let out = restore(
        &src.snapshot,
        &d2,
        &["--wal-dir", d2.join("wal").to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is inside --output-dir"),
        "{}",
        describe(&out)
    );
    assert!(!work.path().join("d2").exists());
}

/// The `--flag=value` words printed after "start etcd on it with these flags".
fn printed_flags(err: &str) -> Vec<String> {
    let at = err
        .find("with these flags")
        .unwrap_or_else(|| panic!("no flags printed:\n{err}"));
    let mut flags = Vec::new();
    for line in err[at..].lines().skip(1) {
        let line = line.trim().trim_end_matches('\\').trim();
        if !line.starts_with("--") {
            break;
        }
        flags.extend(line.split_whitespace().map(str::to_string));
    }
    flags
}

/// Issue 13 item 8: the flags printed after a data-dir restore are the ones to paste, and they
/// alone (with listen URLs and TLS) start etcd on the restored dir, with its data.
fn printed_flags_start_etcd(src: &Source) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("restored");
    let port = free_port();
    let out = restore(
        &src.snapshot,
        &dir,
        &[
            "--name",
            "node7",
            "--initial-advertise-peer-urls",
            &peer(port),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let flags = printed_flags(&stderr(&out));
    assert_eq!(
        flags,
        [
            format!("--data-dir={}", dir.display()),
            "--name=node7".to_string(),
            format!("--initial-advertise-peer-urls={}", peer(port)),
        ],
        "{}",
        describe(&out)
    );
    let etcd = Etcd::start_with(
        &src.dist,
        &src.pki,
        src.tmp.path(),
        &Member {
            name: "node7".into(),
            peer_port: Some(port),
            bare_args: Some(flags),
            ..Member::default()
        },
    );
    let all = ctl_json(&etcd, &["get", "", "--prefix"]);
    assert_eq!(all["kvs"], src.all["kvs"]);
    let members = ctl_json(&etcd, &["member", "list"]);
    assert_eq!(members["members"][0]["name"], "node7");
    assert_eq!(members["members"][0]["peerURLs"][0], peer(port));
}

#[test]
fn printed_flags_start_etcd_3_5_1() {
    printed_flags_start_etcd(src35());
}

#[test]
fn printed_flags_start_etcd_3_4_23() {
    printed_flags_start_etcd(src34());
}

/// Issue 13 item 7: `--output-dir DIR --dry-run` prints the plan and creates nothing, not even
/// a missing parent; a mount point is named as such.
#[test]
fn output_dir_dry_run_touches_nothing() {
    let src = src35();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("missing-parent/restored");
    let out = restore(&src.snapshot, &dir, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(stdout.contains(&dir.display().to_string()), "{stdout}");
    assert!(stdout.contains("--data-dir="), "{stdout}");
    assert!(
        list_dir(work.path()).is_empty(),
        "{:?}",
        list_dir(work.path())
    );

    let mnt = work.path().join("mnt");
    let _m = Tmpfs::mount(&mnt, 0o700);
    let out = restore(&src.snapshot, &mnt, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("is a mount point"), "{stdout}");
    assert!(list_dir(&mnt).is_empty(), "{:?}", list_dir(&mnt));
    // What the build would refuse, the dry run refuses too.
    fs::write(mnt.join("stray"), "x").unwrap();
    let out = restore(&src.snapshot, &mnt, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("not empty"), "{}", describe(&out));
}

/// Issue 13 item 5: `--output-dir` onto an empty, freshly mounted volume (a dedicated etcd disk)
/// builds on that volume and moves `member/` into it; etcd starts on it.
fn output_dir_onto_a_mount_point(src: &Source) {
    let work = tempfile::tempdir().unwrap();
    let mnt = work.path().join("etcd-disk");
    let _m = Tmpfs::mount(&mnt, 0o700);
    fs::create_dir(mnt.join("lost+found")).unwrap(); // as mkfs.ext4 leaves it
    let port = free_port();
    let out = restore(
        &src.snapshot,
        &mnt,
        &[
            "--name",
            "node1",
            "--initial-advertise-peer-urls",
            &peer(port),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let mut entries = list_dir(&mnt);
    entries.sort();
    assert_eq!(entries, ["lost+found", "member"]);
    assert_eq!(
        list_dir(work.path()),
        ["etcd-disk"],
        "nothing built on the parent"
    );
    let etcd = start_restored(src, &mnt, "node1", port, false);
    let all = ctl_json(&etcd, &["get", "", "--prefix"]);
    assert_eq!(all["kvs"], src.all["kvs"]);
    drop(etcd);
    // Not empty any more: refused, and left as it is.
    let out = restore(&src.snapshot, &mnt, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(mnt.join("member/snap/db").exists());
}

#[test]
fn output_dir_onto_a_mount_point_3_5_1() {
    output_dir_onto_a_mount_point(src35());
}

#[test]
fn output_dir_onto_a_mount_point_3_4_23() {
    output_dir_onto_a_mount_point(src34());
}

/// Issue 13 item 8: SIGINT or SIGTERM while `--output-dir` builds: the temp dir is removed, as on
/// any other failure, and the exit code is 130 (beside the target and inside a mount point).
#[test]
fn a_signal_during_an_output_dir_restore_leaves_nothing() {
    let src = src35();
    let work = tempfile::tempdir().unwrap();
    let mnt = work.path().join("mnt");
    let _m = Tmpfs::mount(&mnt, 0o700);
    for (target, tmp, sig) in [
        (
            work.path().join("restored"),
            work.path().join(".restored.restoring"),
            "INT",
        ),
        (
            work.path().join("restored"),
            work.path().join(".restored.restoring"),
            "TERM",
        ),
        (mnt.clone(), mnt.join(".etcd-backup-restoring"), "INT"),
    ] {
        let child = backup_cmd()
            .env("ETCD_BACKUP_FAILPOINT", "output-commit:hang")
            .arg("restore")
            .arg(&src.snapshot)
            .arg("--output-dir")
            .arg(&target)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The WAL is the last thing built before the commit.
        let t = std::time::Instant::now();
        while !tmp.join("member/wal").exists() {
            assert!(t.elapsed() < Duration::from_secs(60), "never built");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        send_signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "SIG{sig}: {}", describe(&out));
        assert!(
            stderr(&out).contains(&format!("SIG{sig}")),
            "{}",
            describe(&out)
        );
        assert!(!tmp.exists(), "SIG{sig} left {}", tmp.display());
        if target == mnt {
            assert!(list_dir(&mnt).is_empty(), "{:?}", list_dir(&mnt));
        } else {
            assert!(!target.exists());
        }
    }
}
