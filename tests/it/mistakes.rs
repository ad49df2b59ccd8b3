//! Operator mistakes get an answer that names the real cause, the path or endpoint, and what to
//! do (issue 13), against real etcd 3.4.23 and 3.5.1 with kubeadm-style TLS.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// No library Debug text (tonic/hyper structs) reaches the operator.
fn assert_no_debug_text(out: &Output) {
    let err = stderr(out);
    for raw in ["tonic::", "hyper::Error(", "Custom {", "kind: "] {
        assert!(!err.contains(raw), "{raw:?} in\n{}", describe(out));
    }
}

fn assert_error(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    let err = stderr(out);
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from\n{}", describe(out));
    }
    assert_no_debug_text(out);
}

/// `save_cmd` with another endpoint list.
fn save_at(etcd: &Etcd, backups: &Path, endpoints: &str) -> Command {
    let mut cmd = backup_cmd();
    cmd.arg("--endpoints")
        .arg(endpoints)
        .arg("--cacert")
        .arg(&etcd.pki.ca)
        .arg("--cert")
        .arg(&etcd.pki.server_crt)
        .arg("--key")
        .arg(&etcd.pki.server_key)
        .arg("--backup-dir")
        .arg(backups);
    cmd
}

#[test]
fn a_manifest_the_user_named_must_exist_but_the_default_may_be_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("b");
    let missing = tmp.path().join("manifests/etcd.yaml");

    // Before: silently ignored, and the error spoke of default certificate paths.
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .arg("--manifest")
        .arg(&missing)
        .arg("save")
        .output()
        .unwrap();
    assert_error(
        &out,
        &[
            &format!(
                "kubeadm etcd manifest {} (flag --manifest) does not exist",
                missing.display()
            ),
            "hint: point --manifest",
        ],
    );
    assert!(
        !stderr(&out).contains("/etc/kubernetes/pki"),
        "{}",
        describe(&out)
    );

    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .env("ETCD_BACKUP_MANIFEST", &missing)
        .arg("save")
        .output()
        .unwrap();
    assert_error(
        &out,
        &[&format!(
            "{} (env ETCD_BACKUP_MANIFEST) does not exist",
            missing.display()
        )],
    );

    // Even with every connection flag given, a named manifest that is not there is refused.
    let out = save_cmd(&etcd, &backups)
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .arg("--manifest")
        .arg(&missing)
        .arg("save")
        .output()
        .unwrap();
    assert_error(&out, &[&missing.display().to_string()]);
    assert!(finished_looking(&backups).is_empty());

    // A data-dir restore reads the manifest for member settings: a named one must exist there
    // too, before anything is built. Node mode checks its journal first (a node restore moves
    // the manifests out), then names the path it looked at.
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .arg("--manifest")
        .arg(&missing)
        .args(["restore", "snap.db", "--output-dir"])
        .arg(tmp.path().join("restored"))
        .output()
        .unwrap();
    assert_error(
        &out,
        &[&format!(
            "kubeadm etcd manifest {} (flag --manifest) does not exist",
            missing.display()
        )],
    );
    assert!(!tmp.path().join("restored").exists());
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .arg("--manifest")
        .arg(&missing)
        .args(["restore", "snap.db", "--yes"])
        .output()
        .unwrap();
    assert_error(
        &out,
        &[&format!(
            "no kubeadm etcd manifest at {}",
            missing.display()
        )],
    );

    // The default path stays silent when absent (this is not a kubeadm node).
    if !Path::new("/etc/kubernetes/manifests/etcd.yaml").exists() {
        let out = save_cmd(&etcd, &backups)
            .env_remove("ETCD_BACKUP_NO_MANIFEST")
            .arg("save")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert!(!stderr(&out).contains("manifest"), "{}", describe(&out));
    }
}

#[test]
fn an_empty_endpoint_list_is_an_error_not_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("b");

    let out = save_at(&etcd, &backups, "").arg("save").output().unwrap();
    assert_error(
        &out,
        &["the endpoint list is empty (flag --endpoints is \"\")"],
    );
    // Before: it fell back to https://127.0.0.1:2379 and failed to connect there.
    assert!(
        !stderr(&out).contains("cannot connect"),
        "{}",
        describe(&out)
    );

    // The list from ETCDCTL_ENDPOINTS.
    let env_cmd = save_at(&etcd, &backups, &etcd.client_url);
    let args: Vec<_> = env_cmd.get_args().skip(2).map(|a| a.to_owned()).collect();
    let mut env_cmd = backup_cmd();
    env_cmd.args(&args).env("ETCDCTL_ENDPOINTS", "");
    let out = env_cmd.arg("save").output().unwrap();
    assert_error(
        &out,
        &["the endpoint list is empty (env ETCDCTL_ENDPOINTS is \"\")"],
    );
    assert!(list_dir(&backups).is_empty());
}

