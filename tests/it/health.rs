//! `health` on simulated kubeadm nodes forming one real etcd cluster (3 members, TLS with
//! client certificates): a healthy cluster, a member whose data dir was wiped, and a member
//! whose data was changed offline (its `HashKV` differs from the others').

use crate::checkers;
use crate::common;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::node::Node;
use common::*;
use serde_json::Value;

fn health(node: &Node, extra: &[&str]) -> Output {
    node.backup_cmd()
        .arg("health")
        .args(extra)
        .output()
        .unwrap()
}

fn health_json(node: &Node) -> (Option<i32>, Value) {
    let out = health(node, &["-w", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("health -w json: {e}\n{}", describe(&out)));
    (out.status.code(), v)
}

fn member<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no member {name} in {v:#}"))
}

/// Stops a node's etcd the kubeadm way: its manifest leaves the manifests dir, the kubelet
/// stops the static pod. Returns where the manifest was put.
fn stop_etcd(node: &Node) -> std::path::PathBuf {
    let aside = node.node_dir.join("etcd.yaml.stopped");
    fs::rename(&node.manifest, &aside).unwrap();
    assert!(
        node.wait_etcd_gone(Duration::from_secs(30)),
        "etcd of {} did not stop:\n{}",
        node.name,
        node.logs()
    );
    aside
}

fn start_etcd(node: &Node, aside: &Path) {
    fs::rename(aside, &node.manifest).unwrap();
}

/// Waits until `health` run on `on` gives `verdict` (members take a moment to notice).
fn wait_verdict(on: &Node, verdict: &str, limit: Duration) -> (Option<i32>, Value) {
    let t = Instant::now();
    loop {
        let (code, v) = health_json(on);
        if v["verdict"] == verdict || t.elapsed() > limit {
            return (code, v);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn healthy_cluster_is_reported_as_such(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &dist, &["n1", "n2", "n3"]);
    nodes[0].put("/registry/pods/default/p1", "x");
    let (code, v) = wait_verdict(&nodes[0], "healthy", Duration::from_secs(20));
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["members"].as_array().unwrap().len(), 3);
    let hashes: Vec<&Value> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["hash_kv"]["hash"])
        .collect();
    assert!(hashes[0].is_u64(), "{v:#}");
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{v:#}");
    let leaders = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["is_leader"] == true)
        .count();
    assert_eq!(leaders, 1, "{v:#}");
    for m in v["members"].as_array().unwrap() {
        assert_eq!(m["version"], dist.version, "{v:#}");
        assert!(m["db_size"].as_i64().unwrap() > 0);
        assert!(m["db_size_in_use"].as_i64().unwrap() > 0);
    }
    // The table, and the gauges promtool accepts.
    let prom = root.path().join("etcd_health.prom");
    let out = health(&nodes[1], &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verdict: healthy"), "{table}");
    for n in ["n1", "n2", "n3"] {
        assert!(table.contains(n), "{table}");
    }
    let text = fs::read_to_string(&prom).unwrap();
    checkers::promtool_check_metrics(&text).unwrap();
    assert!(
        text.contains("etcd_backup_health_verdict{verdict=\"healthy\"} 1"),
        "{text}"
    );
    assert_eq!(
        text.matches("etcd_backup_health_member_up{").count(),
        3,
        "{text}"
    );
    // Never over save's metrics.
    let save_prom = root.path().join("etcd_backup.prom");
    let out = nodes[0]
        .backup_cmd()
        .args(["save", "--metrics-file", save_prom.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let before = fs::read(&save_prom).unwrap();
    let out = health(&nodes[0], &["--metrics-file", save_prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("holds the metrics of `save`"),
        "{}",
        describe(&out)
    );
    assert_eq!(fs::read(&save_prom).unwrap(), before);
}

#[test]
fn healthy_cluster_3_5_1() {
    healthy_cluster_is_reported_as_such(v35());
}

#[test]
fn healthy_cluster_3_4_23() {
    healthy_cluster_is_reported_as_such(v34());
}

#[test]
fn a_wiped_member_is_named_with_the_rejoin_action() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/k", "v");
    // n3 loses its data dir; the kubelet starts etcd again on an empty one, which etcd refuses
    // (the member was bootstrapped already), again and again.
    let aside = stop_etcd(&nodes[2]);
    fs::rename(
        &nodes[2].data_dir,
        nodes[2].root.join("var/lib/etcd.lost-in-test"),
    )
    .unwrap();
    start_etcd(&nodes[2], &aside);
    let (code, v) = wait_verdict(&nodes[0], "degraded", Duration::from_secs(20));
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"], "degraded", "{v:#}");
    let n3 = member(&v, "n3");
    assert_eq!(n3["reachable"], false, "{v:#}");
    assert_eq!(n3["problems"][0]["kind"], "unreachable", "{v:#}");
    assert!(
        n3["action"]
            .as_str()
            .unwrap()
            .contains("node n3: if its etcd will not start or serve"),
        "{v:#}"
    );
    assert!(n3["action"].as_str().unwrap().contains("member rejoin"));
    for n in ["n1", "n2"] {
        assert_eq!(member(&v, n)["problems"], serde_json::json!([]), "{v:#}");
    }
    // On n3 itself, whose etcd is down: the peer listeners of its manifest's --initial-cluster
    // give the member list.
    let (code, v) = health_json(&nodes[2]);
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"], "degraded", "{v:#}");
    assert!(
        v["listed_by"].as_str().unwrap().contains("peer listener"),
        "{v:#}"
    );
    assert_eq!(
        member(&v, "n3")["problems"][0]["kind"],
        "unreachable",
        "{v:#}"
    );
    assert_ne!(v["cluster_id"], "0", "{v:#}");
    // Asked through a member that is down, health still answers through another endpoint.
    let both = format!("{},{}", nodes[2].client_url, nodes[1].client_url);
    let out = health(&nodes[2], &["--endpoints", &both]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("verdict: degraded"), "{table}");
    assert!(table.contains("-> on node n3"), "{table}");
}

#[test]
fn two_members_down_is_quorum_lost_and_names_the_backup_to_restore() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    let out = nodes[0].backup_cmd().arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let backup = String::from_utf8_lossy(&out.stdout).trim().to_string();
    stop_etcd(&nodes[1]);
    stop_etcd(&nodes[2]);
    let (code, v) = wait_verdict(&nodes[0], "quorum lost", Duration::from_secs(30));
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"], "quorum lost", "{v:#}");
    assert_eq!(v["restore_from"], backup, "{v:#}");
    assert!(v["action"].as_str().unwrap().contains(&backup), "{v:#}");
}

/// Replaces `from` by `to` (same length) everywhere in `file`: a change of a value that keeps
/// bbolt's structure valid, as a bug or a bad disk could make.
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

#[test]
fn a_member_with_diverged_data_is_found_by_hash_kv() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/registry/secrets/default/s", "value-AAAAAAAA");
    // Every member has applied it before n2 stops.
    for n in &nodes {
        assert_eq!(
            n.get("/registry/secrets/default/s").as_deref(),
            Some("value-AAAAAAAA")
        );
    }
    let aside = stop_etcd(&nodes[1]);
    let db = nodes[1].data_dir.join("member/snap/db");
    assert!(change_bytes(&db, b"value-AAAAAAAA", b"value-BBBBBBBB") > 0);
    start_etcd(&nodes[1], &aside);
    assert!(
        nodes[1].wait_healthy(Duration::from_secs(30)),
        "{}",
        nodes[1].logs()
    );
    let (code, v) = wait_verdict(&nodes[0], "degraded", Duration::from_secs(20));
    assert_eq!(code, Some(1), "{v:#}");
    let n2 = member(&v, "n2");
    assert_eq!(n2["problems"][0]["kind"], "diverged", "{v:#}");
    assert!(
        n2["action"].as_str().unwrap().contains("member rejoin"),
        "{v:#}"
    );
    assert_eq!(member(&v, "n1")["problems"], serde_json::json!([]), "{v:#}");
    assert_eq!(
        member(&v, "n1")["hash_kv"]["hash"],
        member(&v, "n3")["hash_kv"]["hash"]
    );
    assert_ne!(
        member(&v, "n1")["hash_kv"]["hash"],
        n2["hash_kv"]["hash"],
        "{v:#}"
    );
}
