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
    // Set once for the node (environment or config file), the file is save's: health's gauges go
    // beside it, and both keep working.
    let out = nodes[0]
        .backup_cmd()
        .arg("health")
        .env("ETCD_BACKUP_METRICS_FILE", &save_prom)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(fs::read(&save_prom).unwrap(), before);
    let beside = fs::read_to_string(root.path().join("etcd_backup_health.prom")).unwrap();
    checkers::promtool_check_metrics(&beside).unwrap();
    assert!(
        beside.contains("etcd_backup_health_verdict{verdict=\"healthy\"} 1"),
        "{beside}"
    );
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
    let aside = nodes[2].stop_etcd();
    fs::rename(
        &nodes[2].data_dir,
        nodes[2].root.join("var/lib/etcd.lost-in-test"),
    )
    .unwrap();
    nodes[2].start_etcd(&aside);
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
    nodes[1].stop_etcd();
    nodes[2].stop_etcd();
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
    let aside = nodes[1].stop_etcd();
    let db = nodes[1].data_dir.join("member/snap/db");
    assert!(change_bytes(&db, b"value-AAAAAAAA", b"value-BBBBBBBB") > 0);
    nodes[1].start_etcd(&aside);
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

fn rejoin(node: &Node, extra: &[&str]) -> Output {
    node.backup_cmd()
        .args(["member", "rejoin", "--manifests-dir"])
        .arg(&node.manifests_dir)
        .args(["--stop-timeout", "60s", "--start-timeout", "120s"])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn rejoin_journal(node: &Node) -> Value {
    let p = node.rejoin_journal_path();
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// Entries beside the data dir whose names start with `etcd.<what>`.
fn beside_data_dir(node: &Node, what: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(node.data_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("etcd.{what}"))
        })
        .collect();
    v.sort();
    v
}

fn assert_rejoined(nodes: &[Node], on: usize) {
    let (code, v) = wait_verdict(&nodes[0], "healthy", Duration::from_secs(30));
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["members"].as_array().unwrap().len(), 3, "{v:#}");
    assert!(
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["is_learner"] == false && m["reachable"] == true),
        "{v:#}"
    );
    assert_eq!(nodes[on].get("/during").as_deref(), Some("2"));
    assert_eq!(nodes[on].get("/before").as_deref(), Some("1"));
    nodes[on].put("/after", "3");
    assert_eq!(nodes[0].get("/after").as_deref(), Some("3"));
}