fn http_to_the_tls_client_port(dist: Dist) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    let backups = tmp.path().join("b");
    let plain = etcd.client_url.replace("https://", "http://");
    let out = save_at(&etcd, &backups, &plain)
        .arg("save")
        .output()
        .unwrap();
    // Before: a tonic/hyper Debug struct and blame on the client certificate.
    assert_error(
        &out,
        &[
            &format!("error: {plain} speaks TLS, but the endpoint says http://"),
            &format!(
                "hint: the endpoint speaks TLS; use https:// (--endpoints {})",
                etcd.client_url
            ),
        ],
    );
    assert!(
        !stderr(&out).contains("client certificate"),
        "{}",
        describe(&out)
    );
    // Plaintext is warned about before anything is sent.
    assert!(
        stderr(&out).contains(&format!("warning: {plain} is plaintext")),
        "{}",
        describe(&out)
    );
    assert!(finished_looking(&backups).is_empty());
}

#[test]
fn http_to_the_tls_client_port_of_etcd_3_4_says_use_https() {
    http_to_the_tls_client_port(v34());
}

#[test]
fn http_to_the_tls_client_port_of_etcd_3_5_says_use_https() {
    http_to_the_tls_client_port(v35());
}

fn peer_port(dist: Dist) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    let backups = tmp.path().join("b");
    for url in [
        etcd.peer_url.clone(),
        etcd.peer_url.replace("https://", "http://"),
    ] {
        let out = save_at(&etcd, &backups, &url).arg("save").output().unwrap();
        assert_error(
            &out,
            &[
                &format!(
                    "error: {url} is etcd's peer port, not its client port (it answered /members \
                     with the member list)"
                ),
                "the client port is usually 2379",
                &format!("pass --endpoints {}", etcd.client_url),
            ],
        );
        assert!(
            !stderr(&out).contains("client certificate"),
            "{}",
            describe(&out)
        );
        if url.starts_with("http://") {
            assert!(
                stderr(&out).contains("it speaks TLS, not plain http://"),
                "{}",
                describe(&out)
            );
        }
    }
    assert!(finished_looking(&backups).is_empty());
}

#[test]
fn peer_port_of_etcd_3_4_is_recognised_and_the_client_url_given() {
    peer_port(v34());
}

#[test]
fn peer_port_of_etcd_3_5_is_recognised_and_the_client_url_given() {
    peer_port(v35());
}

#[test]
fn a_cert_and_key_that_do_not_belong_together_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("b");
    // The peer key is signed by the same CA but belongs to the peer certificate.
    let out = save_cmd(&etcd, &backups)
        .arg("--key")
        .arg(&pki.peer_key)
        .arg("save")
        .output()
        .unwrap();
    // Before: "keys may not be consistent: KeyMismatch" and a generic hint.
    assert_error(
        &out,
        &[
            &format!(
                "error: the client certificate {} and the client key {} do not belong together",
                pki.server_crt.display(),
                pki.peer_key.display()
            ),
            "hint: give the key that was made with this certificate",
        ],
    );
    assert!(!stderr(&out).contains("KeyMismatch"), "{}", describe(&out));
    assert!(list_dir(&backups).is_empty());
}

