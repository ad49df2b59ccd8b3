//! `etcd-backup save` against real etcd 3.4.23 and 3.5.1 with kubeadm-style mTLS. Upstream
//! `etcdutl`/`etcdctl` judge every file we write.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `snapshot status -w json` by the release's own tool.
fn upstream_status(dist: &Dist, file: &Path) -> Value {
    let out = match &dist.etcdutl {
        Some(etcdutl) => Command::new(etcdutl)
            .args(["snapshot", "status", "-w", "json"])
            .arg(file)
            .output()
            .unwrap(),
        None => Command::new(&dist.etcdctl)
            .env("ETCDCTL_API", "3")
            .args(["snapshot", "status", "-w", "json"])
            .arg(file)
            .output()
            .unwrap(),
    };
    assert!(out.status.success(), "upstream status: {}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `snapshot restore` by the release's own tool, with its hash check on.
fn upstream_restore(dist: &Dist, file: &Path, data_dir: &Path) {
    let mut cmd = match &dist.etcdutl {
        Some(etcdutl) => Command::new(etcdutl),
        None => {
            let mut c = Command::new(&dist.etcdctl);
            c.env("ETCDCTL_API", "3");
            c
        }
    };
    let out = cmd
        .args(["snapshot", "restore"])
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "upstream restore: {}", describe(&out));
    assert!(data_dir.join("member/snap/db").exists());
}

/// Saves from a real etcd and has upstream check the file, the sidecar and the permissions.
fn save_and_check_with_upstream(dist: Dist, kind: KeyKind) {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), kind);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    etcd.put_bulk(300, 2048);
    etcd.put_bulk(3, 20_000); // overflow pages
    let out = etcd.ctl(&["put", "/registry/namespaces/kube-system", "{}"]);
    assert!(out.status.success(), "{}", describe(&out));

    let backups = tmp.path().join("var/lib/etcd-backups");
    let out = save_cmd(&etcd, &backups)
        .args(["save", "--label", "it-1.0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let path = String::from_utf8(out.stdout.clone()).unwrap();
    let path = Path::new(path.trim_end());
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("etcd-snapshot-") && name.ends_with("_it-1.0.db"),
        "{name}"
    );
    assert_eq!(path.parent().unwrap(), backups);
    assert_eq!(mode(&backups), 0o700, "backup dir mode");
    assert_eq!(mode(path), 0o600, "snapshot mode");
    let sidecar_path = backups.join(format!("{name}.json"));
    assert_eq!(mode(&sidecar_path), 0o600, "sidecar mode");
    assert!(
        list_dir(&backups).iter().all(|n| !n.ends_with(".part")),
        "{:?}",
        list_dir(&backups)
    );

    // The file is the db followed by sha256(db), as etcdctl writes it.
    let bytes = fs::read(path).unwrap();
    assert_eq!(bytes.len() % 512, 32, "size {}", bytes.len());
    let (db, trailer) = bytes.split_at(bytes.len() - 32);
    assert_eq!(Sha256::digest(db).as_slice(), trailer);

    let sidecar: Value = serde_json::from_slice(&fs::read(&sidecar_path).unwrap()).unwrap();
    assert_eq!(sidecar["format_version"], 1);
    assert_eq!(sidecar["file"], name);
    assert_eq!(sidecar["label"], "it-1.0");
    assert_eq!(sidecar["endpoint"], etcd.client_url.as_str());
    assert_eq!(sidecar["member_name"], "node1");
    assert_eq!(sidecar["server_version"], dist.version);
    assert_eq!(sidecar["file_size"], bytes.len() as u64);
    assert_eq!(sidecar["snapshot_db_size"], db.len() as u64);
    assert_eq!(sidecar["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(sidecar["db_sha256"], hex::encode(trailer));

    // Upstream reads the same revision and size, and restores it with its hash check.
    let status = upstream_status(&dist, path);
    assert_eq!(status["revision"], sidecar["revision"], "{status}");
    assert_eq!(status["totalSize"], db.len() as u64, "{status}");
    assert!(status["totalKey"].as_u64().unwrap() >= 304, "{status}");
    upstream_restore(&dist, path, &tmp.path().join("restored"));
}

#[test]
fn etcd_3_4_rsa_pkcs1_snapshot_passes_upstream_checks() {
    save_and_check_with_upstream(v34(), KeyKind::RsaPkcs1);
}

#[test]
fn etcd_3_4_ec_snapshot_passes_upstream_checks() {
    save_and_check_with_upstream(v34(), KeyKind::EcSec1);
}

#[test]
fn etcd_3_5_rsa_pkcs1_snapshot_passes_upstream_checks() {
    save_and_check_with_upstream(v35(), KeyKind::RsaPkcs1);
}

#[test]
fn etcd_3_5_ec_snapshot_passes_upstream_checks() {
    save_and_check_with_upstream(v35(), KeyKind::EcSec1);
}

/// Writes a kubeadm-style static pod manifest for `etcd` (docs/formats.md §7.3).
fn write_manifest(etcd: &Etcd, path: &Path) {
    let args = Etcd::kubeadm_args(
        &etcd.name,
        &etcd.client_url,
        &etcd.peer_url,
        free_port(),
        &etcd.data_dir,
        &etcd.pki,
    );
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n\
         spec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.1-0\n\
         \x20   command:\n    - etcd\n",
    );
    for a in args {
        yaml.push_str(&format!("    - {a}\n"));
    }
    yaml.push_str("  hostNetwork: true\n");
    fs::write(path, yaml).unwrap();
}

#[test]
fn zero_config_on_a_kubeadm_node_and_env_overrides_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let manifest = tmp.path().join("etc/kubernetes/manifests/etcd.yaml");
    fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    write_manifest(&etcd, &manifest);
    let backups = tmp.path().join("backups");

    // No endpoint or certificate flag: everything comes from the manifest.
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .env("ETCD_BACKUP_MANIFEST", &manifest)
        .env("ETCD_BACKUP_DIR", &backups)
        .args(["-w", "json", "save"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["endpoint"], etcd.client_url.as_str());
    assert!(Path::new(doc["path"].as_str().unwrap()).exists());

    // ETCDCTL_ENDPOINTS wins over the manifest.
    let closed = format!("https://127.0.0.1:{}", free_port());
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .env("ETCD_BACKUP_MANIFEST", &manifest)
        .env("ETCD_BACKUP_DIR", &backups)
        .env("ETCDCTL_ENDPOINTS", &closed)
        .args(["save", "--dial-timeout", "2s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains(&closed), "{}", describe(&out));
}

#[test]
fn malformed_manifest_is_a_clear_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("etcd.yaml");
    fs::write(&manifest, "apiVersion: v1\nkind: Pod\nspec: [oops\n").unwrap();
    let out = backup_cmd()
        .env_remove("ETCD_BACKUP_NO_MANIFEST")
        .env("ETCD_BACKUP_MANIFEST", &manifest)
        .arg("--backup-dir")
        .arg(tmp.path().join("b"))
        .arg("save")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&manifest.display().to_string()), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!tmp.path().join("b").exists(), "nothing may be created");
}

