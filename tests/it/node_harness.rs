//! The simulated kubeadm node (tests/it/common/node.rs) behaves like the real thing where a restore
//! tool meets it (docs/formats.md §7.2): static pod etcd follows its manifest, not the kubelet
//! unit; `systemctl stop kubelet` leaves etcd running; and so the old runbook order (stop kubelet,
//! swap the data dir, start kubelet) restores nothing.

use crate::common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::node::{assert_all_gone, proc_cmdline, proc_session, Node, Proc};
use common::*;

const LIMIT: Duration = Duration::from_secs(30);

/// Drops the node and checks that nothing it started survives.
fn finish(node: Node) -> Vec<Proc> {
    let procs = node.started();
    assert!(
        procs.iter().any(|p| p.kind == "kubelet") && procs.iter().any(|p| p.kind == "etcd"),
        "pids.log records the kubelet and etcd: {procs:?}"
    );
    drop(node);
    assert_all_gone(&procs);
    procs
}

/// A non-blocking exclusive flock on `<data-dir>/member/snap/db`: Ok when no etcd holds it.
fn db_flock(data_dir: &Path) -> std::io::Result<()> {
    let f = fs::File::open(data_dir.join("member/snap/db"))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(())
}

fn stays(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if !cond() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn node_serves_tls_and_etcd_follows_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    eprintln!("node start took {:?}", t.elapsed());
    let log = node.logs();

    // Serves over TLS with client-cert auth, as kubeadm configures it.
    node.put("/registry/k1", "v1");
    assert_eq!(node.get("/registry/k1").as_deref(), Some("v1"));
    let no_cert = std::process::Command::new(&node.dist.etcdctl)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", node.client_url))
        .arg(format!("--cacert={}", node.pki.ca.display()))
        .args([
            "--dial-timeout=2s",
            "--command-timeout=3s",
            "get",
            "/registry/k1",
        ])
        .output()
        .unwrap();
    assert!(!no_cert.status.success(), "{}", describe(&no_cert));
    assert!(node.client_url.starts_with("https://127.0.0.1:"));

    // The running etcd is the real binary, started with exactly the manifest's command, in its
    // own session, holding the bbolt flock.
    let pid = node.etcd_pid().expect("etcd PID");
    let cmd = proc_cmdline(pid);
    assert_eq!(Path::new(&cmd[0]), node.dist.etcd.as_path());
    assert_eq!(cmd[1..], node.etcd_args()[..], "{log}");
    assert_eq!(proc_session(pid), Some(pid), "etcd leads its own session");
    assert!(db_flock(&node.data_dir).is_err(), "etcd holds the db flock");
    assert!(node.kubelet_running());
    assert_eq!(node.systemctl_log(), "systemctl start kubelet\n");

    // Other manifests are not the stand-in's business.
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    let api = node.manifests_dir.join("kube-apiserver.yaml");
    fs::rename(&api, staging.join("kube-apiserver.yaml")).unwrap();
    assert!(stays(Duration::from_millis(500), || node.etcd_pid() == Some(pid)));

    // Manifest out: etcd is stopped (PID gone, port closed, PID file removed, lock released).
    fs::rename(&node.manifest, staging.join("etcd.yaml")).unwrap();
    let t = Instant::now();
    assert!(node.wait_etcd_gone(LIMIT), "{}", node.logs());
    eprintln!("etcd stopped {:?} after etcd.yaml left", t.elapsed());
    let first = &node.etcd_starts()[0];
    assert_eq!(first.pid, pid);
    assert!(!first.alive() && node.etcd_pid().is_none());
    assert!(!node.port_open());
    db_flock(&node.data_dir).expect("nobody holds the db any more");
    assert!(node.kubelet_running(), "the kubelet keeps running");
    assert!(
        stays(Duration::from_millis(500), || node.etcd_pid().is_none()),
        "and does not restart etcd without its manifest"
    );

    // Manifest back: a new etcd on the same data.
    fs::rename(staging.join("etcd.yaml"), &node.manifest).unwrap();
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    let pid2 = node.etcd_pid().unwrap();
    assert_ne!(pid2, pid);
    assert_eq!(node.get("/registry/k1").as_deref(), Some("v1"));
    assert_eq!(node.etcd_starts().len(), 2);

    let procs = finish(node);
    assert_eq!(procs.len(), 3, "{procs:?}");
}

#[test]
fn a_crashed_etcd_is_restarted_while_its_manifest_is_there() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    node.put("k", "v");
    let pid = node.etcd_pid().unwrap();
    send_signal(pid, "KILL");
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    let pid2 = node.wait_etcd_running(LIMIT).unwrap();
    assert_ne!(pid2, pid);
    assert_eq!(node.get("k").as_deref(), Some("v"));
    assert!(
        node.kubelet_log().contains("restart 1 in"),
        "{}",
        node.logs()
    );
    finish(node);
}