#[test]
fn a_file_given_as_backup_dir_is_called_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let file = tmp.path().join("backups.tar");
    fs::write(&file, "x").unwrap();

    // Before: "cannot use as a directory … hint: make it writable by this user".
    let out = save_cmd(&etcd, &file).arg("save").output().unwrap();
    assert_error(
        &out,
        &[
            &format!("error: {} is a file, not a directory", file.display()),
            "hint: --backup-dir must be a directory",
        ],
    );
    assert!(!stderr(&out).contains("writable"), "{}", describe(&out));

    let below = file.join("etcd");
    let out = save_cmd(&etcd, &below).arg("save").output().unwrap();
    assert_error(
        &out,
        &[&format!(
            "cannot create directory {}: {} is a file, not a directory",
            below.display(),
            file.display()
        )],
    );
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_user_denied_root_owned_files_is_told_to_run_as_root() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to drop privileges with setpriv");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    // kubeadm's layout: directories traversable, certificates readable, keys root's 0600.
    for d in pki
        .dir
        .ancestors()
        .take_while(|d| d.starts_with(tmp.path()))
    {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let backups = tmp.path().join("backups");
    fs::create_dir(&backups).unwrap();
    fs::set_permissions(&backups, fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |key: &Path, dir: &Path| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_etcd-backup"))
            .env("ETCD_BACKUP_NO_MANIFEST", "1")
            .env("ETCD_BACKUP_NO_CONFIG", "1")
            .arg("--endpoints")
            .arg(&etcd.client_url)
            .arg("--cacert")
            .arg(&pki.ca)
            .arg("--cert")
            .arg(&pki.server_crt)
            .arg("--key")
            .arg(key)
            .arg("--backup-dir")
            .arg(dir)
            .arg("save");
        c.output().unwrap()
    };

    // Before: "Permission denied" and advice to pass other files.
    let out = as_nobody(&pki.server_key, &backups);
    assert_error(
        &out,
        &[
            &format!("cannot read client key {}", pki.server_key.display()),
            &format!(
                "hint: {} belongs to root and this runs as uid 65534: run etcd-backup as root \
                 (sudo)",
                pki.server_key.display()
            ),
        ],
    );

    // A readable copy of the key gets past the certificates; root's backup dir stops it next.
    let key = tmp.path().join("readable.key");
    fs::copy(&pki.server_key, &key).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = as_nobody(&key, &backups);
    assert_error(
        &out,
        &[
            &backups.display().to_string(),
            "Permission denied",
            "run etcd-backup as root (sudo)",
        ],
    );

    // A user's own directory that refuses them is their business: no "run as root".
    let own = tmp.path().join("own");
    fs::create_dir(&own).unwrap();
    std::os::unix::fs::chown(&own, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(&own, fs::Permissions::from_mode(0o500)).unwrap();
    let out = as_nobody(&key, &own);
    assert_error(&out, &[&own.display().to_string(), "Permission denied"]);
    assert!(!stderr(&out).contains("as root"), "{}", describe(&out));
}

#[test]
fn a_list_mixing_https_and_http_is_refused_and_plaintext_is_never_used() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("b");
    // Before: the https endpoint failed and the snapshot was tried over the http one.
    let dead = format!("https://127.0.0.1:{}", free_port());
    let plain = etcd.client_url.replace("https://", "http://");
    for list in [
        format!("{dead},{plain}"),
        format!("{},{plain}", etcd.client_url),
    ] {
        let out = save_at(&etcd, &backups, &list)
            .arg("save")
            .output()
            .unwrap();
        assert_error(
            &out,
            &[
                "error: --endpoints mixes TLS (",
                &format!("and plaintext ({plain}) endpoints"),
                "hint: list only https:// endpoints: etcd-backup never falls back from TLS to \
                 plaintext",
            ],
        );
        assert!(!stderr(&out).contains("skipping"), "{}", describe(&out));
        assert!(list_dir(&backups).is_empty(), "refused before any work");
    }

    // The plaintext warning is one line, and a JSON log line under --log-format json.
    let out = save_at(&etcd, &backups, &plain)
        .args(["--log-format", "json", "save"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let warning = stderr(&out)
        .lines()
        .find(|l| l.contains("is plaintext"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no plaintext warning:\n{}", describe(&out)));
    let v: serde_json::Value = serde_json::from_str(&warning).unwrap();
    assert_eq!(v["level"], "warn", "{warning}");
}

#[test]
fn endpoints_of_two_different_clusters_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    for d in ["a", "b"] {
        fs::create_dir(tmp.path().join(d)).unwrap();
    }
    let a = Etcd::start(&v35(), &pki, &tmp.path().join("a"));
    let b = Etcd::start(&v34(), &pki, &tmp.path().join("b"));
    let cluster_id = |e: &Etcd| -> u64 {
        let out = e.ctl(&["endpoint", "status", "-w", "json"]);
        assert!(out.status.success(), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["Status"]["header"]["cluster_id"].as_u64().unwrap()
    };
    let (ida, idb) = (cluster_id(&a), cluster_id(&b));
    assert_ne!(ida, idb);
    let backups = tmp.path().join("backups");
    let list = format!("{},{}", a.client_url, b.client_url);
    // Before: the one with the highest raft index was snapshotted, whichever cluster it was.
    let out = save_at(&a, &backups, &list).arg("save").output().unwrap();
    assert_error(
        &out,
        &[
            "error: the endpoints belong to 2 different clusters:",
            &format!("cluster {ida:x}: {}", a.client_url),
            &format!("cluster {idb:x}: {}", b.client_url),
            "hint: list the client URLs of one cluster's members only",
        ],
    );
    assert!(finished_looking(&backups).is_empty());
}