#[test]
fn bad_label_is_refused_before_anything_happens() {
    let tmp = tempfile::tempdir().unwrap();
    let out = backup_cmd()
        .arg("--backup-dir")
        .arg(tmp.path().join("b"))
        .args(["save", "--label", "../../etc/passwd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("invalid --label"),
        "{}",
        describe(&out)
    );
    assert!(!tmp.path().join("b").exists());
}

#[test]
fn several_endpoints_pick_a_live_voting_member_and_say_which() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let dead = format!("https://127.0.0.1:{}", free_port());
    let backups = tmp.path().join("b");
    let out = save_cmd(&etcd, &backups)
        .arg("--endpoints")
        .arg(format!("{dead},{}", etcd.client_url))
        .args(["save", "--dial-timeout", "2s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("skipping {dead}")), "{err}");
    assert!(
        err.contains(&format!(
            "using {} (voting member with the highest raft index)",
            etcd.client_url
        )),
        "{err}"
    );
}

#[test]
fn wrong_ca_fails_with_advice_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let other = Pki::generate(&tmp.path().join("other"), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    let backups = tmp.path().join("b");
    let out = save_cmd(&etcd, &backups)
        .arg("--cacert")
        .arg(&other.ca)
        .arg("save")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&etcd.client_url), "{err}");
    assert!(err.contains("not signed by --cacert"), "{err}");
    assert!(finished_looking(&backups).is_empty());
}

#[test]
fn client_cert_from_another_ca_is_rejected_with_advice() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let other = Pki::generate(&tmp.path().join("other"), KeyKind::EcSec1);
    let etcd = Etcd::start(&v34(), &pki, tmp.path());
    let backups = tmp.path().join("b");
    let out = save_cmd(&etcd, &backups)
        .arg("--cert")
        .arg(&other.server_crt)
        .arg("--key")
        .arg(&other.server_key)
        .arg("save")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&etcd.client_url), "{err}");
    assert!(err.contains("rejected the client certificate"), "{err}");
    assert!(err.contains("--cert/--key"), "{err}");
    assert!(finished_looking(&backups).is_empty());
}

#[test]
fn missing_key_file_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let missing = tmp.path().join("nope/server.key");
    let out = backup_cmd()
        .arg("--cacert")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&pki.server_crt)
        .arg("--key")
        .arg(&missing)
        .arg("--backup-dir")
        .arg(tmp.path().join("b"))
        .arg("save")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot read client key {}", missing.display())),
        "{err}"
    );
    assert!(err.contains("--key"), "{err}");
    assert!(!tmp.path().join("b").exists());
}

