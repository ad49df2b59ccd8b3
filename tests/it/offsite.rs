//! Off-site copies end to end: `save --remote`, then `status`, `verify`, `prune` and `restore`
//! through the store, against real etcd 3.5.1. The S3 cases run against a real SeaweedFS server
//! (with SigV4), the rest also against a `file://` store.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::offsite::{fixture, round_trip, save_to_gone_store};
use common::s3::SeaweedFs;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The binary with the store's credentials in the environment.
fn with_s3(mut cmd: Command, s3: &SeaweedFs) -> Command {
    cmd.env("AWS_ACCESS_KEY_ID", &s3.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env_remove("AWS_PROFILE");
    cmd
}

#[test]
fn file_store_round_trip_and_pruning() {
    let f = fixture();
    let store = f.tmp.path().join("nfs");
    let url = format!("file://{}/", store.display());
    round_trip(&f, &url, &|c| c);
    // Objects are 0600 in 0700 dirs, and the sidecar describes the object.
    let node_dir = store.join(&f.etcd.name);
    assert_eq!(
        fs::metadata(&node_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let objects = list_dir(&node_dir);
    assert_eq!(objects.len(), 2, "{objects:?}");
    for o in &objects {
        let m = fs::metadata(node_dir.join(o)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o600, "{o}");
    }
    let obj = node_dir.join(&objects[0]);
    let sc: Value = serde_json::from_slice(&fs::read(node_dir.join(&objects[1])).unwrap()).unwrap();
    assert_eq!(
        sc["sha256"],
        hex::encode(Sha256::digest(fs::read(&obj).unwrap()))
    );

    // Two more saves with --prune --keep-last 2: both sets keep the two newest.
    for _ in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = save_cmd(&f.etcd, &f.backups)
            .args(["save", "--prune", "--keep-last", "2", "--remote", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }
    let remote_backups: Vec<String> = list_dir(&node_dir)
        .into_iter()
        .filter(|n| !n.ends_with(".json"))
        .collect();
    assert_eq!(remote_backups.len(), 2, "{remote_backups:?}");
    assert!(!remote_backups.contains(&objects[0]), "{remote_backups:?}");
    assert_eq!(list_dir(&node_dir).len(), 4);
    let local: Vec<String> = list_dir(&f.backups)
        .into_iter()
        .filter(|n| n.starts_with("etcd-snapshot-") && !n.ends_with(".json"))
        .collect();
    assert_eq!(local, remote_backups);

    // prune --remote --dry-run changes nothing; a damaged newest object is not the floor.
    let newest = node_dir.join(remote_backups.last().unwrap());
    let mut bytes = fs::read(&newest).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    fs::write(&newest, &bytes).unwrap();
    let out = backup_cmd()
        .args([
            "-w",
            "json",
            "prune",
            "--keep-last",
            "1",
            "--dry-run",
            "--remote",
            &url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = format!("{}/{}", f.etcd.name, remote_backups[0]);
    assert_eq!(v["newest_verified"], expected, "{v}");
    assert_eq!(list_dir(&node_dir).len(), 4);
}

#[test]
fn s3_round_trip_credentials_and_failures() {
    let f = fixture();
    let s3 = SeaweedFs::start();
    let url = format!("s3://{}/prod/", s3.bucket);
    round_trip(&f, &url, &|c| with_s3(c, &s3));

    // Wrong secret: SigV4 rejects it; the run fails (2) with a clear message, and the verified
    // local backup is kept.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = list_dir(&f.backups).len();
    let out = with_s3(save_cmd(&f.etcd, &f.backups), &s3)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["save", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("credentials"), "{err}");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    assert!(err.contains("the verified backup is kept at"), "{err}");
    assert_eq!(list_dir(&f.backups).len(), before + 2);

    // The store is gone: the same, and nothing new appears in it later.
    let listed_before = with_s3(backup_cmd(), &s3)
        .args(["-w", "json", "status", "--remote", &url])
        .output()
        .unwrap();
    let count: Value = serde_json::from_slice(&listed_before.stdout).unwrap();
    drop(s3);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let s3_gone_env = |mut c: Command| {
        c.env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "y")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
        c
    };
    let out = save_to_gone_store(s3_gone_env(save_cmd(&f.etcd, &f.backups)), &url);
    assert!(stderr(&out).contains("127.0.0.1:9"), "{}", describe(&out));
    assert_eq!(count["count"], 1);
}
