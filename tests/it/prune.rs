//! `prune` and `save --prune` on real directories holding real snapshots: our own backups with
//! sidecars, files of the old cron script (`etcdctl snapshot save` to the same names, no
//! sidecar), damaged copies, temp files of interrupted saves, foreign files and symlinks.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use common::*;
use etcd_backup::backup::catalog;
use proptest::prelude::*;

/// Real snapshots to copy: `ours` (our `save`, with its sidecar) and `old` (what the old cron
/// script wrote: etcdctl 3.4.23 `snapshot save`, no sidecar). Made once, etcd stopped after.
struct Templates {
    _tmp: tempfile::TempDir,
    ours: PathBuf,
    old: PathBuf,
}

fn templates() -> &'static Templates {
    static T: OnceLock<Templates> = OnceLock::new();
    T.get_or_init(|| {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
        let etcd = Etcd::start(&v34(), &pki, tmp.path());
        etcd.put_bulk(40, 600);
        let out = save_cmd(&etcd, &tmp.path().join("b"))
            .arg("save")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let ours = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
        let old = tmp.path().join("old.db");
        let out = etcd.ctl(&["snapshot", "save", old.to_str().unwrap()]);
        assert!(out.status.success(), "{}", describe(&out));
        Templates {
            _tmp: tmp,
            ours,
            old,
        }
    })
}

/// A backup name `mins` minutes before now.
fn name_ago(mins: i64, label: Option<&str>) -> String {
    catalog::backup_file_name(Utc::now() - chrono::Duration::minutes(mins), label)
}

/// Our backup and its sidecar under `name`.
fn put_ours(dir: &Path, name: &str) {
    let t = templates();
    fs::copy(&t.ours, dir.join(name)).unwrap();
    fs::copy(
        catalog::sidecar_path(&t.ours),
        dir.join(format!("{name}.json")),
    )
    .unwrap();
}

/// What the old cron script left: the snapshot alone.
fn put_old(dir: &Path, name: &str) {
    fs::copy(&templates().old, dir.join(name)).unwrap();
}

/// A damaged copy: its end cut off, as by a full disk.
fn put_damaged(dir: &Path, name: &str) {
    let mut bytes = fs::read(&templates().old).unwrap();
    bytes.truncate(bytes.len() - 4096 - 32);
    fs::write(dir.join(name), bytes).unwrap();
}

fn set_mtime(path: &Path, ago: Duration) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

fn backup_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    (tmp, dir)
}

fn prune(dir: &Path, args: &[&str]) -> std::process::Output {
    backup_cmd()
        .arg("--backup-dir")
        .arg(dir)
        .arg("prune")
        .args(args)
        .output()
        .unwrap()
}

/// Every name in `dir` with its size and mtime, to prove a run changed nothing.
fn snapshot_of(dir: &Path) -> Vec<(String, u64, SystemTime)> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n != ".etcd-backup.lock")
        .map(|n| {
            let m = fs::symlink_metadata(dir.join(&n)).unwrap();
            (n, m.len(), m.modified().unwrap())
        })
        .collect()
}

/// The stdout line of `name` (the action is its first word).
fn line_of<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
}

