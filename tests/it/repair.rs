//! `health --repair` on simulated kubeadm nodes forming one real etcd cluster (3 members, TLS):
//! a healthy cluster is left alone on every node; a member whose data dir was wiped rejoins after
//! `--repair-after` failed checks on its own node; a member cut off by a real network partition
//! (its etcd moved into a network namespace the test creates) is left alone on both sides.

use crate::checkers;
use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::node::Node;
use common::*;
use serde_json::Value;

fn state_dir(node: &Node) -> PathBuf {
    node.root.join("state")
}

/// `health --repair` as the timer runs it on `node`, with its own state dir.
fn repair_cmd(node: &Node, extra: &[&str]) -> Command {
    let mut cmd = node.backup_cmd();
    cmd.args(["-w", "json", "health", "--repair", "--state-dir"])
        .arg(state_dir(node))
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("health -w json: {e}\n{}", describe(out)))
}

fn state(node: &Node) -> Value {
    let p = state_dir(node).join("health-repair.json");
    serde_json::from_slice(&fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn health_json(node: &Node) -> Value {
    let out = node
        .backup_cmd()
        .args(["health", "-w", "json"])
        .output()
        .unwrap();
    json_of(&out)
}

/// Waits until `health` run on `on` gives `verdict` (members take a moment to notice).
fn wait_verdict(on: &Node, verdict: &str, limit: Duration) -> Value {
    let t = Instant::now();
    loop {
        let v = health_json(on);
        if v["verdict"] == verdict || t.elapsed() > limit {
            return v;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn member<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no member {name} in {v:#}"))
}

/// Entries beside the data dir whose names start with `etcd.`: what a rejoin moves aside.
fn beside_data_dir(node: &Node) -> Vec<PathBuf> {
    fs::read_dir(node.data_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("etcd.")
        })
        .collect()
}

#[test]
fn a_healthy_cluster_is_left_alone_on_every_node() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/k", "v");
    let v = wait_verdict(&nodes[0], "healthy", Duration::from_secs(20));
    assert_eq!(v["verdict"], "healthy", "{v:#}");
    for n in &nodes {
        let prom = n.root.join("etcd_health.prom");
        // --repair-after 1: any failure seen would be acted on at once.
        let out = repair_cmd(n, &["--repair-after", "1"])
            .arg("--metrics-file")
            .arg(&prom)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let v = json_of(&out);
        assert_eq!(v["repair"]["action"], "none", "{v:#}");
        assert!(
            v["repair"]["reason"]
                .as_str()
                .unwrap()
                .contains("serves and knows a leader"),
            "{v:#}"
        );
        let s = state(n);
        assert_eq!(s["member_failures"], 0, "{s:#}");
        assert_eq!(s["quorum_lost_checks"], 0, "{s:#}");
        assert_eq!(s["action"], "none", "{s:#}");
        let p = state_dir(n).join("health-repair.json");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let text = fs::read_to_string(&prom).unwrap();
        checkers::promtool_check_metrics(&text).unwrap();
        for line in [
            "etcd_backup_health_repair_action{action=\"none\"} 1",
            "etcd_backup_health_repair_action{action=\"rejoin\"} 0",
            "etcd_backup_health_repair_consecutive_failures 0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            stderr(&out).contains("repair: nothing to do"),
            "{}",
            describe(&out)
        );
    }
    assert!(!nodes.iter().any(|n| n.rejoin_journal_path().exists()));
}

#[test]
fn a_wiped_member_rejoins_after_repair_after_failed_checks() {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/before", "1");
    // n3 loses its data dir (moved away by the test, as a lost disk would); the kubelet keeps
    // starting etcd on an empty one, which etcd refuses.
    let wiped = Instant::now();
    let aside = nodes[2].stop_etcd();
    fs::rename(&nodes[2].data_dir, nodes[2].root.join("var/lib/lost")).unwrap();
    nodes[2].start_etcd(&aside);
    nodes[0].put("/during", "2");
    let v = wait_verdict(&nodes[0], "degraded", Duration::from_secs(20));
    assert_eq!(v["verdict"], "degraded", "{v:#}");

    // The healthy nodes leave n3 to its own timer.
    let out = repair_cmd(&nodes[0], &["--repair-after", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(json_of(&out)["repair"]["action"], "none");
    assert_eq!(state(&nodes[0])["member_failures"], 0);

    // First check on n3: one failure counted, nothing done.
    let out = repair_cmd(&nodes[2], &["--repair-after", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v = json_of(&out);
    assert_eq!(v["repair"]["action"], "none", "{v:#}");
    assert_eq!(v["repair"]["member_failures"], 1, "{v:#}");
    assert!(
        v["repair"]["reason"]
            .as_str()
            .unwrap()
            .contains("check 1 of 2"),
        "{v:#}"
    );
    assert_eq!(state(&nodes[2])["member_failures"], 1);
    assert!(beside_data_dir(&nodes[2]).is_empty());

    // Second check: the rejoin.
    let out = repair_cmd(&nodes[2], &["--repair-after", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v = json_of(&out);
    assert_eq!(v["repair"]["action"], "rejoin", "{v:#}");
    assert!(stderr(&out).contains("rejoined n3"), "{}", describe(&out));
    // The count starts again after an action.
    assert_eq!(state(&nodes[2])["member_failures"], 0);
    assert_eq!(state(&nodes[2])["action"], "rejoin");

    let v = wait_verdict(&nodes[0], "healthy", Duration::from_secs(30));
    assert_eq!(v["verdict"], "healthy", "{v:#}");
    eprintln!(
        "wiped member to a healthy 3-member cluster through health --repair: {:.1}s",
        wiped.elapsed().as_secs_f64()
    );
    assert_eq!(v["members"].as_array().unwrap().len(), 3, "{v:#}");
    assert_eq!(member(&v, "n3")["is_learner"], false, "{v:#}");
    assert_eq!(nodes[2].get("/before").as_deref(), Some("1"));
    assert_eq!(nodes[2].get("/during").as_deref(), Some("2"));
    // The next check on n3 finds nothing to do.
    let out = repair_cmd(&nodes[2], &["--repair-after", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(json_of(&out)["repair"]["action"], "none");
}

/// A network namespace of the test's own, deleted on drop (also on a panic). Declared before
/// the nodes, so that the nodes (whose drop kills, by PID, every process they started, those
/// inside the namespace too) go first.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "eb-repair-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ns = Netns { name };
        ns.ip(&["netns", "add", &ns.name]);
        ns.ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {}", describe(&out));
    }

    /// `cmd` run inside the namespace (`ip netns exec`), with its environment.
    fn wrap(&self, cmd: &Command) -> Command {
        let mut w = Command::new("ip");
        w.args(["netns", "exec", &self.name])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => w.env(k, v),
                None => w.env_remove(k),
            };
        }
        w.stdin(Stdio::null());
        w
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn a_network_partition_is_not_acted_on_from_either_side() {
    let ns = Netns::new();
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &v35(), &["n1", "n2", "n3"]);
    nodes[0].put("/k", "v");
    let n3 = &nodes[2];
    // n3's etcd and kubelet move into the namespace: etcd still listens on 127.0.0.1:PORT, but
    // on the namespace's own loopback, where no peer is and from where no peer can be reached.
    let aside = n3.stop_etcd();
    n3.systemctl_ok(&["stop", "kubelet"]);
    let mut start = Command::new("systemctl");
    start.args(["start", "kubelet"]).env("PATH", n3.path_env());
    let out = ns.wrap(&start).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    n3.start_etcd(&aside);
    let pid = n3
        .wait_etcd_running(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{}", n3.logs()));
    let own = fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(),
        own,
        "n3's etcd is not in the namespace"
    );

    // Seen from inside: nothing answers on a client port. n3's etcd restarted where it cannot
    // reach a quorum, so it never serves clients (etcd waits for a leader to publish itself);
    // its own peer listener gives the member list.
    let t = Instant::now();
    let inside = loop {
        let out = ns
            .wrap(
                n3.backup_cmd()
                    .args(["health", "-w", "json", "--dial-timeout", "2s"]),
            )
            .output()
            .unwrap();
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            break v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "health inside the namespace: {}\n{}",
            describe(&out),
            n3.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        inside["listed_by"]
            .as_str()
            .unwrap()
            .contains(&format!("{} (peer listener)", n3.peer_url)),
        "{inside:#}"
    );
    for n in ["n1", "n2", "n3"] {
        assert_eq!(member(&inside, n)["reachable"], false, "{inside:#}");
    }

    // --repair-after 1, twice: anything that took the partition for failed peers would act.
    for _ in 0..2 {
        let out = ns
            .wrap(&repair_cmd(
                n3,
                &["--repair-after", "1", "--dial-timeout", "2s"],
            ))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let v = json_of(&out);
        assert_eq!(v["repair"]["action"], "none", "{v:#}");
        let reason = v["repair"]["reason"].as_str().unwrap();
        assert!(reason.contains("network partition"), "{v:#}");
        assert!(reason.contains("n1") && reason.contains("n2"), "{v:#}");
        assert_eq!(state(n3)["member_failures"], 0);
        assert_eq!(state(n3)["action"], "none");
    }
    // From n1: n3 is unreachable, n1 serves with a leader.
    let v = wait_verdict(&nodes[0], "degraded", Duration::from_secs(20));
    assert_eq!(member(&v, "n3")["reachable"], false, "{v:#}");
    let out = repair_cmd(&nodes[0], &["--repair-after", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v = json_of(&out);
    assert_eq!(v["repair"]["action"], "none", "{v:#}");
    // Nothing was changed anywhere: n3's data dir in place, no rejoin journal, 3 members.
    assert!(beside_data_dir(n3).is_empty());
    assert!(n3.data_dir.join("member").is_dir());
    for n in &nodes {
        assert!(!n.rejoin_journal_path().exists());
    }
    assert_eq!(v["members"].as_array().unwrap().len(), 3, "{v:#}");
    assert_eq!(nodes[0].get("/k").as_deref(), Some("v"));
}

/// The names of the voting members, sorted, through etcdctl on `via`.
fn voting_members(via: &Node) -> Vec<String> {
    let out = via.ctl(&["member", "list", "-w", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["isLearner"] != true)
        .map(|m| m["name"].as_str().unwrap_or_default().to_string())
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect()
}

/// The object each node's `health --repair` said it restores from, in node order.
fn chosen_backups(nodes: &[Node], outs: &[Output]) -> Vec<String> {
    let mut chosen = Vec::new();
    for (n, out) in nodes.iter().zip(outs) {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}\n{}",
            n.name,
            describe(out),
            n.logs()
        );
        assert_eq!(json_of(out)["repair"]["action"], "restore");
        let err = stderr(out);
        let line = err
            .lines()
            .find(|l| l.contains("repair: restoring this node from"))
            .unwrap_or_else(|| panic!("{}", describe(out)));
        chosen.push(
            line.split(" from ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string(),
        );
    }
    chosen
}

fn quorum_lost_restores_every_node_from_one_backup(dist: Dist) {
    let root = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(root.path(), &dist, &["n1", "n2", "n3"]);
    let store = root.path().join("store");
    let url = format!("file://{}/", store.display());
    for i in 0..5 {
        nodes[0].put(&format!("/before/{i}"), "1");
    }
    // Backups of two nodes in the shared store; n2's holds the higher revision.
    for n in [&nodes[0], &nodes[1]] {
        let out = n
            .backup_cmd()
            .args(["save", "--remote", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        n.put("/between", "1");
    }
    // Written after the last backup (Kubernetes always writes): what a restore loses.
    nodes[0].put("/after-backup", "1");
    let old_cluster = health_json(&nodes[0])["cluster_id"].clone();

    // 2 of 3 data dirs lost: the wiped members exit at start, the kubelet restarts them.
    let lost = Instant::now();
    nodes[1].wipe_data_dir();
    nodes[2].wipe_data_dir();
    let v = wait_verdict(&nodes[0], "quorum lost", Duration::from_secs(30));
    assert_eq!(v["verdict"], "quorum lost", "{v:#}");
    let out = nodes[0]
        .backup_cmd()
        .args(["health", "-w", "json", "--remote", &url])
        .output()
        .unwrap();
    let v = json_of(&out);
    assert!(
        v["action"].as_str().unwrap().contains(&format!("{url}n2/")),
        "plain health names the backup of --remote: {v:#}"
    );

    // First check on every node: counted, nothing done.
    let after = ["--repair-after", "2", "--remote", &url];
    for n in &nodes {
        let out = repair_cmd(n, &after).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let v = json_of(&out);
        assert_eq!(v["repair"]["action"], "none", "{v:#}");
        assert_eq!(v["repair"]["quorum_lost_checks"], 1, "{v:#}");
        assert!(state(n)["quorum_lost_since"].is_string(), "{:#}", state(n));
    }
    // Second check, on the three nodes at once as their timers would: the restore.
    let outs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = nodes
            .iter()
            .map(|n| s.spawn(|| repair_cmd(n, &after).output().unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let chosen = chosen_backups(&nodes, &outs);
    assert!(chosen[0].starts_with(&format!("{url}n2/")), "{chosen:?}");
    assert!(chosen.iter().all(|c| *c == chosen[0]), "{chosen:?}");

    let v = wait_verdict(&nodes[0], "healthy", Duration::from_secs(60));
    assert_eq!(v["verdict"], "healthy", "{v:#}");
    eprintln!(
        "etcd {}: quorum lost (2 of 3 data dirs wiped) to a healthy cluster through health \
         --repair: {:.1}s",
        dist.version,
        lost.elapsed().as_secs_f64()
    );
    assert_ne!(v["cluster_id"], old_cluster, "a new cluster: {v:#}");
    assert_eq!(voting_members(&nodes[0]), ["n1", "n2", "n3"]);
    for n in &nodes {
        for i in 0..5 {
            assert_eq!(
                n.get(&format!("/before/{i}")).as_deref(),
                Some("1"),
                "{}",
                n.name
            );
        }
        assert_eq!(n.get("/after-backup"), None);
    }
    nodes[2].put("/new", "1");
    assert_eq!(nodes[0].get("/new").as_deref(), Some("1"));
    // The old data dirs are kept.
    for n in &nodes {
        assert!(
            fs::read_dir(n.data_dir.parent().unwrap())
                .unwrap()
                .any(|e| e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("etcd.before-restore-")),
            "{}",
            n.name
        );
    }
}

#[test]
fn quorum_lost_restores_every_node_from_one_backup_3_5_1() {
    quorum_lost_restores_every_node_from_one_backup(v35());
}

#[test]
fn quorum_lost_restores_every_node_from_one_backup_3_4_23() {
    quorum_lost_restores_every_node_from_one_backup(v34());
}
