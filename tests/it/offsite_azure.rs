//! Off-site copies to Azure Blob Storage end to end, against a real Azurite 3.37.0 blob service
//! (tests/it/common/azurite.rs) and real etcd 3.5.1: the binary is driven only by what an operator
//! sets (`AZURE_*` variables, `AZURITE_BLOB_STORAGE_URL`, `--remote-endpoint` as
//! `ETCD_BACKUP_REMOTE_ENDPOINT`), and the server's own listing is the witness of what it holds.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::azurite::{Azurite, ACCOUNT, ACCOUNT_KEY};
use common::offsite::{fixture, lines, round_trip, save_to_gone_store};
use common::*;
use etcd_backup::remote::{Remote, RemoteError, RemoteOptions};
use serde_json::Value;

const MIB: u64 = 1 << 20;

/// A valid base64 key that is not the account's.
const WRONG_KEY: &str = "d3Jvbmcta2V5LWZvci1henVyaXRlLXRlc3RzLW9ubHktMDEyMzQ1Njc4OWFiY2RlZg==";

/// `cmd` without any Azure setting of the developer's shell.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") || k.starts_with("AZURITE_") || k == "IDENTITY_ENDPOINT" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// An account and its key, and the account's endpoint as `--remote-endpoint` (through its
/// variable, so that every subcommand gets it): Azure Stack or any custom endpoint.
fn with_endpoint_flag(cmd: Command, az: &Azurite) -> Command {
    let mut cmd = clean(cmd);
    cmd.env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
        .env("ETCD_BACKUP_REMOTE_ENDPOINT", &az.account_url);
    cmd
}