#[test]
fn default_rules_on_a_directory_with_everything_in_it() {
    let (tmp, dir) = backup_dir();
    let e = everything(tmp.path(), &dir);
    dry_run_changes_nothing_and_lists_every_file(&dir, &e);
    prune_deletes_what_the_default_rules_drop(&dir, &e);
    // Nothing left to do: a second run deletes nothing and verifies nothing.
    let out = prune(&dir, &["-w", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deleted_files"], 0);
    assert_eq!(v["newest_verified"], serde_json::Value::Null);
    assert!(
        !stderr(&out).contains("before deleting anything"),
        "{}",
        describe(&out)
    );
}

/// The names in the directory of [`default_rules_on_a_directory_with_everything_in_it`].
struct Everything {
    newest: String,
    ours_4h: String,
    old_2d: String,
    old_6d: String,
    old_8d: String,
    old_40d: String,
    labeled: String,
    orphan: String,
    stale: String,
    fresh: String,
    link: String,
    our_name_on_a_dir: String,
    /// The target of `link`, outside the backup dir.
    outside: PathBuf,
}

/// Fills `dir` with backups of every kind and age, temp files, foreign files, a directory and a
/// symlink to a file under `tmp`.
fn everything(tmp: &Path, dir: &Path) -> Everything {
    let day = 24 * 60;
    let newest = name_ago(10, None);
    let ours_4h = name_ago(4 * 60, None);
    let old_2d = name_ago(2 * day, None);
    let old_6d = name_ago(6 * day, None);
    let old_8d = name_ago(8 * day, None);
    let old_40d = name_ago(40 * day, None);
    let labeled = name_ago(60 * day, Some("pre-upgrade-1.31"));
    let orphan = format!("{}.json", name_ago(50 * day, None));
    let stale = name_ago(3 * 60, None);
    let fresh = name_ago(1, None);
    let link = name_ago(9 * day, None);
    let our_name_on_a_dir = name_ago(10 * day, None);
    let outside = tmp.join("outside.db");
    put_ours(dir, &newest);
    put_ours(dir, &ours_4h);
    for n in [&old_2d, &old_6d, &old_8d, &old_40d] {
        put_old(dir, n);
    }
    put_ours(dir, &labeled);
    fs::copy(catalog::sidecar_path(&templates().ours), dir.join(&orphan)).unwrap();
    // A save killed after writing its sidecar, two hours ago; and one still running.
    put_old(dir, &format!("{stale}.part"));
    fs::copy(
        dir.join(format!("{ours_4h}.json")),
        dir.join(format!("{stale}.json")),
    )
    .unwrap();
    set_mtime(
        &dir.join(format!("{stale}.part")),
        Duration::from_secs(2 * 3600),
    );
    put_old(dir, &format!("{fresh}.part"));
    // Time comes from the name: an old mtime keeps nothing alive or dead.
    set_mtime(&dir.join(&old_6d), Duration::from_secs(30 * 86_400));
    // Things that are not ours, or not regular files.
    fs::write(dir.join("notes.txt"), "restore drill 2026-10").unwrap();
    fs::write(dir.join("etcd-snapshot-latest.db"), "not ours").unwrap();
    fs::write(dir.join(format!("{old_40d}.gz")), "not ours").unwrap();
    fs::create_dir(dir.join(&our_name_on_a_dir)).unwrap();
    put_old(tmp, "outside.db");
    set_mtime(&outside, Duration::from_secs(30 * 86_400));
    std::os::unix::fs::symlink(&outside, dir.join(&link)).unwrap();
    Everything {
        newest,
        ours_4h,
        old_2d,
        old_6d,
        old_8d,
        old_40d,
        labeled,
        orphan,
        stale,
        fresh,
        link,
        our_name_on_a_dir,
        outside,
    }
}

fn dry_run_changes_nothing_and_lists_every_file(dir: &Path, e: &Everything) {
    let Everything {
        newest,
        old_6d,
        old_8d,
        labeled,
        orphan,
        stale,
        fresh,
        link,
        ..
    } = e;
    // --dry-run changes nothing and lists every file.
    let before = snapshot_of(dir);
    let out = prune(dir, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(snapshot_of(dir), before, "--dry-run changed the directory");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let listed = stdout.lines().count() - 1;
    assert_eq!(listed, before.len(), "every file:\n{stdout}");
    assert!(line_of(&stdout, newest).starts_with("keep"), "{stdout}");
    assert!(
        line_of(&stdout, newest).contains("newest verified"),
        "{stdout}"
    );
    assert!(line_of(&stdout, old_6d).contains("within 7d"), "{stdout}");
    assert!(line_of(&stdout, old_8d).starts_with("delete"), "{stdout}");
    assert!(line_of(&stdout, labeled).contains("labeled"), "{stdout}");
    assert!(line_of(&stdout, link).contains("symlink"), "{stdout}");
    assert!(
        line_of(&stdout, "notes.txt").starts_with("ignore"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, orphan).contains("orphaned sidecar"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, &format!("{stale}.part")).contains("interrupted save"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, &format!("{fresh}.part")).starts_with("ignore"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run, nothing changed"), "{stdout}");
}

fn prune_deletes_what_the_default_rules_drop(dir: &Path, e: &Everything) {
    let Everything {
        newest,
        ours_4h,
        old_2d,
        old_6d,
        old_8d,
        old_40d,
        labeled,
        fresh,
        link,
        our_name_on_a_dir,
        outside,
        ..
    } = e;
    let out = prune(dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let mut want = vec![
        newest.clone(),
        format!("{newest}.json"),
        ours_4h.clone(),
        format!("{ours_4h}.json"),
        old_2d.clone(),
        old_6d.clone(),
        labeled.clone(),
        format!("{labeled}.json"),
        format!("{fresh}.part"),
        "notes.txt".into(),
        "etcd-snapshot-latest.db".into(),
        format!("{old_40d}.gz"),
        our_name_on_a_dir.clone(),
        link.clone(),
        ".etcd-backup.lock".into(),
    ];
    want.sort();
    assert_eq!(list_dir(dir), want);
    assert!(outside.exists(), "the symlink's target was touched");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(line_of(&stdout, old_8d).starts_with("deleted"), "{stdout}");
    assert!(
        stdout.contains("deleted 2 backup(s) and 3 other file(s)"),
        "{stdout}"
    );
}

#[test]
fn damaged_newest_backups_do_not_count_as_the_last_good_one() {
    let (_tmp, dir) = backup_dir();
    let damaged = name_ago(10, None);
    let good = name_ago(70, None);
    let older = [name_ago(130, None), name_ago(190, None)];
    put_damaged(&dir, &damaged);
    put_old(&dir, &good);
    for n in &older {
        put_old(&dir, n);
    }
    let out = prune(&dir, &["--keep-last", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{damaged} fails verification")),
        "{err}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        line_of(&stdout, &good).contains("newest verified"),
        "{stdout}"
    );
    assert_eq!(list_dir(&dir), {
        let mut v = vec![damaged, good, ".etcd-backup.lock".to_string()];
        v.sort();
        v
    });
}

#[test]
fn no_backup_is_deleted_when_none_passes_verification() {
    let (_tmp, dir) = backup_dir();
    let names: Vec<String> = (10..13).map(|d| name_ago(d * 24 * 60, None)).collect();
    for n in &names {
        put_damaged(&dir, n);
    }
    let stale = format!("{}.part", name_ago(120, None));
    put_old(&dir, &stale);
    set_mtime(&dir.join(&stale), Duration::from_secs(7200));
    let out = prune(&dir, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("passes verification, so no backup is deleted"),
        "{}",
        describe(&out)
    );
    let left = list_dir(&dir);
    for n in &names {
        assert!(left.contains(n), "{n} deleted: {left:?}");
    }
    assert!(!left.contains(&stale), "stale temp file kept: {left:?}");
}

#[test]
fn world_writable_backup_dirs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&open, &link).unwrap();
    let old = name_ago(30 * 24 * 60, None);
    put_old(&open, &old);
    put_old(&open, &name_ago(10, None));

    let out = prune(&link, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is a symlink to") && err.contains("world-writable"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let out = prune(&open, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is world-writable"),
        "{}",
        describe(&out)
    );
    assert!(open.join(&old).exists());

    // A symlink to a private directory is fine; the link itself is never touched.
    fs::set_permissions(&open, fs::Permissions::from_mode(0o700)).unwrap();
    let out = prune(&link, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!open.join(&old).exists());
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn prune_takes_the_save_lock() {
    let (_tmp, dir) = backup_dir();
    let old = name_ago(30 * 24 * 60, None);
    put_old(&dir, &old);
    put_old(&dir, &name_ago(10, None));
    let held = etcd_backup::fsutil::DirLock::acquire(&dir).unwrap();
    let out = prune(&dir, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("pid {}", std::process::id())),
        "{}",
        describe(&out)
    );
    assert!(dir.join(&old).exists());
    drop(held);
    let out = prune(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!dir.join(&old).exists());
}

#[test]
fn save_prune_is_one_quiet_cron_line() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(20, 300);
    let dir = tmp.path().join("backups");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let day = 24 * 60;
    let d1 = name_ago(day, None);
    let older: Vec<String> = [2, 3, 10].iter().map(|d| name_ago(d * day, None)).collect();
    let labeled = name_ago(30 * day, Some("pre-upgrade"));
    put_ours(&dir, &d1);
    for n in &older {
        put_old(&dir, n);
    }
    put_ours(&dir, &labeled);

    // Retention flags without --prune are a mistake, caught before any work.
    let out = save_cmd(&etcd, &dir)
        .args(["save", "--keep-last", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("without --prune"),
        "{}",
        describe(&out)
    );

    let before = list_dir(&dir);
    let out = save_cmd(&etcd, &dir)
        .args(["-q", "save", "--prune", "--keep-last", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "-q must print nothing on success (cron mails any output): {}",
        describe(&out)
    );
    let after = finished_looking(&dir);
    let new: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
    assert_eq!(new.len(), 2, "the new backup and its sidecar: {after:?}");
    let mut want = vec![
        d1.clone(),
        format!("{d1}.json"),
        labeled.clone(),
        format!("{labeled}.json"),
    ];
    want.extend(new.iter().map(|n| n.to_string()));
    want.sort();
    assert_eq!(after, want);

    // With -w json, one document: the save and what the prune did.
    std::thread::sleep(Duration::from_millis(1100)); // a new second, a new name
    let out = save_cmd(&etcd, &dir)
        .args(["-w", "json", "save", "--prune", "--keep-last", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = v["path"].as_str().unwrap();
    assert!(Path::new(path).exists());
    assert_eq!(v["prune"]["deleted_backups"], 2, "{v:#}");
    assert_eq!(
        v["prune"]["newest_verified"],
        Path::new(path).file_name().unwrap().to_str().unwrap(),
        "{v:#}"
    );
    assert!(
        !stderr(&out).contains("before deleting anything"),
        "the file save just verified is not verified again: {}",
        describe(&out)
    );
}

/// One generated backup: minutes ago, label, good (a real snapshot) or damaged, with sidecar.
type GenBackup = (i64, Option<&'static str>, bool, bool);

fn gen_backups() -> impl Strategy<Value = Vec<GenBackup>> {
    prop::collection::vec(
        (
            // Now and then a name up to 3 days in the future (clock ahead, a renamed copy),
            // clear of the 5-minute tolerance.
            prop_oneof![6 => 0i64..90 * 24 * 60, 1 => -3 * 24 * 60..-10i64],
            prop::option::of(prop::sample::select(vec!["pre-upgrade", "manual.2"])),
            prop::bool::weighted(0.8),
            any::<bool>(),
        ),
        0..10,
    )
}

fn gen_flags() -> impl Strategy<Value = Vec<String>> {
    let opt = |flag: &'static str, max: u32| {
        prop::option::of(1..max).prop_map(move |n| {
            n.map(|n| vec![flag.to_string(), n.to_string()])
                .unwrap_or_default()
        })
    };
    (
        opt("--keep-last", 5),
        opt("--keep-days", 20),
        opt("--keep-daily", 5),
        opt("--keep-weekly", 4),
        opt("--keep-monthly", 3),
        any::<bool>(),
    )
        .prop_map(|(a, b, c, d, e, prune_labeled)| {
            let mut v: Vec<String> = [a, b, c, d, e].concat();
            if prune_labeled {
                v.push("--prune-labeled".into());
            }
            v
        })
}

proptest! {
    // Each case builds a directory of real snapshots and runs the binary twice.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The safety invariants, on real files, whatever the rules.
    #[test]
    fn invariants_hold_on_real_directories(
        backups in gen_backups(),
        flags in gen_flags(),
        // Clear of the one-hour line, which the run itself takes time to cross.
        stale_part_mins in prop::option::of(prop_oneof![0u64..50, 70u64..180]),
    ) {
        let (tmp, dir) = backup_dir();
        let mut names: Vec<(String, bool, bool)> = Vec::new();
        for (mins, label, good, sidecar) in &backups {
            let name = name_ago(*mins, *label);
            if names.iter().any(|(n, ..)| *n == name) {
                continue;
            }
            match (good, sidecar) {
                (true, true) => put_ours(&dir, &name),
                (true, false) => put_old(&dir, &name),
                (false, _) => put_damaged(&dir, &name),
            }
            names.push((name, *good, *good && *sidecar));
        }
        let foreign = ["notes.txt", "etcd-snapshot-latest.db", "etcd-snapshot-x.db.json"];
        for f in foreign {
            fs::write(dir.join(f), f).unwrap();
        }
        let outside = tmp.path().join("outside.db");
        put_old(tmp.path(), "outside.db");
        let link = name_ago(100 * 24 * 60, None);
        std::os::unix::fs::symlink(&outside, dir.join(&link)).unwrap();
        let part = format!("{}.part", name_ago(5, None));
        if let Some(m) = stale_part_mins {
            put_old(&dir, &part);
            set_mtime(&dir.join(&part), Duration::from_secs(m * 60));
        }

        let before = snapshot_of(&dir);
        let dry = prune(&dir, &[&["--dry-run"], &flags.iter().map(String::as_str).collect::<Vec<_>>()[..]].concat());
        prop_assert!(matches!(dry.status.code(), Some(0 | 1)), "{}", describe(&dry));
        prop_assert_eq!(snapshot_of(&dir), before.clone());

        let out = prune(&dir, &flags.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(out.status.code(), dry.status.code(), "{}", describe(&out));
        let after: Vec<String> = list_dir(&dir);
        let exists = |n: &str| after.iter().any(|a| a == n);

        // Backups named in the future are suspect: all kept.
        let future = |n: &str| {
            catalog::parse_backup_name(n).unwrap().taken_at
                > Utc::now() + chrono::Duration::minutes(5)
        };
        for (n, ..) in names.iter().filter(|(n, ..)| future(n)) {
            prop_assert!(exists(n), "suspect {} deleted", n);
        }
        // The newest trusted backup that passes verification survives; with none, every
        // backup does.
        let mut by_time: Vec<_> = names.iter().filter(|(n, ..)| !future(n)).cloned().collect();
        by_time.sort_by(|a, b| b.0.cmp(&a.0));
        match by_time.iter().find(|(_, good, _)| *good) {
            Some((n, ..)) => prop_assert!(exists(n), "newest good {} deleted", n),
            None if names.iter().any(|(_, good, _)| *good) => {} // a suspect one is the floor
            None => {
                for (n, ..) in &names {
                    prop_assert!(exists(n), "{} deleted with no good backup", n);
                }
            }
        }
        for (n, _, sidecar) in &names {
            let parsed = catalog::parse_backup_name(n).unwrap();
            // Labeled backups stay unless --prune-labeled.
            if parsed.label.is_some() && !flags.iter().any(|f| f == "--prune-labeled") {
                prop_assert!(exists(n), "labeled {} deleted", n);
            }
            // A backup and its sidecar go together.
            if *sidecar {
                prop_assert_eq!(exists(n), exists(&format!("{n}.json")), "{}", n);
            }
        }
        // Foreign files, the symlink and its target are untouched.
        for f in foreign {
            prop_assert!(exists(f), "{} deleted", f);
        }
        prop_assert!(exists(&link));
        prop_assert!(outside.exists());
        // Temp files go when more than an hour old, and only then.
        if let Some(m) = stale_part_mins {
            prop_assert_eq!(exists(&part), m <= 60, "temp file {} min old", m);
        }
        // Only names of ours were deleted.
        for (n, ..) in &before {
            if !exists(n) {
                let ours = catalog::parse_backup_name(n).is_some()
                    || n.strip_suffix(".json").and_then(catalog::parse_backup_name).is_some()
                    || n.strip_suffix(".part").and_then(catalog::parse_backup_name).is_some();
                prop_assert!(ours, "{} is not ours but was deleted", n);
            }
        }
    }
}

/// Runs `cmd` with its address space capped at 2 GiB (a run that reads without bound fails
/// fast instead of taking the machine's memory) and kills it after `limit`: a run that does not
/// finish in time is a hang, and fails the test.
fn run_bounded(cmd: &mut std::process::Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut bounded = std::process::Command::new("prlimit");
    bounded
        .arg("--as=2147483648")
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => bounded.env(k, v),
            None => bounded.env_remove(k),
        };
    }
    let mut child = bounded
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "{:?} {:?} did not finish in {limit:?}: hung; stderr so far:\n{}",
                cmd.get_program(),
                cmd.get_args().collect::<Vec<_>>(),
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Copies a backup and its sidecar to the name of a backup taken at `at`, with a sidecar that
/// says so (file name and times), as a save would have written it with its clock at `at`.
fn copy_as_taken_at(from: &Path, dir: &Path, at: chrono::DateTime<Utc>) -> String {
    let name = catalog::backup_file_name(at, None);
    fs::copy(from, dir.join(&name)).unwrap();
    let mut sc: serde_json::Value =
        serde_json::from_slice(&fs::read(catalog::sidecar_path(from)).unwrap()).unwrap();
    sc["file"] = serde_json::json!(name);
    sc["started_at"] = serde_json::json!(at);
    sc["finished_at"] = serde_json::json!(at + chrono::Duration::seconds(1));
    sc["verified_at"] = serde_json::json!(at + chrono::Duration::seconds(1));
    fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_vec_pretty(&sc).unwrap(),
    )
    .unwrap();
    name
}

fn saved_path(out: &std::process::Output) -> PathBuf {
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

fn status_json(dir: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = run_bounded(
        backup_cmd()
            .arg("--backup-dir")
            .arg(dir)
            .args(["-w", "json", "status"])
            .args(args),
        Duration::from_secs(60),
    );
    let doc =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    (out.status.code(), doc)
}

/// Issue 13: one backup taken while the clock was ahead (or a copy of an old backup given a
/// future name), then a normal `save --prune --keep-last 1` (or daily/weekly rules): the backup
/// just written was deleted, exit 0, its path still printed. A clock 25 minutes behind the one
/// that named the newest backup did the same.
#[test]
fn skew_future_named_backups_never_cost_the_backup_just_written() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(20, 300);
    let seed_dir = tmp.path().join("seed");
    let out = save_cmd(&etcd, &seed_dir).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let seed = saved_path(&out);
    let cases: [(&str, i64, &[&str]); 3] = [
        ("clock 2h ahead, --keep-last 1", 120, &["--keep-last", "1"]),
        (
            "clock 2h ahead, --keep-daily 7 --keep-weekly 4",
            120,
            &["--keep-daily", "7", "--keep-weekly", "4"],
        ),
        ("clock 25m behind, --keep-last 1", 25, &["--keep-last", "1"]),
    ];
    for (i, (case, ahead_mins, rules)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("b{i}"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        // Two backups of one day three days ago: whatever the time of day the test runs (3
        // hours ago is yesterday between 00:00 and 03:00 UTC, and a daily then keeps it), every
        // rule set here deletes the earlier one (--keep-daily keeps the later one of that day).
        let day = (Utc::now() - chrono::Duration::days(3)).date_naive();
        let at = |h: u32| day.and_hms_opt(h, 0, 0).unwrap().and_utc();
        let older = copy_as_taken_at(&seed, &dir, at(9));
        copy_as_taken_at(&seed, &dir, at(10));
        let future = copy_as_taken_at(
            &seed,
            &dir,
            Utc::now() + chrono::Duration::minutes(*ahead_mins),
        );
        etcd.put_bulk(5, 300);
        let out = run_bounded(
            save_cmd(&etcd, &dir).args(["save", "--prune"]).args(*rules),
            Duration::from_secs(120),
        );
        assert_eq!(out.status.code(), Some(0), "{case}: {}", describe(&out));
        let written = saved_path(&out);
        assert!(
            written.is_file() && catalog::sidecar_path(&written).is_file(),
            "{case}: the backup just written ({}) was deleted: {}",
            written.display(),
            describe(&out)
        );
        assert!(
            dir.join(&future).exists(),
            "{case}: the suspect backup is kept"
        );
        assert!(
            !dir.join(&older).exists(),
            "{case}: the rules still apply to the rest: {}",
            describe(&out)
        );
        assert!(
            stderr(&out).contains("not counted as a recent backup"),
            "{case}: {}",
            describe(&out)
        );

        // status names the suspect and never counts it as the newest.
        let (code, doc) = status_json(&dir, &["--max-age", "1h"]);
        assert_eq!(code, Some(0), "{case}: {doc:#}");
        let written_name = written.file_name().unwrap().to_str().unwrap();
        assert_eq!(doc["newest_good"], written_name, "{case}: {doc:#}");
        assert_eq!(doc["suspect_backups"], 1, "{case}: {doc:#}");
        let row = doc["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["file"] == future.as_str())
            .unwrap();
        assert_eq!(row["good"], false, "{case}: {doc:#}");
        assert!(row["suspect"].as_str().unwrap().contains("future"), "{row}");

        // verify --latest checks the newest trusted backup, not the future-named one.
        let out = run_bounded(
            backup_cmd()
                .arg("--backup-dir")
                .arg(&dir)
                .args(["-w", "json", "verify", "--latest"]),
            Duration::from_secs(60),
        );
        assert_eq!(out.status.code(), Some(0), "{case}: {}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["files"][0]["path"],
            written.to_str().unwrap(),
            "{case}: {v:#}"
        );
    }
}

/// Issue 13: a backup with a newer name but a lower revision than an older-named backup of the
/// same cluster (its name is not when it was taken) stood for "the newest": `prune --keep-last
/// 1` deleted the backup that really held the newest state, and `status --max-age` counted the
/// misnamed one as recent.
#[test]
fn skew_a_newer_name_with_an_older_revision_is_suspect() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(10, 300);
    let seed_dir = tmp.path().join("seed");
    let out = save_cmd(&etcd, &seed_dir).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let low = saved_path(&out);
    etcd.put_bulk(10, 300);
    std::thread::sleep(Duration::from_millis(1100));
    let out = save_cmd(&etcd, &seed_dir).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let high = saved_path(&out);

    let (_t, dir) = backup_dir();
    // The newest state, named 3 hours ago; an older state named 1 hour ago.
    let newest_state = copy_as_taken_at(&high, &dir, Utc::now() - chrono::Duration::hours(3));
    let misnamed = copy_as_taken_at(&low, &dir, Utc::now() - chrono::Duration::hours(1));

    let (code, doc) = status_json(&dir, &["--max-age", "2h"]);
    assert_eq!(code, Some(1), "the only trusted backup is 3h old: {doc:#}");
    assert_eq!(doc["newest_good"], newest_state.as_str(), "{doc:#}");
    let row = &doc["backups"][0];
    assert_eq!(row["file"], misnamed.as_str());
    assert!(
        row["suspect"].as_str().unwrap().contains("older state"),
        "{row}"
    );

    let out = run_bounded(
        backup_cmd()
            .arg("--backup-dir")
            .arg(&dir)
            .args(["prune", "--keep-last", "1"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(dir.join(&newest_state).exists(), "{}", describe(&out));
    assert!(dir.join(&misnamed).exists(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(line_of(&stdout, &misnamed).contains("suspect"), "{stdout}");
}

/// Issue 13: odd files in the backup dir. A FIFO in place of a sidecar made `status`, `verify
/// --all` and `prune` hang for ever (prune holding the lock, so every later save failed); a
/// sidecar symlinked to /dev/zero was read until out of memory. Backups that are a FIFO or a
/// symlink to /dev/zero must not hang or run away either, and prune never deletes through a
/// symlink.
#[test]
fn odd_files_in_the_backup_dir_never_hang_or_exhaust_memory() {
    let (_t, dir) = backup_dir();
    let good = copy_as_taken_at(
        &templates().ours,
        &dir,
        Utc::now() - chrono::Duration::minutes(10),
    );
    let fifo_sidecar = name_ago(20, None);
    put_old(&dir, &fifo_sidecar);
    let mkfifo = |p: &Path| {
        let st = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success());
    };
    mkfifo(&dir.join(format!("{fifo_sidecar}.json")));
    let zero_sidecar = name_ago(30, None);
    put_old(&dir, &zero_sidecar);
    std::os::unix::fs::symlink("/dev/zero", dir.join(format!("{zero_sidecar}.json"))).unwrap();
    let fifo_backup = name_ago(40, None);
    mkfifo(&dir.join(&fifo_backup));
    let zero_backup = name_ago(50, None);
    std::os::unix::fs::symlink("/dev/zero", dir.join(&zero_backup)).unwrap();
    let huge_sidecar = name_ago(55, None);
    put_old(&dir, &huge_sidecar);
    fs::write(
        dir.join(format!("{huge_sidecar}.json")),
        vec![b' '; 3 << 20],
    )
    .unwrap();
    let old = name_ago(60 * 24 * 30, None);
    put_old(&dir, &old);

    let limit = Duration::from_secs(60);
    let in_dir = |args: &[&str]| {
        let mut c = backup_cmd();
        c.arg("--backup-dir").arg(&dir).args(args);
        c
    };

    let (code, doc) = status_json(&dir, &[]);
    assert_eq!(code, Some(0), "{doc:#}");
    let problem = |name: &str| {
        doc["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["file"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {doc:#}"))["problem"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(problem(&fifo_sidecar).contains("FIFO"), "{doc:#}");
    assert!(problem(&zero_sidecar).contains("symlink"), "{doc:#}");
    assert!(problem(&huge_sidecar).contains("larger than"), "{doc:#}");
    assert_eq!(doc["newest_good"], good.as_str());
    let out = run_bounded(&mut in_dir(&["status"]), limit);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = run_bounded(&mut in_dir(&["verify", "--all"]), limit);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("is a FIFO, not a regular file"), "{text}");
    assert!(text.contains("is a symlink"), "{text}");

    // Named on the command line, the odd backups themselves are refused, not waited on.
    for name in [&fifo_backup, &zero_backup] {
        let path = dir.join(name);
        let out = run_bounded(
            backup_cmd().arg("verify").arg(&path),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("not a regular file"),
            "{}",
            describe(&out)
        );
        let out = run_bounded(
            backup_cmd().arg("status").arg(&path),
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(
            stderr(&out).contains("not a regular file") && stderr(&out).contains(name.as_str()),
            "{}",
            describe(&out)
        );
    }

    let out = run_bounded(&mut in_dir(&["prune", "--keep-last", "1"]), limit);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let after = list_dir(&dir);
    for kept in [
        good.clone(),
        format!("{fifo_sidecar}.json"),
        format!("{zero_sidecar}.json"),
        fifo_backup.clone(),
        zero_backup.clone(),
    ] {
        assert!(after.contains(&kept), "{kept} deleted: {after:?}");
    }
    assert!(!after.contains(&old), "{after:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        line_of(&stdout, &fifo_backup).contains("not a regular file"),
        "{stdout}"
    );
    assert!(
        line_of(&stdout, &zero_backup).contains("symlink: never followed"),
        "{stdout}"
    );
    // The lock is free again: a later prune runs.
    let out = run_bounded(&mut in_dir(&["prune", "--dry-run"]), limit);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// Issue 13: one future-named backup kept `status --max-age 5h` green when the real backups were
/// 3 days old.
#[test]
fn skew_a_future_name_does_not_keep_max_age_green() {
    let (_t, dir) = backup_dir();
    let t = templates();
    copy_as_taken_at(&t.ours, &dir, Utc::now() - chrono::Duration::days(3));
    let future = copy_as_taken_at(&t.ours, &dir, Utc::now() + chrono::Duration::hours(6));
    let (code, doc) = status_json(&dir, &["--max-age", "5h"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["max_age_exceeded"], true, "{doc:#}");
    assert_ne!(doc["newest_good"], future.as_str(), "{doc:#}");
    assert!(
        doc["newest_good_age_seconds"].as_i64().unwrap() > 2 * 86_400,
        "{doc:#}"
    );
}
