//! `restore SNAPSHOT` on a simulated kubeadm node (tests/it/common/node.rs): the real etcd run by a
//! stand-in kubelet that, like the real one, leaves static pods running when it is stopped.

use crate::common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::node::Node;
use common::*;
use serde_json::Value;

const BUMP: i64 = 1_000_000_000;

fn revision(node: &Node) -> i64 {
    let out = node.ctl(&["get", "/", "-w", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["header"]["revision"].as_i64().unwrap()
}

/// A node serving `/before`, a backup of it, then `/after` written: returns the snapshot and the
/// revision the snapshot holds.
fn node_with_backup(root: &Path, dist: &Dist) -> (Node, PathBuf, i64) {
    let node = Node::start(root, dist, "cp1");
    node.put("/before", "1");
    let out = node.backup_cmd().arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snap = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    let rev = revision(&node);
    node.put("/after", "1");
    (node, snap, rev)
}

fn restore(node: &Node, args: &[&str]) -> Output {
    node.backup_cmd()
        .arg("restore")
        .args(args)
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .args(["--stop-timeout", "30s", "--start-timeout", "60s"])
        .output()
        .unwrap()
}

/// Siblings of the data dir whose names contain `what` (before-restore, failed-restore, ..).
fn siblings(node: &Node, what: &str) -> Vec<PathBuf> {
    let parent = node.data_dir.parent().unwrap();
    let base = node
        .data_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    list_dir(parent)
        .into_iter()
        .filter(|n| n.starts_with(&base) && n.contains(what))
        .map(|n| parent.join(n))
        .collect()
}

fn journal_path(node: &Node) -> PathBuf {
    node.manifests_dir
        .parent()
        .unwrap()
        .join("etcd-backup-restore-journal.json")
}

fn journal(node: &Node) -> Value {
    serde_json::from_slice(&fs::read(journal_path(node)).unwrap()).unwrap()
}

/// The restored data is served: the key written after the backup is gone, the revision bumped.
fn assert_restored(node: &Node, snap_rev: i64) {
    assert!(
        node.wait_healthy(Duration::from_secs(30)),
        "{}",
        node.logs()
    );
    assert_eq!(node.get("/before").as_deref(), Some("1"));
    assert_eq!(node.get("/after"), None, "the restore did not take effect");
    assert!(revision(node) >= snap_rev + BUMP);
}

/// The original data is served again.
fn assert_original(node: &Node) {
    assert!(
        node.wait_healthy(Duration::from_secs(30)),
        "{}",
        node.logs()
    );
    assert_eq!(
        node.get("/after").as_deref(),
        Some("1"),
        "not the original data"
    );
    assert!(revision(node) < BUMP);
}

fn restore_takes_effect(dist: Dist) {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, rev) = node_with_backup(tmp.path(), &dist);
    let before = fs::metadata(&node.data_dir).unwrap();
    let t = Instant::now();
    let out = restore(&node, &[snap.to_str().unwrap(), "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        node.logs()
    );
    eprintln!("node restore took {:?}", t.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("downtime"), "{stdout}");
    assert_restored(&node, rev);
    let aside = siblings(&node, "before-restore");
    assert_eq!(
        aside.len(),
        1,
        "the old data dir is kept beside the new one"
    );
    assert!(aside[0].join("member/snap/db").exists());
    let after = fs::metadata(&node.data_dir).unwrap();
    assert_eq!(
        (after.uid(), after.gid(), after.mode() & 0o7777),
        (before.uid(), before.gid(), before.mode() & 0o7777)
    );
    let log = node.systemctl_log();
    assert!(
        log.contains("stop kubelet") && log.contains("start kubelet"),
        "{log}"
    );
    assert!(node.manifest.exists());
    assert_eq!(journal(&node)["state"], "finished");
}

#[test]
fn restore_takes_effect_3_5_1() {
    restore_takes_effect(v35());
}

#[test]
fn restore_takes_effect_3_4_23() {
    restore_takes_effect(v34());
}

#[test]
fn dry_run_and_confirmation_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    let calls = node.systemctl_log();
    let out = restore(&node, &[snap.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "build",
        "stop-control-plane",
        "move-aside",
        "move-into-place",
        "wait-healthy",
    ] {
        assert!(stdout.contains(step), "{stdout}");
    }
    assert!(
        stdout.contains(&node.data_dir.display().to_string()),
        "{stdout}"
    );
    // What it would revert on the live etcd: /after, written since the backup.
    assert!(
        stdout.contains("restoring will remove 1 other keys created since"),
        "{}",
        describe(&out)
    );
    // No terminal and no --yes: refused.
    let out = node
        .backup_cmd()
        .arg("restore")
        .arg(&snap)
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--yes"), "{}", describe(&out));
    assert_eq!(node.systemctl_log(), calls);
    assert!(siblings(&node, "restore").is_empty());
    assert_eq!(node.get("/after").as_deref(), Some("1"));
}

#[test]
fn a_failure_at_any_step_rolls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    for step in [
        "build",
        "stop-control-plane",
        "move-aside",
        "move-into-place",
        "start-control-plane",
        "wait-healthy",
    ] {
        let out = node
            .backup_cmd()
            .env("ETCD_BACKUP_FAILPOINT", step)
            .arg("restore")
            .arg(&snap)
            .arg("--yes")
            .arg("--manifests-dir")
            .arg(&node.manifests_dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{step}: {}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("injected failure"), "{step}: {err}");
        if step != "build" {
            assert!(err.contains("rolled back"), "{step}: {err}");
        }
        assert_original(&node);
        assert!(node.manifest.exists(), "{step}: manifest not back");
        assert!(siblings(&node, "before-restore").is_empty(), "{step}");
        assert!(siblings(&node, "restored-").is_empty(), "{step}");
        assert_eq!(journal(&node)["state"], "rolled-back", "{step}");
    }

    // systemctl start fails: the restore cannot start etcd, and neither can its rollback, so
    // the node is left part-way (exit 3); once systemctl works, --rollback puts it back.
    node.fail_systemctl("start", true);
    let out = restore(&node, &[snap.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        stderr(&out).contains("restore-journal.json"),
        "{}",
        describe(&out)
    );
    node.fail_systemctl("start", false);
    let out = restore(&node, &["--rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_original(&node);
}

/// Waits until the journal records `step` as done.
fn wait_done(node: &Node, step: &str) {
    let t = Instant::now();
    let p = journal_path(node);
    while t.elapsed() < Duration::from_secs(60) {
        if let Ok(bytes) = fs::read(&p) {
            if let Ok(j) = serde_json::from_slice::<Value>(&bytes) {
                if j["done"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|s| s == step))
                {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("step {step} never done:\n{}", node.logs());
}

#[test]
fn kill_9_at_any_step_then_resume_or_rollback() {
    let steps = [
        "build",
        "stop-control-plane",
        "move-aside",
        "move-into-place",
        "start-control-plane",
    ];
    for (i, step) in steps.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let (node, snap, rev) = node_with_backup(tmp.path(), &v35());
        let mut child = node
            .backup_cmd()
            .env("ETCD_BACKUP_FAILPOINT", format!("{step}:hang"))
            .arg("restore")
            .arg(&snap)
            .arg("--yes")
            .arg("--manifests-dir")
            .arg(&node.manifests_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_done(&node, step);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Never a node with neither the old nor the new data in place.
        let old_kept = node.data_dir.exists() || !siblings(&node, "before-restore").is_empty();
        assert!(old_kept, "after kill at {step}: the old data is nowhere");
        // A new restore is refused while the journal is open.
        let out = restore(&node, &[snap.to_str().unwrap(), "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(stderr(&out).contains("--resume"), "{}", describe(&out));

        if i % 2 == 0 {
            let out = restore(&node, &["--resume", "--yes"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "resume after {step}: {}",
                describe(&out)
            );
            assert_restored(&node, rev);
            assert_eq!(journal(&node)["state"], "finished");
        } else {
            let out = restore(&node, &["--rollback", "--yes"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "rollback after {step}: {}",
                describe(&out)
            );
            assert_original(&node);
            assert_eq!(journal(&node)["state"], "rolled-back");
        }
        assert!(node.manifest.exists());
    }
}

/// A restore that hangs once `step` is done, with its output captured.
fn hanging_restore(node: &Node, snap: &Path, step: &str) -> std::process::Child {
    node.backup_cmd()
        .env("ETCD_BACKUP_FAILPOINT", format!("{step}:hang"))
        .arg("restore")
        .arg(snap)
        .arg("--yes")
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ctrl-C (or SIGTERM) while the steps run: the restore stops at its next safe point and puts
/// the node back (exit 130); before anything live is touched it only stops. SIGHUP (a dropped
/// SSH session) does not stop it.
#[test]
fn a_signal_at_any_step_rolls_back_and_sighup_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    for (step, sig) in [
        ("build", "INT"),
        ("stop-control-plane", "TERM"),
        ("move-aside", "INT"),
        ("start-control-plane", "INT"),
    ] {
        let failed_before = siblings(&node, "failed-restore").len();
        let mut child = hanging_restore(&node, &snap, step);
        wait_done(&node, step);
        if step == "move-aside" {
            send_signal(child.id(), "HUP");
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                child.try_wait().unwrap().is_none(),
                "SIGHUP stopped the restore"
            );
        }
        send_signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{step}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("interrupted by SIG{sig}")),
            "{step}: {err}"
        );
        if step == "build" {
            assert!(err.contains("nothing was changed"), "{err}");
        } else {
            assert!(err.contains("rolled back"), "{step}: {err}");
        }
        // The built dir is kept aside, never deleted.
        assert_eq!(siblings(&node, "failed-restore").len(), failed_before + 1);
        assert_original(&node);
        assert!(node.manifest.exists(), "{step}: manifest not back");
        assert!(siblings(&node, "before-restore").is_empty(), "{step}");
        assert!(siblings(&node, "restored-").is_empty(), "{step}");
        assert_eq!(journal(&node)["state"], "rolled-back", "{step}");
    }
}

/// A second Ctrl-C during the rollback stops the process at once (exit 130), and says how to
/// finish; `--rollback` then puts the node back, and a Ctrl-C does not cut that short.
#[test]
fn a_second_signal_stops_at_once_and_rollback_finishes_the_job() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    let mut child = hanging_restore(&node, &snap, "move-aside");
    wait_done(&node, "move-aside");
    send_signal(child.id(), "INT");
    // The rollback waits for etcd to come back, which takes far longer than this.
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the rollback ended before the second signal could be sent"
    );
    send_signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("second interrupt"), "{err}");
    assert!(err.contains("--rollback"), "{err}");
    assert_ne!(journal(&node)["state"], "rolled-back");

    // `--rollback`, with a Ctrl-C once it has started: it says it runs to its end, and does.
    let mut child = node
        .backup_cmd()
        .args(["restore", "--rollback", "--yes", "--manifests-dir"])
        .arg(&node.manifests_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(n > 0, "the rollback ended before it started:\n{seen}");
        seen.push_str(&line);
        if line.contains("rollback: starting") {
            break;
        }
    }
    send_signal(child.id(), "INT");
    std::io::Read::read_to_string(&mut err, &mut seen).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
    assert!(seen.contains("the rollback runs to its end"), "{seen}");
    assert_original(&node);
    assert!(node.manifest.exists());
    assert_eq!(journal(&node)["state"], "rolled-back");
}

/// Three control-plane nodes, the same snapshot restored on each with no membership flag:
/// one healthy cluster with the original members and the snapshot's data.
#[test]
fn ha_cluster_from_one_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = Node::cluster(tmp.path(), &v35(), &["cp1", "cp2", "cp3"]);
    nodes[0].put("/before", "1");
    let out = nodes[0].backup_cmd().arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snap = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    let rev = revision(&nodes[0]);
    nodes[0].put("/after", "1");
    // Restore all three at once, as an operator would in three terminals.
    let children: Vec<_> = nodes
        .iter()
        .map(|n| {
            n.backup_cmd()
                .arg("restore")
                .arg(&snap)
                .arg("--yes")
                .arg("--manifests-dir")
                .arg(&n.manifests_dir)
                .args(["--start-timeout", "90s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (n, c) in nodes.iter().zip(children) {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}\n{}",
            n.name,
            describe(&out),
            n.logs()
        );
    }
    for n in &nodes {
        assert_restored(n, rev);
    }
    let out = nodes[1].ctl(&["member", "list", "-w", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<String> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["cp1", "cp2", "cp3"]);
    nodes[2].put("/written-after", "yes");
    assert_eq!(nodes[0].get("/written-after").as_deref(), Some("yes"));
}

/// A restore child killed (SIGKILL) and reaped if a failed assertion leaves it running.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn take(mut self) -> std::process::Child {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Entries of the data dir (a mount point) whose names contain `what`.
fn inside(node: &Node, what: &str) -> Vec<PathBuf> {
    list_dir(&node.data_dir)
        .into_iter()
        .filter(|n| n.contains(what))
        .map(|n| node.data_dir.join(n))
        .collect()
}

/// Issue 13 item 5: the data dir is a mount point (a dedicated etcd disk), which cannot be
/// renamed. The restore swaps `member/` inside it, on its file system, keeps the old data there,
/// rolls back, resumes and takes signals as for a plain dir.
fn a_data_dir_on_its_own_mount_point(dist: Dist) {
    let tmp = tempfile::tempdir().unwrap();
    let _disk = Tmpfs::mount(&tmp.path().join("var/lib/etcd"), 0o700);
    let (node, snap, rev) = node_with_backup(tmp.path(), &dist);
    let snap = snap.to_str().unwrap();
    let calls = node.systemctl_log();

    let out = restore(&node, &[snap, "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("is a mount point"), "{stdout}");
    assert!(
        stdout.contains(&node.data_dir.join("member").display().to_string()),
        "{stdout}"
    );
    assert_eq!(node.systemctl_log(), calls);
    assert_eq!(list_dir(&node.data_dir), ["member"]);

    // Ctrl-C after the build, before anything live is touched: the build is kept aside, in the
    // mount, and the control plane never stopped.
    let child = KillOnDrop(Some(hanging_restore(&node, Path::new(snap), "build")));
    wait_done(&node, "build");
    send_signal(child.id(), "TERM");
    let out = child.take().wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(
        stderr(&out).contains("nothing was changed"),
        "{}",
        describe(&out)
    );
    assert_eq!(node.systemctl_log(), calls);
    assert_eq!(inside(&node, "member.failed-restore").len(), 1);
    assert!(inside(&node, "etcd-backup-restored").is_empty());
    assert_eq!(node.get("/after").as_deref(), Some("1"));

    // A failure after the stop, and one at the last step: rolled back, in the mount.
    for step in ["move-into-place", "wait-healthy"] {
        let out = node
            .backup_cmd()
            .env("ETCD_BACKUP_FAILPOINT", step)
            .arg("restore")
            .arg(snap)
            .arg("--yes")
            .arg("--manifests-dir")
            .arg(&node.manifests_dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{step}: {}", describe(&out));
        assert!(
            stderr(&out).contains("rolled back"),
            "{step}: {}",
            describe(&out)
        );
        assert_original(&node);
        assert!(inside(&node, "before-restore").is_empty(), "{step}");
        assert!(inside(&node, "etcd-backup-restored").is_empty(), "{step}");
        assert_eq!(journal(&node)["state"], "rolled-back", "{step}");
    }
    assert_eq!(inside(&node, "member.failed-restore").len(), 3);
    // The operator's clean-up (etcd-backup never deletes them): each holds a 64 MB WAL, which
    // the tmpfs "disk" has no room for many of.
    for d in inside(&node, "member.failed-restore") {
        fs::remove_dir_all(d).unwrap();
    }

    // Ctrl-C with the old member/ moved aside: put back. (The closed journal goes first, so
    // that wait_done sees the new run's steps.)
    fs::remove_file(journal_path(&node)).unwrap();
    let child = KillOnDrop(Some(hanging_restore(&node, Path::new(snap), "move-aside")));
    wait_done(&node, "move-aside");
    assert!(!node.data_dir.join("member").exists());
    send_signal(child.id(), "INT");
    let out = child.take().wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert_original(&node);

    // kill -9 with member/ moved aside, then --resume: restored.
    fs::remove_file(journal_path(&node)).unwrap();
    let child = node
        .backup_cmd()
        .env("ETCD_BACKUP_FAILPOINT", "move-aside:hang")
        .arg("restore")
        .arg(snap)
        .arg("--yes")
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(Some(child));
    wait_done(&node, "move-aside");
    drop(child); // SIGKILL
    let out = restore(&node, &["--resume", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        node.logs()
    );
    assert_restored(&node, rev);
    let aside = inside(&node, "member.before-restore");
    assert_eq!(aside.len(), 1, "{:?}", list_dir(&node.data_dir));
    assert!(aside[0].join("snap/db").exists());
    assert!(inside(&node, "etcd-backup-restored").is_empty());
    assert_eq!(journal(&node)["state"], "finished");
    // Still the mounted disk, not a dir built on the parent's file system.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let canon = fs::canonicalize(&node.data_dir).unwrap();
    assert!(
        mounts
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(canon.to_str().unwrap())),
        "{} is no longer a mount point",
        canon.display()
    );
}

#[test]
fn a_data_dir_on_its_own_mount_point_3_5_1() {
    a_data_dir_on_its_own_mount_point(v35());
}

#[test]
fn a_data_dir_on_its_own_mount_point_3_4_23() {
    a_data_dir_on_its_own_mount_point(v34());
}

/// Issue 13 item 6: `--data-dir` naming a dir this node's etcd does not use (the etcdutl habit
/// `--data-dir /var/lib/etcd-from-backup`) is refused before anything stops; the same dir
/// written another way is accepted.
#[test]
fn a_data_dir_etcd_does_not_use_is_refused_before_anything_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    // As etcdutl users do: a data dir restored elsewhere first, then named as --data-dir.
    let other = tmp.path().join("var/lib/etcd-from-backup");
    let out = node
        .backup_cmd()
        .arg("restore")
        .arg(&snap)
        .arg("--output-dir")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let calls = node.systemctl_log();
    let out = restore(
        &node,
        &[
            snap.to_str().unwrap(),
            "--yes",
            "--data-dir",
            other.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("--output-dir"), "{err}");
    assert!(err.contains(&node.data_dir.display().to_string()), "{err}");
    assert!(err.contains(&node.manifest.display().to_string()), "{err}");
    assert_eq!(node.systemctl_log(), calls, "something was stopped");
    assert_eq!(list_dir(&other), ["member"]);
    assert!(siblings(&node, "restore").is_empty());
    assert!(!journal_path(&node).exists());
    assert_eq!(node.get("/after").as_deref(), Some("1"));

    // The manifest's dir through a symlink and with a trailing `/.`: the same dir.
    let link = tmp.path().join("etcd-link");
    std::os::unix::fs::symlink(&node.data_dir, &link).unwrap();
    for same in [link.clone(), node.data_dir.join(".")] {
        let out = restore(
            &node,
            &[
                snap.to_str().unwrap(),
                "--dry-run",
                "--data-dir",
                same.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            same.display(),
            describe(&out)
        );
    }
}

/// Issue 13 item 6: wait-healthy proves that etcd serves this restore's data by the cluster and
/// member IDs the restore wrote, not by a revision an older restore may also reach. A journal
/// whose plan expects other IDs never sees them: the wait fails and the restore rolls back.
#[test]
fn wait_healthy_insists_on_the_ids_this_restore_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    let child = node
        .backup_cmd()
        .env("ETCD_BACKUP_FAILPOINT", "move-into-place:hang")
        .arg("restore")
        .arg(&snap)
        .arg("--yes")
        .arg("--manifests-dir")
        .arg(&node.manifests_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(Some(child));
    wait_done(&node, "move-into-place");
    drop(child); // SIGKILL
    let mut j = journal(&node);
    let real = j["plan"]["cluster_id"]
        .as_u64()
        .expect("the plan records the cluster ID");
    j["plan"]["cluster_id"] = Value::from(real ^ 1);
    fs::write(journal_path(&node), serde_json::to_vec_pretty(&j).unwrap()).unwrap();
    let out = node
        .backup_cmd()
        .args(["restore", "--resume", "--yes", "--manifests-dir"])
        .arg(&node.manifests_dir)
        .args(["--start-timeout", "10s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("not the restored data"), "{err}");
    assert!(err.contains(&format!("{real:x}")), "{err}");
    // This run's --start-timeout, not the one journaled by the first run (5m).
    assert!(err.contains("within 10s"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_original(&node);
}

/// A snapshot of a newer etcd minor (3.6+ writes `meta/storageVersion`; no 3.6 binary runs here,
/// so the file is one of ours) is refused before anything stops, naming both versions.
#[test]
fn a_snapshot_of_a_newer_etcd_is_refused_before_anything_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, snap, _) = node_with_backup(tmp.path(), &v35());
    let newer = tmp.path().join("etcd-snapshot-from-3.7.db");
    common::snapshot_with_meta(&snap, &newer, b"storageVersion", b"3.7.0");
    let calls = node.systemctl_log();
    let out = restore(&node, &[newer.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("etcd 3.7 data"), "{err}");
    assert!(err.contains("runs etcd 3.5.1"), "{err}");
    assert!(err.contains("--skip-version-check"), "{err}");
    assert_eq!(node.systemctl_log(), calls);
    assert!(siblings(&node, "restore").is_empty());
    assert_eq!(node.get("/after").as_deref(), Some("1"));
    // The same minor as the node's etcd passes this check (the dry run goes on to its plan).
    let same = tmp.path().join("etcd-snapshot-from-3.5.db");
    common::snapshot_with_meta(&snap, &same, b"storageVersion", b"3.5.0");
    let out = restore(&node, &[same.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// `save --with-pki` records the Kubernetes and etcd versions with the DR bundle; a node restore
/// under another Kubernetes version says so before it changes anything.
#[test]
fn the_bundle_records_versions_and_a_restore_under_another_kubernetes_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    node.put("/before", "1");
    let kube = node.manifests_dir.parent().unwrap().to_path_buf();
    let out = node
        .backup_cmd()
        .args(["save", "--with-pki", "--kubernetes-dir"])
        .arg(&kube)
        .arg("--kubelet-dir")
        .arg(tmp.path().join("var/lib/kubelet"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snap = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
    let sidecar: Value =
        serde_json::from_slice(&fs::read(format!("{}.json", snap.display())).unwrap()).unwrap();
    let bundle = &sidecar["pki_bundle"];
    assert_eq!(bundle["kubernetes_version"], "v1.28.0", "{sidecar}");
    assert_eq!(
        bundle["etcd_image"], "registry.k8s.io/etcd:3.5.1-0",
        "{sidecar}"
    );
    // The same version: no word about it.
    let out = restore(&node, &[snap.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        !stderr(&out).contains("Kubernetes v1.28.0"),
        "{}",
        describe(&out)
    );
    // The node was rolled back to an older Kubernetes since.
    let api = node.manifests_dir.join("kube-apiserver.yaml");
    let text = fs::read_to_string(&api).unwrap();
    fs::write(&api, text.replace("v1.28.0", "v1.27.3")).unwrap();
    let out = restore(&node, &[snap.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("taken under Kubernetes v1.28.0"), "{err}");
    assert!(err.contains("runs v1.27.3"), "{err}");
    assert!(
        err.contains("an older kube-apiserver may not read"),
        "{err}"
    );
}

/// `verify` lists the keys values were encrypted at rest with and flags one that the DR bundle's
/// encryption config does not hold: found now, not after a restore.
#[test]
fn verify_flags_an_encryption_key_the_bundle_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::start(tmp.path(), &v35(), "cp1");
    let kube = node.manifests_dir.parent().unwrap().to_path_buf();
    let enc = kube.join("enc/config.yaml");
    fs::create_dir_all(enc.parent().unwrap()).unwrap();
    fs::write(
        &enc,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key1\n\
         \x20       secret: dGhpcyBpcyBwYXNzd29yZAo=\n  - identity: {}\n",
    )
    .unwrap();
    let api = node.manifests_dir.join("kube-apiserver.yaml");
    let text = fs::read_to_string(&api).unwrap();
    let flag = format!(
        "    - --etcd-servers=https://127.0.0.1:2379\n    - --encryption-provider-config={}\n",
        enc.display()
    );
    fs::write(
        &api,
        text.replace("    - --etcd-servers=https://127.0.0.1:2379\n", &flag),
    )
    .unwrap();
    node.put(
        "/registry/secrets/shop/a",
        "k8s:enc:aescbc:v1:key1:ciphertext",
    );
    node.put(
        "/registry/secrets/shop/b",
        "k8s:enc:aescbc:v1:key9:ciphertext",
    );
    let out = node
        .backup_cmd()
        .args(["save", "--with-pki", "--kubernetes-dir"])
        .arg(&kube)
        .arg("--kubelet-dir")
        .arg(tmp.path().join("var/lib/kubelet"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let snap = String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string();
    let out = node.backup_cmd().args(["verify", &snap]).output().unwrap();
    // The file is sound: exit 0, with the warning.
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("encrypted with aescbc:key9 but the encryption config"),
        "{err}"
    );
    assert!(!err.contains("aescbc:key1 but"), "{err}");
    let out = node
        .backup_cmd()
        .args(["verify", &snap, "-w", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["files"][0]["encryption"];
    assert_eq!(e["bundle"], "checked", "{v}");
    assert_eq!(
        e["missing_from_bundle"],
        serde_json::json!(["aescbc:key9"]),
        "{v}"
    );
    assert_eq!(e["keys"]["aescbc:key1"], 1, "{v}");
}