#[test]
fn unwritable_backup_dir_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());

    // A path whose parent is a regular file can never be created, even by root.
    let file = tmp.path().join("plain-file");
    fs::write(&file, "x").unwrap();
    let backups = file.join("backups");
    let out = save_cmd(&etcd, &backups).arg("save").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&backups.display().to_string()),
        "{}",
        describe(&out)
    );

    // A read-only directory, as an unprivileged user (root ignores mode bits).
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let is_root = rustix::process::geteuid().is_root();
    let mut cmd = if is_root {
        // The unprivileged user needs to read the certificates and traverse to them.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        for p in [&pki.server_key, &pki.server_crt, &pki.ca] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_etcd-backup"))
            .env("ETCD_BACKUP_NO_MANIFEST", "1")
            .env("ETCD_BACKUP_NO_CONFIG", "1");
        c
    } else {
        let mut c = Command::new(env!("CARGO_BIN_EXE_etcd-backup"));
        c.env("ETCD_BACKUP_NO_MANIFEST", "1")
            .env("ETCD_BACKUP_NO_CONFIG", "1");
        c
    };
    let out = cmd
        .arg("--endpoints")
        .arg(&etcd.client_url)
        .arg("--cacert")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&pki.server_crt)
        .arg("--key")
        .arg(&pki.server_key)
        .arg("--backup-dir")
        .arg(&ro)
        .arg("save")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&ro.display().to_string()), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(list_dir(&ro).is_empty());
}

/// A db large enough that a stream can be caught in the middle (about 128 MiB).
fn big_etcd(tmp: &Path) -> Etcd {
    let pki = Pki::generate(tmp, KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp);
    etcd.put_bulk(128, 1 << 20);
    etcd
}

#[test]
fn etcd_killed_mid_stream_leaves_nothing_that_looks_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let mut etcd = big_etcd(tmp.path());
    let backups = tmp.path().join("b");
    // An earlier good backup must survive the failed one untouched.
    let out = save_cmd(&etcd, &backups)
        .args(["save", "--label", "good"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let good = finished_looking(&backups);
    let good_bytes = fs::read(backups.join(&good[0])).unwrap();

    let child = save_cmd(&etcd, &backups)
        .arg("save")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_part(&backups, 8 << 20, Duration::from_secs(60));
    etcd.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("snapshot stream from {} broke", etcd.client_url)),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(
        finished_looking(&backups),
        good,
        "only the good backup remains"
    );
    assert!(list_dir(&backups).iter().all(|n| !n.ends_with(".part")));
    assert_eq!(fs::read(backups.join(&good[0])).unwrap(), good_bytes);
}