/// The same through object_store's variable, without `AZURE_ALLOW_HTTP`.
fn with_endpoint_var(cmd: Command, az: &Azurite) -> Command {
    let mut cmd = clean(cmd);
    cmd.env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .env("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
        .env("AZURE_STORAGE_ENDPOINT", &az.account_url);
    cmd
}

/// Emulator mode, as Azurite's users set it: the well-known account and key are implied.
fn with_emulator(cmd: Command, blob_url: &str) -> Command {
    let mut cmd = clean(cmd);
    cmd.env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", blob_url);
    cmd
}

/// The `file` fields of `status --remote -w json`, sorted.
fn remote_files(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{}", describe(out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut files: Vec<String> = v["backups"]
        .as_array()
        .unwrap_or_else(|| panic!("no backups in {v}"))
        .iter()
        .map(|b| b["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(v["count"], files.len(), "{v}");
    files.sort();
    files
}

#[test]
fn azure_round_trip_and_pruning_through_every_endpoint_setting() {
    let f = fixture();
    let az = Azurite::start();
    let url = az.url("prod/");
    let t = Instant::now();
    round_trip(&f, &url, &|c| with_endpoint_flag(c, &az));
    eprintln!("round trip through {}: {:.1?}", az.account_url, t.elapsed());
    let node = &f.etcd.name;
    let first = az.list_blobs("prod/", false).unwrap();
    assert_eq!(first.len(), 2, "object and sidecar: {first:?}");
    assert!(first[1].ends_with(".json") && first[1].starts_with(&first[0]));
    assert!(first[0].starts_with(&format!("prod/{node}/etcd-snapshot-")));

    // Two more saves with pruning, in emulator mode: both sets keep the two newest.
    let mut saved = Vec::new();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(1100));
        let out = with_emulator(save_cmd(&f.etcd, &f.backups), &az.blob_url)
            .args(["save", "--prune", "--keep-last", "2", "--remote", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let remote = lines(&out)
            .into_iter()
            .find(|l| l.starts_with("az://"))
            .unwrap_or_else(|| panic!("no az:// URL printed: {}", describe(&out)));
        saved.push(remote.strip_prefix(&url).unwrap().to_string());
    }
    let out = with_emulator(backup_cmd(), &az.blob_url)
        .args(["-w", "json", "status", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(remote_files(&out), saved);
    let mut expected: Vec<String> = Vec::new();
    for s in &saved {
        expected.push(format!("prod/{s}"));
        expected.push(format!("prod/{s}.json"));
    }
    assert_eq!(az.list_blobs("prod/", false).unwrap(), expected);
    assert_eq!(
        az.list_blobs("prod/", true).unwrap(),
        expected,
        "nothing uncommitted left behind"
    );

    // AZURE_STORAGE_ENDPOINT alone (no AZURE_ALLOW_HTTP) reaches the same set.
    let out = with_endpoint_var(backup_cmd(), &az)
        .args(["-w", "json", "status", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(remote_files(&out), saved);

    // Emulator mode with an endpoint it would ignore: refused, saying why and what to set.
    let out = with_emulator(backup_cmd(), &az.blob_url)
        .env("ETCD_BACKUP_REMOTE_ENDPOINT", &az.account_url)
        .args(["status", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("AZURE_STORAGE_USE_EMULATOR"), "{err}");
    assert!(err.contains("AZURITE_BLOB_STORAGE_URL"), "{err}");
}

#[test]
fn azure_wrong_key_and_store_gone() {
    let f = fixture();
    let mut az = Azurite::start();
    let url = az.url("prod/");

    // Wrong account key: Shared Key signatures fail; exit 2 naming the variables to check, the
    // key never printed, the verified local backup kept, nothing in the store.
    let out = with_endpoint_flag(save_cmd(&f.etcd, &f.backups), &az)
        .env("AZURE_STORAGE_ACCOUNT_KEY", WRONG_KEY)
        .args(["save", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    eprintln!("wrong key:\n{err}");
    assert!(err.contains("credentials"), "{err}");
    assert!(err.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{err}");
    assert!(err.contains("AZURE_STORAGE_ACCOUNT_NAME"), "{err}");
    assert!(
        !err.contains(WRONG_KEY) && !err.contains(&WRONG_KEY[..20]),
        "{err}"
    );
    assert!(err.contains("the verified backup is kept at"), "{err}");
    let kept = finished_looking(&f.backups);
    assert_eq!(kept.len(), 2, "backup and sidecar: {kept:?}");
    assert_eq!(az.list_blobs("", true).unwrap(), Vec::<String>::new());
    // The same key in emulator mode fails the same way.
    let out = with_emulator(backup_cmd(), &az.blob_url)
        .env("AZURE_STORAGE_ACCOUNT_KEY", WRONG_KEY)
        .args(["status", "--remote", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("AZURE_STORAGE_ACCOUNT_KEY"),
        "{}",
        describe(&out)
    );

    // The store stopped: exit 2 naming the endpoint, in both ways of setting it; the local
    // backups are kept.
    let blob_url = az.blob_url.clone();
    let account_url = az.account_url.clone();
    az.stop();
    std::thread::sleep(Duration::from_millis(1100));
    let out = save_to_gone_store(
        with_emulator(save_cmd(&f.etcd, &f.backups), &blob_url),
        &url,
    );
    let err = stderr(&out);
    eprintln!("store gone:\n{err}");
    assert!(
        err.contains(&format!("no connection to {account_url}")),
        "{err}"
    );
    assert!(err.contains("AZURITE_BLOB_STORAGE_URL"), "{err}");
    assert!(err.contains("the verified backup is kept at"), "{err}");
    assert_eq!(finished_looking(&f.backups).len(), 4);
    let out = with_endpoint_flag(backup_cmd(), &az)
        .args([
            "status",
            "--remote",
            &url,
            "--remote-retries",
            "0",
            "--remote-timeout",
            "5s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("no connection to {account_url}")),
        "{}",
        describe(&out)
    );
}

#[test]
fn azure_upload_killed_midway_commits_nothing() {
    let mut az = Azurite::start();
    let opts = RemoteOptions {
        retries: 1,
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
        ..az.options()
    };
    let r = Remote::open_in(&az.url("node1"), &opts, &az.env()).unwrap();
    let endpoint = az.account_url.clone();
    // Blocks of 8 MiB: the kill comes while the second or third block is on its way.
    // After 12 MiB: wait until the server holds a staged block of the upload (an uncommitted
    // blob in its listing), note what it lists then, `(committed, with uncommitted)`, and kill
    // it (SIGKILL).
    let mut before_kill = None;
    let e = {
        let mut src = Tripwire::new(Pattern::new(21, 64 * MIB), 12 * MIB, || {
            let t = Instant::now();
            let mut staged = Vec::new();
            while staged.is_empty() && t.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
                staged = az.list_blobs("node1/", true).expect("listing");
            }
            let committed = az.list_blobs("node1/", false).expect("listing");
            before_kill = Some((committed, staged));
            az.kill();
        });
        r.upload("etcd-snapshot.db", &mut src).unwrap_err()
    };
    // Mid-upload: a block was on the server, uncommitted; no blob was.
    assert_eq!(
        before_kill,
        Some((Vec::new(), vec!["node1/etcd-snapshot.db".to_string()])),
        "the server's listing just before the kill"
    );
    eprintln!(
        "upload to a killed server: {e}\n  cause: {:?}",
        std::error::Error::source(&e).map(|s| s.to_string())
    );
    assert!(!az.running());
    assert!(
        matches!(&e, RemoteError::Unreachable { endpoint: ep, .. } if ep == &endpoint),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "cannot upload to az://backups/node1/etcd-snapshot.db: no connection to {endpoint}"
        )
    );

    // Back on the same data: no blob is committed (a block blob exists only once its block list
    // is put). Blocks sent stay uncommitted on Azure, invisible to reads and listings, until it
    // collects them (a week); Azurite, killed, may have lost them. Either way they do not stop
    // a new upload of the key.
    az.restart();
    assert_eq!(
        az.list_blobs("node1/", false).unwrap(),
        Vec::<String>::new()
    );
    let uncommitted = az.list_blobs("node1/", true).unwrap();
    eprintln!("with uncommitted blobs after the kill: {uncommitted:?}");
    assert!(
        uncommitted.is_empty() || uncommitted == ["node1/etcd-snapshot.db"],
        "{uncommitted:?}"
    );
    let r = Remote::open_in(&az.url("node1"), &opts, &az.env()).unwrap();
    assert!(r.list().unwrap().is_empty());
    assert!(matches!(
        r.reader("etcd-snapshot.db"),
        Err(RemoteError::NotFound { .. })
    ));
    let up = r
        .upload("etcd-snapshot.db", &mut Pattern::new(22, 9 * MIB))
        .unwrap();
    assert_eq!(up.size, 9 * MIB);
    assert_eq!(
        az.list_blobs("node1/", true).unwrap(),
        ["node1/etcd-snapshot.db"]
    );
    let listed: Vec<(String, u64)> = r
        .list()
        .unwrap()
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    assert_eq!(listed, [("etcd-snapshot.db".to_string(), 9 * MIB)]);
}