#[test]
fn stopping_the_kubelet_leaves_etcd_running() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    let etcd = node.etcd_pid().unwrap();
    let kubelet = node.kubelet_pid().unwrap();
    assert_eq!(
        node.systemctl(&["is-active", "kubelet"]).status.code(),
        Some(0)
    );

    let out = node.systemctl(&["stop", "kubelet"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!node.kubelet_running());
    let stopped = node
        .started()
        .into_iter()
        .find(|p| p.pid == kubelet)
        .unwrap();
    assert!(!stopped.alive(), "the stand-in exited");
    let out = node.systemctl(&["is-active", "kubelet"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inactive\n");

    // The §7.2 trap: etcd still runs, serves and holds its data dir.
    assert_eq!(node.etcd_pid(), Some(etcd));
    assert!(node.wait_healthy(Duration::from_secs(5)));
    node.put("after-stop", "still-serving");
    assert!(db_flock(&node.data_dir).is_err());

    // With the kubelet stopped nobody watches the manifests.
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    fs::rename(&node.manifest, staging.join("etcd.yaml")).unwrap();
    assert!(stays(Duration::from_millis(700), || node.etcd_pid() == Some(etcd)));

    // The kubelet comes back without the manifest: now etcd is stopped.
    node.systemctl_ok(&["start", "kubelet"]);
    assert!(node.wait_etcd_gone(LIMIT), "{}", node.logs());
    fs::rename(staging.join("etcd.yaml"), &node.manifest).unwrap();
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    assert_eq!(node.get("after-stop").as_deref(), Some("still-serving"));
    assert_eq!(
        node.systemctl_log(),
        "systemctl start kubelet\nsystemctl is-active kubelet\nsystemctl stop kubelet\n\
         systemctl is-active kubelet\nsystemctl start kubelet\n"
    );
    let procs = finish(node);
    assert_eq!(procs.iter().filter(|p| p.kind == "kubelet").count(), 2);
}

#[test]
fn injected_systemctl_failures_do_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    fs::rename(&node.manifest, staging.join("etcd.yaml")).unwrap();
    assert!(node.wait_etcd_gone(LIMIT), "{}", node.logs());

    // A failing stop leaves the kubelet running.
    node.fail_systemctl("stop", true);
    let kubelet = node.kubelet_pid().unwrap();
    let out = node.systemctl(&["stop", "kubelet"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("Failed to stop kubelet.service"),
        "{}",
        describe(&out)
    );
    assert_eq!(node.kubelet_pid(), Some(kubelet));
    node.fail_systemctl("stop", false);
    node.systemctl_ok(&["stop", "kubelet"]);
    assert!(!node.kubelet_running());

    // A failing start starts nothing, even with the manifest back.
    fs::rename(staging.join("etcd.yaml"), &node.manifest).unwrap();
    node.fail_systemctl("start", true);
    let out = node.systemctl(&["start", "kubelet"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("Failed to start kubelet.service"),
        "{}",
        describe(&out)
    );
    assert!(stays(Duration::from_secs(1), || {
        !node.kubelet_running() && node.etcd_pid().is_none() && !node.port_open()
    }));
    assert_eq!(
        node.systemctl(&["is-active", "kubelet"]).status.code(),
        Some(3)
    );

    node.fail_systemctl("start", false);
    node.systemctl_ok(&["start", "kubelet"]);
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    assert!(node.systemctl_log().ends_with(
        "systemctl start kubelet\nsystemctl is-active kubelet\nsystemctl start kubelet\n"
    ));

    // Unknown units and verbs are refused like systemd does.
    let out = node.systemctl(&["stop", "containerd"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(!node.systemctl(&["reload", "kubelet"]).status.success());
    finish(node);
}

#[test]
fn the_old_runbook_order_restores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = v35();
    let node = Node::start(tmp.path(), &dist, "cp1");
    let t = Instant::now();
    node.put("/registry/before", "1");
    let snap = tmp.path().join("snap.db");
    let out = node.ctl(&["snapshot", "save", &snap.display().to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    node.put("/registry/after", "2");
    let etcd = node.etcd_pid().unwrap();

    // The old runbook: stop kubelet, move the data dir aside, restore, start kubelet.
    node.systemctl_ok(&["stop", "kubelet"]);
    let old = tmp.path().join("var/lib/etcd.old");
    fs::rename(&node.data_dir, &old).unwrap();
    let out = std::process::Command::new(dist.etcdutl.as_ref().unwrap())
        .arg("snapshot")
        .arg("restore")
        .arg(&snap)
        .arg(format!("--data-dir={}", node.data_dir.display()))
        .arg(format!("--name={}", node.name))
        .arg(format!("--initial-cluster={}", node.initial_cluster))
        .arg(format!("--initial-advertise-peer-urls={}", node.peer_url))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(node.data_dir.join("member/snap/db").exists());
    node.systemctl_ok(&["start", "kubelet"]);

    // Everything looks fine, and nothing was restored: the old etcd never stopped and still
    // serves the key written after the snapshot, from the moved-away data dir.
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    assert!(
        stays(Duration::from_secs(1), || node.etcd_pid() == Some(etcd)),
        "{}",
        node.logs()
    );
    assert_eq!(node.get("/registry/after").as_deref(), Some("2"));
    assert_eq!(node.etcd_starts().len(), 1, "{}", node.logs());
    assert!(db_flock(&old).is_err(), "etcd still holds the old data dir");
    db_flock(&node.data_dir).expect("nobody uses the restored data dir");
    let naive = t.elapsed();

    // The restored data dir itself is fine: once etcd really restarts (manifest out and back
    // in), the restore shows.
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    fs::rename(&node.manifest, staging.join("etcd.yaml")).unwrap();
    assert!(node.wait_etcd_gone(LIMIT), "{}", node.logs());
    fs::rename(staging.join("etcd.yaml"), &node.manifest).unwrap();
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    assert_eq!(node.get("/registry/before").as_deref(), Some("1"));
    assert_eq!(node.get("/registry/after"), None);
    assert!(db_flock(&node.data_dir).is_err());
    eprintln!(
        "naive order: {naive:?}; with the real restart: {:?}",
        t.elapsed()
    );
    finish(node);
}

#[test]
fn three_node_cluster_v35() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let nodes = Node::cluster(tmp.path(), &v35(), &["n1", "n2", "n3"]);
    eprintln!("3-node cluster up in {:?}", t.elapsed());
    let initial = &nodes[0].initial_cluster;
    assert_eq!(initial.matches("=https://127.0.0.1:").count(), 3);
    for n in &nodes {
        assert_eq!(&n.initial_cluster, initial);
        let yaml = fs::read_to_string(&n.manifest).unwrap();
        assert!(
            yaml.contains(&format!("--initial-cluster={initial}\n")),
            "{yaml}"
        );
        assert!(yaml.contains("--initial-cluster-state=new\n"), "{yaml}");
        assert_eq!(n.pki.dir, n.root.join("etc/kubernetes/pki/etcd"));
        let out = n.ctl(&["member", "list"]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    }
    nodes[0].put("/registry/replicated", "yes");
    let t = Instant::now();
    while nodes[2].get("/registry/replicated").is_none() {
        assert!(t.elapsed() < LIMIT, "not replicated");
        std::thread::sleep(Duration::from_millis(50));
    }
    // One member down (manifest out): the other two keep quorum.
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    fs::rename(&nodes[2].manifest, staging.join("etcd.yaml")).unwrap();
    assert!(nodes[2].wait_etcd_gone(LIMIT), "{}", nodes[2].logs());
    nodes[1].put("/registry/quorum", "2of3");
    assert_eq!(nodes[0].get("/registry/quorum").as_deref(), Some("2of3"));
    for n in nodes {
        finish(n);
    }
}

#[test]
fn single_node_v34() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v34(), "cp1");
    let pid = node.etcd_pid().unwrap();
    assert_eq!(Path::new(&proc_cmdline(pid)[0]), Path::new("/usr/bin/etcd"));
    let out = node.ctl(&["endpoint", "status", "-w", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"version\":\"3.4.23\""));
    node.put("k34", "v");
    let staging = tmp.path().join("staging");
    fs::create_dir_all(&staging).unwrap();
    fs::rename(&node.manifest, staging.join("etcd.yaml")).unwrap();
    assert!(node.wait_etcd_gone(LIMIT), "{}", node.logs());
    db_flock(&node.data_dir).unwrap();
    fs::rename(staging.join("etcd.yaml"), &node.manifest).unwrap();
    assert!(node.wait_healthy(LIMIT), "{}", node.logs());
    assert_eq!(node.get("k34").as_deref(), Some("v"));
    finish(node);
}

#[test]
fn backup_cmd_runs_on_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    // Zero-config save: endpoint and certificates come from the node's etcd.yaml.
    let out = node
        .backup_cmd()
        .args(["-w", "json", "save"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", describe(&out), node.logs());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["endpoint"], node.client_url.as_str());
    assert!(Path::new(doc["path"].as_str().unwrap()).starts_with(&node.backup_dir));
    // The fake systemctl is what a tool finds on the node's PATH.
    let path = node.path_env();
    let first = std::env::split_paths(&path).next().unwrap();
    assert_eq!(first, node.bin_dir);
    assert!(first.join("systemctl").exists());
    finish(node);
}