#[test]
fn stalled_stream_fails_after_stall_timeout_and_concurrent_save_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = big_etcd(tmp.path());
    let backups = tmp.path().join("b");

    // 1. A second save while the first streams fails at once, naming the first one's pid; the
    //    first then completes.
    let first = save_cmd(&etcd, &backups)
        .args(["save", "--stall-timeout", "60s", "--label", "first"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_pid = first.id();
    wait_for_part(&backups, 4 << 20, Duration::from_secs(60));
    etcd.signal("STOP");
    let t = Instant::now();
    let second = save_cmd(&etcd, &backups)
        .args(["save", "--label", "second"])
        .output()
        .unwrap();
    let refused_in = t.elapsed();
    etcd.signal("CONT");
    assert_eq!(second.status.code(), Some(2), "{}", describe(&second));
    let err = stderr(&second);
    assert!(err.contains(&format!("pid {first_pid}")), "{err}");
    assert!(
        refused_in < Duration::from_secs(3),
        "refused after {refused_in:?}"
    );
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", describe(&first));
    let done = finished_looking(&backups);
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(done[0].ends_with("_first.db"), "{done:?}");

    // 2. etcd paused mid-stream: the stall timeout fires, nothing is left behind.
    let child = save_cmd(&etcd, &backups)
        .args(["save", "--stall-timeout", "2s", "--label", "stalled"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_part(&backups, 4 << 20, Duration::from_secs(60));
    etcd.signal("STOP");
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = t.elapsed();
    etcd.signal("CONT");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&etcd.client_url), "{err}");
    assert!(err.contains("--stall-timeout"), "{err}");
    assert!(
        took < Duration::from_secs(30),
        "stall detected after {took:?}"
    );
    assert_eq!(finished_looking(&backups), done);
    assert!(list_dir(&backups).iter().all(|n| !n.ends_with(".part")));

    // 3. SIGINT mid-stream: exit 130, temp file removed.
    let child = save_cmd(&etcd, &backups)
        .args(["save", "--label", "interrupted"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_part(&backups, 4 << 20, Duration::from_secs(60));
    etcd.signal("STOP");
    send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    etcd.signal("CONT");
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert_eq!(finished_looking(&backups), done);
    assert!(list_dir(&backups).iter().all(|n| !n.ends_with(".part")));
}

#[test]
fn nospace_alarm_is_reported_and_the_snapshot_still_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let mut spec = Member::single("node1");
    spec.extra_args
        .push(format!("--quota-backend-bytes={}", 4 << 20));
    let etcd = Etcd::start_with(&v34(), &pki, tmp.path(), &spec);
    // Fill past the 4 MiB quota until etcd raises NOSPACE and refuses writes.
    let value = "x".repeat(100 * 1024);
    let mut refused = false;
    for i in 0..200 {
        let out = etcd.ctl(&["put", &format!("/registry/fill/{i}"), &value]);
        if !out.status.success() {
            assert!(
                stderr(&out).contains("database space exceeded"),
                "{}",
                describe(&out)
            );
            refused = true;
            break;
        }
    }
    assert!(refused, "etcd never raised NOSPACE");
    let backups = tmp.path().join("b");
    let out = save_cmd(&etcd, &backups).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: active alarm NOSPACE on member"),
        "{err}"
    );
    assert!(err.contains("alarm disarm"), "{err}");
    let path = String::from_utf8(out.stdout).unwrap();
    upstream_status(&v34(), Path::new(path.trim_end()));
}

/// A one-member cluster grown by `member add` to two: (the first member, "node2"), the second a
/// learner or a voting follower.
fn two_members(dist: &Dist, pki: &Pki, dir: &Path, learner: bool) -> (Etcd, Etcd) {
    let first = Etcd::start(dist, pki, dir);
    let peer_port = free_port();
    let peer_url = format!("https://127.0.0.1:{peer_port}");
    let mut add = vec!["member", "add", "node2", "--peer-urls", &peer_url];
    if learner {
        add.push("--learner");
    }
    let out = first.ctl(&add);
    assert!(out.status.success(), "{}", describe(&out));
    let second = Etcd::start_with(
        dist,
        pki,
        dir,
        &Member {
            name: "node2".to_string(),
            initial_cluster: Some(format!(
                "{}={},node2={peer_url}",
                first.name, first.peer_url
            )),
            peer_port: Some(peer_port),
            ..Member::default()
        },
    );
    (first, second)
}

#[test]
fn a_learner_is_never_snapshotted() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let dist = v35();
    let (leader, learner) = two_members(&dist, &pki, tmp.path(), true);
    let backups = tmp.path().join("b");

    // Only the learner: refused, with advice.
    let out = save_cmd(&learner, &backups).arg("save").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("refusing to snapshot from a learner"), "{err}");
    assert!(err.contains(&learner.client_url), "{err}");
    assert!(finished_looking(&backups).is_empty());

    // Learner listed first: the voting member is chosen instead.
    let out = save_cmd(&learner, &backups)
        .arg("--endpoints")
        .arg(format!("{},{}", learner.client_url, leader.client_url))
        .arg("save")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("using {}", leader.client_url)),
        "{err}"
    );
    assert_eq!(finished_looking(&backups).len(), 2);
}

#[test]
fn skip_unless_leader_saves_on_the_leader_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let dist = v35();
    let (mut leader, follower) = two_members(&dist, &pki, tmp.path(), false);
    let backups = tmp.path().join("b");

    // The follower skips, successfully and without writing anything; -w json says why.
    let out = save_cmd(&follower, &backups)
        .args(["-w", "json", "save", "--skip-unless-leader"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["skipped"], true, "{v}");
    assert_eq!(v["reason"], "not the leader");
    assert!(
        stderr(&out).contains("is not the leader"),
        "{}",
        describe(&out)
    );
    assert!(finished_looking(&backups).is_empty());

    // The leader saves.
    let out = save_cmd(&leader, &backups)
        .args(["save", "--skip-unless-leader"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(finished_looking(&backups).len(), 2);

    // With the leader gone, the follower has no leader: it saves anyway, and says so.
    leader.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(Duration::from_millis(1100));
        let out = save_cmd(&follower, &backups)
            .args(["save", "--skip-unless-leader", "--dial-timeout", "2s"])
            .output()
            .unwrap();
        if stderr(&out).contains("there is no leader") {
            assert!(out.status.success(), "{}", describe(&out));
            assert_eq!(finished_looking(&backups).len(), 4);
            break;
        }
        // Until the follower notices, it still names the dead leader and skips.
        assert!(out.status.success(), "{}", describe(&out));
        assert!(Instant::now() < deadline, "{}", describe(&out));
    }
}