fn a_wiped_member_rejoins_and_the_cluster_is_whole_again(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = common::node::cluster_with_a_wiped_member(root.path(), &dist);
    let original = fs::read(&nodes[2].manifest).unwrap();
    // --dry-run changes nothing.
    let out = rejoin(&nodes[2], &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("remove member"),
        "{}",
        describe(&out)
    );
    assert!(!nodes[2].rejoin_journal_path().exists());
    // Without a terminal and without --yes: refused.
    let out = nodes[2]
        .backup_cmd()
        .args(["member", "rejoin", "--manifests-dir"])
        .arg(&nodes[2].manifests_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("without confirmation"),
        "{}",
        describe(&out)
    );
    let t = Instant::now();
    let out = rejoin(&nodes[2], &["--yes"]);
    let took = t.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        nodes[2].logs()
    );
    // The time a person waits: from `member rejoin` on a wiped member to `health` saying so.
    wait_verdict(&nodes[0], "healthy", Duration::from_secs(30));
    eprintln!(
        "etcd {}: wiped member to a healthy 3-member cluster in {:.1?} (member rejoin itself \
         {took:.1?})",
        dist.version,
        t.elapsed()
    );
    assert_rejoined(&nodes, 2);
    assert_eq!(fs::read(&nodes[2].manifest).unwrap(), original);
    assert_eq!(rejoin_journal(&nodes[2])["state"], "finished");
    // What was in the data dir (etcd's failed start on an empty dir) is kept, not deleted.
    assert_eq!(beside_data_dir(&nodes[2], "before-rejoin").len(), 1);
    // Healthy now: a second rejoin is refused and changes nothing.
    let out = rejoin(&nodes[2], &["--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("nothing to rejoin"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_wiped_member_rejoins_3_5_1() {
    a_wiped_member_rejoins_and_the_cluster_is_whole_again(v35());
}

#[test]
fn a_wiped_member_rejoins_3_4_23() {
    a_wiped_member_rejoins_and_the_cluster_is_whole_again(v34());
}

#[test]
fn a_diverged_member_rejoins_with_the_majoritys_data() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/during", "2");
    nodes[0].put("/before", "1");
    nodes[0].put("/registry/secrets/default/s", "value-AAAAAAAA");
    for n in &nodes {
        assert_eq!(
            n.get("/registry/secrets/default/s").as_deref(),
            Some("value-AAAAAAAA")
        );
    }
    let aside = nodes[1].stop_etcd();
    let db = nodes[1].data_dir.join("member/snap/db");
    assert!(change_bytes(&db, b"value-AAAAAAAA", b"value-BBBBBBBB") > 0);
    nodes[1].start_etcd(&aside);
    assert!(nodes[1].wait_healthy(Duration::from_secs(30)));
    let (_, v) = wait_verdict(&nodes[0], "degraded", Duration::from_secs(20));
    assert_eq!(member(&v, "n2")["problems"][0]["kind"], "diverged", "{v:#}");
    let out = rejoin(&nodes[1], &["--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        nodes[1].logs()
    );
    assert_rejoined(&nodes, 1);
    assert_eq!(
        nodes[1].get("/registry/secrets/default/s").as_deref(),
        Some("value-AAAAAAAA")
    );
    // The old (diverged) data is kept aside, as it was.
    let kept = beside_data_dir(&nodes[1], "before-rejoin");
    assert_eq!(kept.len(), 1);
    let old = fs::read(kept[0].join("member/snap/db")).unwrap();
    assert!(old.windows(14).any(|w| w == b"value-BBBBBBBB"));
}

#[test]
fn rejoin_refuses_what_it_must_not_do() {
    let root = tempfile::tempdir().unwrap();
    // A 2-member cluster with one member lost: removing it needs the quorum it lacks.
    let nodes = Node::cluster(root.path(), &v35(), &["m1", "m2"]);
    let aside = nodes[1].stop_etcd();
    fs::rename(&nodes[1].data_dir, nodes[1].root.join("var/lib/lost")).unwrap();
    nodes[1].start_etcd(&aside);
    let out = rejoin(&nodes[1], &["--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("would break the quorum"),
        "{}",
        describe(&out)
    );
    assert!(nodes[1].manifest.exists());
    assert!(!nodes[1].rejoin_journal_path().exists());
    // On a node without a manifest there is nothing to rejoin.
    let out = nodes[0]
        .backup_cmd()
        .args([
            "--manifest",
            "/nonexistent/etcd.yaml",
            "member",
            "rejoin",
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// Peers that disagree about the membership: n2 advertises as its client URL that of the
/// single member of another cluster (same CA), which serves with a leader and lists only
/// itself. The rejoin of the wiped n3 asks every healthy peer for the member list and refuses.
#[test]
fn rejoin_refuses_when_the_peers_disagree_about_the_membership() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    let (c, p) = (free_port(), free_port());
    let other = Node::start_member(
        &root.path().join("x"),
        &v35(),
        &nodes[0].pki,
        "x",
        c,
        p,
        &format!("x=https://127.0.0.1:{p}"),
        false,
    );
    let aside = nodes[1].stop_etcd();
    let yaml = fs::read_to_string(&aside).unwrap().replace(
        &format!("--advertise-client-urls={}", nodes[1].client_url),
        &format!("--advertise-client-urls={}", other.client_url),
    );
    fs::write(&aside, yaml).unwrap();
    nodes[1].start_etcd(&aside);
    let aside = nodes[2].stop_etcd();
    fs::rename(&nodes[2].data_dir, nodes[2].root.join("var/lib/lost")).unwrap();
    nodes[2].start_etcd(&aside);
    // n2 publishes its new client URL once it is back with the quorum.
    let t = Instant::now();
    loop {
        let (_, v) = health_json(&nodes[0]);
        if member(&v, "n2")["endpoint"] == other.client_url.as_str() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{v:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = rejoin(&nodes[2], &["--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("disagree about the membership"),
        "{}",
        describe(&out)
    );
    // Nothing was changed: the manifest in place, no journal, still 3 members.
    assert!(nodes[2].manifest.exists());
    assert!(!nodes[2].rejoin_journal_path().exists());
    assert_eq!(ctl_members(&nodes[0]).len(), 3);
}

#[test]
fn a_failure_at_any_rejoin_step_rolls_back_and_a_kill_9_resumes() {
    let root = tempfile::tempdir().unwrap();
    let nodes = common::node::cluster_with_a_wiped_member(root.path(), &v35());
    let original = fs::read(&nodes[2].manifest).unwrap();
    let steps = [
        "stop-etcd",
        "remove-member",
        "move-aside",
        "add-member",
        "start-etcd",
        "promote",
        "wait-healthy",
        "restore-manifest",
    ];
    for step in steps {
        let out = nodes[2]
            .backup_cmd()
            .env("ETCD_BACKUP_FAILPOINT", format!("rejoin-{step}"))
            .args(["member", "rejoin", "--yes", "--manifests-dir"])
            .arg(&nodes[2].manifests_dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{step}: {}", describe(&out));
        assert!(
            stderr(&out).contains(&format!("injected failure at step {step}")),
            "{step}: {}\n{}\n{}",
            describe(&out),
            log_tail(&nodes[0].node_dir.join("etcd.log"), 40),
            log_tail(&nodes[1].node_dir.join("etcd.log"), 40)
        );
        assert_eq!(fs::read(&nodes[2].manifest).unwrap(), original, "{step}");
        let state = rejoin_journal(&nodes[2])["state"].clone();
        assert_eq!(state, "rolled-back", "{step}");
        assert!(
            beside_data_dir(&nodes[2], "before-rejoin").is_empty(),
            "{step}"
        );
        // The others keep serving, and the rolled-back member is not half in the cluster.
        let (_, v) = health_json(&nodes[0]);
        assert!(
            v["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["is_learner"] == false),
            "{step}: {v:#}"
        );
        assert!(v["verdict"] != "quorum lost", "{step}: {v:#}");
    }
    // kill -9 once the member was added, then --resume. (The last run's journal, rolled back,
    // is put away first so that the wait below sees only this run's.)
    let journal = nodes[2].rejoin_journal_path();
    fs::rename(&journal, root.path().join("rolled-back-journal.json")).unwrap();
    let mut child = nodes[2]
        .backup_cmd()
        .env("ETCD_BACKUP_FAILPOINT", "rejoin-add-member:hang")
        .args(["member", "rejoin", "--yes", "--manifests-dir"])
        .arg(&nodes[2].manifests_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !rejoin_journal_done(&nodes[2], "add-member") {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "add-member never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = rejoin(&nodes[2], &["--resume", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        nodes[2].logs()
    );
    assert_rejoined(&nodes, 2);
    assert_eq!(fs::read(&nodes[2].manifest).unwrap(), original);
}

fn rejoin_journal_done(node: &Node, step: &str) -> bool {
    let p = node.rejoin_journal_path();
    let Ok(bytes) = fs::read(p) else { return false };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    v["done"]
        .as_array()
        .is_some_and(|d| d.iter().any(|s| s == step))
}

/// The member list as etcdctl prints it through `via` (`-w json`).
fn ctl_members(via: &Node) -> Vec<Value> {
    let out = via.ctl(&["member", "list", "-w", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["members"].as_array().cloned().unwrap_or_default()
}

/// A membership change with etcdctl through `via`, retried while etcd refuses it for a moment
/// (a change just made: "unhealthy cluster"; an ID of a member removed in the same second:
/// "member not found"/"member removed").
fn ctl_membership(via: &Node, args: &[&str]) -> Output {
    let t = Instant::now();
    loop {
        let out = via.ctl(args);
        let err = stderr(&out);
        let passing = ["unhealthy cluster", "member not found", "member removed"]
            .iter()
            .any(|s| err.contains(s));
        if out.status.success() || !passing || t.elapsed() > Duration::from_secs(30) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// n3 of a 3-member cluster turned into a learner by hand, the etcdctl way: removed, its data
/// dir moved away, added back with `--learner`, and started with `--initial-cluster-state=
/// existing` and the `--initial-cluster` that `member add` printed. Returns once it serves as
/// a learner.
fn cluster_with_a_learner(root: &Path, dist: &Dist) -> Vec<Node> {
    let mut nodes = Node::cluster(root, dist, &["n1", "n2", "n3"]);
    nodes[0].put("/before", "1");
    let id = ctl_members(&nodes[0])
        .iter()
        .find(|m| m["name"] == "n3")
        .and_then(|m| m["ID"].as_u64())
        .unwrap();
    let aside = nodes[2].stop_etcd();
    let out = ctl_membership(&nodes[0], &["member", "remove", &format!("{id:x}")]);
    assert!(out.status.success(), "{}", describe(&out));
    fs::rename(&nodes[2].data_dir, nodes[2].root.join("var/lib/removed")).unwrap();
    let peer = format!("--peer-urls={}", nodes[2].peer_url);
    let out = ctl_membership(&nodes[0], &["member", "add", "n3", "--learner", &peer]);
    assert!(out.status.success(), "{}", describe(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let initial = printed
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no ETCD_INITIAL_CLUSTER in {printed}"));
    nodes[2].initial_cluster = initial.to_string();
    let yaml = nodes[2].manifest_yaml().replace(
        "--initial-cluster-state=new",
        "--initial-cluster-state=existing",
    );
    assert!(yaml.contains("--initial-cluster-state=existing"), "{yaml}");
    fs::write(&aside, yaml).unwrap();
    nodes[2].start_etcd(&aside);
    let t = Instant::now();
    loop {
        let learner = ctl_members(&nodes[0])
            .iter()
            .any(|m| m["name"] == "n3" && m["isLearner"] == true);
        if learner && nodes[2].ctl(&["endpoint", "status"]).status.success() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "n3 never served as a learner:\n{}",
            nodes[2].logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    nodes
}

/// IDs and learner flags of the member list, sorted: what a refusal must leave as it was.
fn membership(via: &Node) -> Vec<(u64, bool)> {
    let mut v: Vec<(u64, bool)> = ctl_members(via)
        .iter()
        .map(|m| (m["ID"].as_u64().unwrap(), m["isLearner"] == true))
        .collect();
    v.sort_unstable();
    v
}

fn a_learner_is_refused(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = cluster_with_a_learner(root.path(), &dist);
    let manifest = fs::read(&nodes[2].manifest).unwrap();
    let members = membership(&nodes[0]);
    assert!(members.iter().any(|&(_, learner)| learner), "{members:?}");
    let pid = nodes[2].etcd_pid();
    assert!(pid.is_some());
    let out = rejoin(&nodes[2], &["--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("is a learner"), "{}", describe(&out));
    // Nothing changed: the manifest, the data dir (in place, its etcd never stopped), the
    // membership, and no journal.
    assert_eq!(fs::read(&nodes[2].manifest).unwrap(), manifest);
    assert!(nodes[2].data_dir.join("member").is_dir());
    assert!(beside_data_dir(&nodes[2], "before-rejoin").is_empty());
    assert_eq!(nodes[2].etcd_pid(), pid);
    assert_eq!(membership(&nodes[0]), members);
    assert!(!nodes[2].rejoin_journal_path().exists());
}

#[test]
fn a_learner_is_refused_3_5_1() {
    a_learner_is_refused(v35());
}

#[test]
fn a_learner_is_refused_3_4_23() {
    a_learner_is_refused(v34());
}

/// A member whose db is damaged (etcd will not start on it): `health` names it with the rejoin
/// action, `member rejoin` brings it back, and the damaged dir is kept beside the new one.
#[test]
fn a_member_with_a_damaged_db_is_named_and_rejoins() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/before", "1");
    let aside = nodes[2].stop_etcd();
    // Zeroes over both meta pages and the root: bbolt refuses the file.
    let db = nodes[2].data_dir.join("member/snap/db");
    let mut bytes = fs::read(&db).unwrap();
    let n = bytes.len().min(4 * 4096);
    bytes[..n].fill(0);
    fs::write(&db, &bytes).unwrap();
    nodes[2].start_etcd(&aside);
    nodes[0].put("/during", "2");
    let (code, v) = wait_verdict(&nodes[0], "degraded", Duration::from_secs(60));
    assert_eq!(code, Some(1), "{v:#}");
    let n3 = member(&v, "n3");
    let action = n3["action"].as_str().unwrap_or_default();
    assert!(
        action.contains("node n3") && action.contains("member rejoin"),
        "{v:#}"
    );
    let out = rejoin(&nodes[2], &["--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        nodes[2].logs()
    );
    assert_rejoined(&nodes, 2);
    let kept = beside_data_dir(&nodes[2], "before-rejoin");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(fs::read(kept[0].join("member/snap/db")).unwrap(), bytes);
}
