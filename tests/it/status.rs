//! `etcd-backup status FILE` must print exactly what upstream prints for the same file, in every
//! output format, for snapshots of many shapes from real etcd 3.4.23 and 3.5.1.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const FORMATS: [&str; 4] = ["json", "table", "simple", "fields"];

/// Upstream `snapshot status -w FORMAT` stdout (etcdutl for 3.5, etcdctl for 3.4).
pub fn upstream(dist: &Dist, file: &Path, format: &str) -> String {
    let out = match &dist.etcdutl {
        Some(etcdutl) => Command::new(etcdutl)
            .args(["snapshot", "status", "-w", format])
            .arg(file)
            .output()
            .unwrap(),
        None => Command::new(&dist.etcdctl)
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", "-w", format])
            .arg(file)
            .output()
            .unwrap(),
    };
    assert!(out.status.success(), "upstream: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn ours(file: &Path, format: &str) -> String {
    let out = backup_cmd()
        .args(["status", "-w", format])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ours: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn ctl_ok(etcd: &Etcd, args: &[&str]) -> String {
    let out = etcd.ctl(args);
    assert!(out.status.success(), "etcdctl {args:?}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn snapshot(etcd: &Etcd, dir: &Path, label: &str) -> PathBuf {
    let out = save_cmd(etcd, dir)
        .args(["save", "--label", label])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
}

/// Builds up one cluster through the shapes the issue lists, snapshotting each; returns the files.
fn shapes(dist: &Dist, tmp: &Path) -> Vec<(String, PathBuf)> {
    let pki = Pki::generate(tmp, KeyKind::RsaPkcs1);
    let etcd = Etcd::start(dist, &pki, tmp);
    let dir = tmp.join("b");
    let mut files = Vec::new();
    files.push(("empty".to_string(), snapshot(&etcd, &dir, "empty")));

    for i in 0..20 {
        ctl_ok(
            &etcd,
            &["put", &format!("/registry/pods/default/p{i}"), "v"],
        );
    }
    files.push(("few-keys".to_string(), snapshot(&etcd, &dir, "few")));

    etcd.put_bulk(4, 12_000); // values larger than a page: overflow pages
    etcd.put_bulk(2, 5_000);
    files.push(("overflow".to_string(), snapshot(&etcd, &dir, "overflow")));

    let lease = ctl_ok(&etcd, &["lease", "grant", "3600"]);
    let id = lease.split_whitespace().nth(1).unwrap().to_string();
    for i in 0..5 {
        ctl_ok(
            &etcd,
            &["put", "--lease", &id, &format!("/leased/k{i}"), "x"],
        );
    }
    for i in 0..5 {
        ctl_ok(&etcd, &["del", &format!("/registry/pods/default/p{i}")]);
    }
    ctl_ok(&etcd, &["del", "--prefix", "/registry/pods/default/p1"]);
    files.push((
        "lease-and-deletes".to_string(),
        snapshot(&etcd, &dir, "lease"),
    ));

    let rev: serde_json::Value =
        serde_json::from_str(&ctl_ok(&etcd, &["endpoint", "status", "-w", "json"])).unwrap();
    let rev = rev[0]["Status"]["header"]["revision"].as_i64().unwrap();
    ctl_ok(&etcd, &["compact", &(rev - 3).to_string()]);
    files.push(("compacted".to_string(), snapshot(&etcd, &dir, "compacted")));

    ctl_ok(&etcd, &["user", "add", "alice:secret"]);
    ctl_ok(&etcd, &["role", "add", "r1"]);
    ctl_ok(
        &etcd,
        &[
            "role",
            "grant-permission",
            "r1",
            "readwrite",
            "/foo",
            "/fop",
        ],
    );
    ctl_ok(&etcd, &["user", "grant-role", "alice", "r1"]);
    files.push(("auth".to_string(), snapshot(&etcd, &dir, "auth")));

    // A learner added and removed leaves a members_removed entry.
    let added = ctl_ok(
        &etcd,
        &[
            "member",
            "add",
            "gone",
            "--learner",
            "--peer-urls",
            &format!("https://127.0.0.1:{}", free_port()),
        ],
    );
    let gone = added
        .split_whitespace()
        .skip_while(|w| *w != "Member")
        .nth(1)
        .unwrap()
        .to_string();
    ctl_ok(&etcd, &["member", "remove", &gone]);
    files.push((
        "removed-member".to_string(),
        snapshot(&etcd, &dir, "removed"),
    ));
    files
}

fn parity(dist: Dist) {
    let tmp = tempfile::tempdir().unwrap();
    let files = shapes(&dist, tmp.path());
    let mut compared = 0;
    for (shape, file) in &files {
        for format in FORMATS {
            let want = upstream(&dist, file, format);
            let got = ours(file, format);
            assert_eq!(
                got, want,
                "etcd {} shape {shape} -w {format}: ours vs upstream",
                dist.version
            );
            compared += 1;
        }
    }
    eprintln!(
        "etcd {}: {compared} status outputs identical to upstream over {} snapshots",
        dist.version,
        files.len()
    );
}

#[test]
fn status_matches_etcdctl_3_4_in_every_format() {
    parity(v34());
}

#[test]
fn status_matches_etcdutl_3_5_in_every_format() {
    parity(v35());
}
