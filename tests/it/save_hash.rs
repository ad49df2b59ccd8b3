//! `save` compares the members' data before a snapshot (`HashKV` at one revision, as `health`
//! does), on simulated kubeadm nodes forming one real etcd cluster (3 members, TLS): it never
//! snapshots a member whose data differs from the majority's, and names it.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::node::Node;
use common::*;
use serde_json::Value;

fn save(node: &Node, extra: &[&str]) -> Output {
    node.backup_cmd().arg("save").args(extra).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sidecar of the backup whose path `save` printed.
fn sidecar_of(out: &Output) -> Value {
    let path = String::from_utf8(out.stdout.clone()).unwrap();
    let path = format!("{}.json", path.trim_end());
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

/// Replaces every occurrence of `from` in `file` by `to` (same length); how many.
fn change_bytes(file: &Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut data = fs::read(file).unwrap();
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    fs::write(file, data).unwrap();
    n
}

/// A 3-member cluster whose n2 had a value changed in its db while its etcd was stopped: its
/// `HashKV` differs from n1's and n3's, which still agree.
fn cluster_with_a_diverged_member(root: &Path) -> Vec<Node> {
    let nodes = Node::cluster(root, &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/registry/secrets/default/s", "value-AAAAAAAA");
    // Every member has applied it before n2 stops.
    for n in &nodes {
        assert_eq!(
            n.get("/registry/secrets/default/s").as_deref(),
            Some("value-AAAAAAAA")
        );
    }
    // Stopped the kubeadm way: the manifest leaves the manifests dir.
    let aside = nodes[1].node_dir.join("etcd.yaml.stopped");
    fs::rename(&nodes[1].manifest, &aside).unwrap();
    assert!(
        nodes[1].wait_etcd_gone(Duration::from_secs(30)),
        "{}",
        nodes[1].logs()
    );
    let db = nodes[1].data_dir.join("member/snap/db");
    assert!(change_bytes(&db, b"value-AAAAAAAA", b"value-BBBBBBBB") > 0);
    fs::rename(&aside, &nodes[1].manifest).unwrap();
    assert!(
        nodes[1].wait_healthy(Duration::from_secs(30)),
        "{}",
        nodes[1].logs()
    );
    nodes
}

#[test]
fn save_never_snapshots_a_member_whose_data_differs_and_names_it() {
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let nodes = cluster_with_a_diverged_member(root.path());
    eprintln!(
        "cluster with a diverged member: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let (n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2]);

    // Through the diverged member only: refused before a byte is written.
    let t = Instant::now();
    let out = save(n2, &["--endpoints", &n2.client_url]);
    eprintln!("refused save: {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("refusing to snapshot member n2 (")
            && err.contains(&format!("at {}", n2.client_url)),
        "{err}"
    );
    assert!(
        err.contains("its data differs from the majority's (HashKV "),
        "{err}"
    );
    assert!(err.contains(&format!("n1 at {}", n1.client_url)), "{err}");
    assert!(err.contains(&format!("n3 at {}", n3.client_url)), "{err}");
    assert!(
        err.contains("`etcd-backup member rejoin` on n2's node"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let left: Vec<String> = list_dir(&n2.backup_dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.ends_with(".part") && !n.contains(".db")),
        "{left:?}"
    );
    assert!(finished_looking(&n2.backup_dir).is_empty());

    // Through a good member: saved, with a warning naming the diverged one.
    let out = save(n1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: member n2 (") && err.contains("its data differs"),
        "{err}"
    );
    assert!(
        err.contains("`etcd-backup member rejoin` on its node"),
        "{err}"
    );
    let sc = sidecar_of(&out);
    assert_eq!(sc["member_name"], "n1");
    // The snapshot's own HashKV: confirmed by n1 and n3, n2 named as differing.
    let hk = &sc["hash_kv"];
    assert_eq!(hk["members"].as_array().unwrap().len(), 2, "{sc}");
    assert!(hk["note"].as_str().unwrap().contains("member n2 ("), "{sc}");

    // The diverged member first among several: the save turns to one that agrees.
    let endpoints = format!("{},{}", n2.client_url, n3.client_url);
    let out = save(n2, &["--endpoints", &endpoints]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("member n2 (") && err.contains("its data differs"),
        "{err}"
    );
    assert_eq!(sidecar_of(&out)["member_name"], "n3", "{err}");

    // --skip-hash-check: an emergency's backup, whatever the member holds.
    let out = save(n2, &["--endpoints", &n2.client_url, "--skip-hash-check"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!stderr(&out).contains("differs"), "{}", describe(&out));
    assert_eq!(sidecar_of(&out)["member_name"], "n2");
}

fn a_healthy_cluster_saves_without_a_warning(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &dist, &["n1", "n2", "n3"]);
    nodes[0].put("/registry/pods/default/p1", "x");
    let t = Instant::now();
    let out = save(&nodes[1], &["-v"]);
    eprintln!("save with the check: {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(!err.contains("warning"), "{err}");
    // The check ran: every member answered HashKV, before the snapshot and again at its
    // revision, and n2 agrees.
    assert_eq!(err.matches(": HashKV ").count(), 6, "{err}");
    assert!(err.contains("member n2 agrees with the majority"), "{err}");
    assert_eq!(sidecar_of(&out)["member_name"], "n2");
}

#[test]
fn a_healthy_cluster_saves_without_a_warning_3_5_1() {
    a_healthy_cluster_saves_without_a_warning(v35());
}

#[test]
fn a_healthy_cluster_saves_without_a_warning_3_4_23() {
    a_healthy_cluster_saves_without_a_warning(v34());
}

/// `etcdctl` on `node`, retried when a loaded machine makes etcd time out; its stdout.
fn ctl_ok(node: &Node, args: &[&str]) -> String {
    let mut out = node.ctl(args);
    for _ in 0..4 {
        if out.status.success() || !stderr(&out).contains("timed out") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        out = node.ctl(args);
    }
    assert!(out.status.success(), "etcdctl {args:?}: {}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The store's current revision, through `node`.
fn revision(node: &Node) -> i64 {
    let out = ctl_ok(node, &["get", "/none", "-w", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v["header"]["revision"].as_i64().unwrap()
}

/// Data that exercises every rule of the hash: leases, overwrites, deletes, a re-created key,
/// a compaction at a delete's revision and more writes after it.
fn populate(node: &Node) {
    let granted = ctl_ok(node, &["lease", "grant", "3600"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    for i in 0..3 {
        let k = format!("/leased/k{i}");
        ctl_ok(node, &["put", &k, "leased", &format!("--lease={lease}")]);
    }
    for i in 0..12 {
        ctl_ok(node, &["put", &format!("/a/k{i:02}"), &format!("v{i}")]);
    }
    for i in 0..4 {
        ctl_ok(node, &["put", &format!("/a/k{i:02}"), &format!("w{i}")]);
    }
    ctl_ok(node, &["del", "/a/k05"]);
    ctl_ok(node, &["del", "/a/k06"]);
    ctl_ok(node, &["put", "/a/k06", "again"]);
    ctl_ok(node, &["del", "/a/k07"]);
    // Compacted at the revision of a delete (a tombstone at the compacted revision).
    let rev = revision(node);
    ctl_ok(node, &["compact", &rev.to_string()]);
    for i in 0..3 {
        ctl_ok(node, &["put", &format!("/a/k{i:02}"), &format!("x{i}")]);
    }
    ctl_ok(node, &["del", "/a/k08"]);
    ctl_ok(node, &["put", "/b/after", "compaction"]);
}

/// `etcdctl endpoint hashkv --rev R` on one member: (hash, compact revision).
fn etcdctl_hashkv(node: &Node, rev: i64) -> (u64, i64) {
    let out = ctl_ok(
        node,
        &[
            "endpoint",
            "hashkv",
            "--rev",
            &rev.to_string(),
            "-w",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let h = &v[0]["HashKV"];
    (
        h["hash"].as_u64().unwrap(),
        h["compact_revision"].as_i64().unwrap(),
    )
}

fn the_sidecar_hash_is_etcds_hashkv_on_every_member(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &dist, &["n1", "n2", "n3"]);
    populate(&nodes[0]);
    let out = save(&nodes[1], &["-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let sc = sidecar_of(&out);
    let hk = &sc["hash_kv"];
    let rev = hk["revision"].as_i64().unwrap();
    assert_eq!(rev, sc["revision"].as_i64().unwrap(), "{sc}");
    assert!(hk["compact_revision"].as_i64().unwrap() > 1, "{sc}");
    for n in &nodes {
        let (hash, compacted) = etcdctl_hashkv(n, rev);
        assert_eq!(hk["hash"].as_u64().unwrap(), hash, "{} {sc}", n.name);
        assert_eq!(hk["compact_revision"].as_i64().unwrap(), compacted, "{sc}");
    }
    assert_eq!(hk["members"].as_array().unwrap().len(), 3, "{sc}");
    assert!(hk.get("note").is_none(), "{sc}");
    assert!(
        stderr(&out).contains("the file's HashKV at revision "),
        "{}",
        describe(&out)
    );

    // Compacted at the current revision: no member can confirm it, and it says so.
    let rev = revision(&nodes[0]);
    ctl_ok(&nodes[0], &["compact", &rev.to_string()]);
    let out = save(&nodes[0], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let sc = sidecar_of(&out);
    assert_eq!(
        sc["hash_kv"]["compact_revision"].as_i64(),
        Some(rev),
        "{sc}"
    );
    assert!(
        sc["hash_kv"]["members"].as_array().unwrap().is_empty(),
        "{sc}"
    );
    assert!(
        stderr(&out).contains("etcd answers no HashKV there"),
        "{}",
        describe(&out)
    );

    // --skip-hash-check: the hash is recorded, the members are not asked.
    let out = save(&nodes[2], &["--skip-hash-check", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let sc = sidecar_of(&out);
    assert!(sc["hash_kv"]["note"]
        .as_str()
        .unwrap()
        .contains("--skip-hash-check"));
    assert!(!stderr(&out).contains(": HashKV "), "{}", describe(&out));
}

#[test]
fn the_sidecar_hash_is_etcds_hashkv_on_every_member_3_5_1() {
    the_sidecar_hash_is_etcds_hashkv_on_every_member(v35());
}

#[test]
fn the_sidecar_hash_is_etcds_hashkv_on_every_member_3_4_23() {
    the_sidecar_hash_is_etcds_hashkv_on_every_member(v34());
}

/// A value changed in a saved snapshot, its SHA-256 trailer recomputed and its sidecar's
/// checksums rewritten to match: only the sidecar's `HashKV` still knows, and `verify` says so,
/// also for the raw db (no trailer) under `--allow-no-hash`.
#[test]
fn a_changed_value_with_a_recomputed_trailer_is_caught_by_the_sidecars_hash() {
    use sha2::{Digest, Sha256};
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), &v35(), "n1");
    node.put("/registry/secrets/default/s", "value-AAAAAAAA");
    let out = save(&node, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let path = String::from_utf8(out.stdout.clone()).unwrap();
    let path = Path::new(path.trim_end());
    let ok = backup_cmd().arg("verify").arg(path).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", describe(&ok));

    let forge = |name: &str, trailer: bool| {
        let mut bytes = fs::read(path).unwrap();
        bytes.truncate(bytes.len() - 32);
        let n = change_bytes_in(&mut bytes, b"value-AAAAAAAA", b"value-BBBBBBBB");
        assert!(n >= 1);
        if trailer {
            let sum: [u8; 32] = Sha256::digest(&bytes).into();
            bytes.extend_from_slice(&sum);
        }
        let forged = root.path().join(name);
        fs::write(&forged, &bytes).unwrap();
        let mut sc: Value =
            serde_json::from_slice(&fs::read(format!("{}.json", path.display())).unwrap()).unwrap();
        sc["file"] = name.into();
        sc["file_size"] = bytes.len().into();
        sc["sha256"] = hex_of(&Sha256::digest(&bytes)).into();
        fs::write(
            format!("{}.json", forged.display()),
            serde_json::to_vec(&sc).unwrap(),
        )
        .unwrap();
        forged
    };
    for (forged, flags) in [
        (forge("etcd-snapshot-forged.db", true), vec![]),
        (
            forge("etcd-snapshot-raw.db", false),
            vec!["--allow-no-hash"],
        ),
    ] {
        let out = backup_cmd()
            .arg("verify")
            .args(&flags)
            .arg(&forged)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("HashKV mismatch: sidecar says"), "{text}");
        assert!(!text.contains("trailer mismatch"), "{text}");
    }
}

fn change_bytes_in(data: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// etcd's rule for a key space with nothing alive at the revision (no key to keep: every entry
/// at or below the compacted revision counts), on a real single member of each version.
#[test]
fn nothing_alive_at_the_revision_hashes_as_etcd_does() {
    for dist in [v35(), v34()] {
        let root = tempfile::tempdir().unwrap();
        let node = Node::start(root.path(), &dist, "n1");
        ctl_ok(&node, &["put", "/a", "1"]);
        ctl_ok(&node, &["del", "/a"]);
        ctl_ok(&node, &["put", "/b", "2"]);
        let rev = revision(&node);
        ctl_ok(&node, &["compact", &rev.to_string()]);
        ctl_ok(&node, &["del", "/b"]);
        let out = save(&node, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let sc = sidecar_of(&out);
        let hk = &sc["hash_kv"];
        let at = hk["revision"].as_i64().unwrap();
        assert_eq!(at, rev + 1, "{sc}");
        assert_eq!(hk["keys"].as_u64(), Some(0), "{sc}");
        let (hash, compacted) = etcdctl_hashkv(&node, at);
        assert_eq!(hk["hash"].as_u64(), Some(hash), "{} {sc}", dist.version);
        assert_eq!(compacted, rev, "{sc}");
    }
}
