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
    assert_eq!(sidecar_of(&out)["member_name"], "n1");

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
    // The check ran: every member answered HashKV, and n2 agrees.
    assert_eq!(err.matches(": HashKV ").count(), 3, "{err}");
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
