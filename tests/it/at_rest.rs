//! Protection at rest against real etcd 3.5.1: `save --compress zstd --encrypt-to`, the DR
//! bundle, and every command reading `.db.zst.age` files. Upstream etcdutl judges the snapshot
//! inside; the age and zstd crates (standard formats) take the files apart independently.

use crate::common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An age key pair made by the real `age-keygen` (Debian's age 1.1.1).
struct Key {
    identity: age::x25519::Identity,
    file: PathBuf,
    public: String,
}

fn keygen(dir: &Path, name: &str) -> Key {
    let file = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let secret = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    Key {
        identity: age::x25519::Identity::from_str(secret).unwrap(),
        file,
        public,
    }
}

/// `age -d -i KEY FILE [| zstd -d]` with the reference tools.
fn reference_open(path: &Path, key: &Key) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(if path.to_str().unwrap().contains(".zst") {
            "age -d -i \"$1\" \"$2\" | zstd -d -q -c"
        } else {
            "age -d -i \"$1\" \"$2\""
        })
        .arg("sh")
        .arg(&key.file)
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    out.stdout
}

/// Decrypts (and decompresses) a stored file with the age and zstd crates directly.
fn open_layers(path: &Path, key: &Key) -> Vec<u8> {
    let f = fs::File::open(path).unwrap();
    let d = age::Decryptor::new_buffered(std::io::BufReader::new(f)).unwrap();
    let mut r = d
        .decrypt(std::iter::once(&key.identity as &dyn age::Identity))
        .unwrap();
    let mut out = Vec::new();
    if path.to_str().unwrap().contains(".zst") {
        zstd::Decoder::new(r)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
    } else {
        r.read_to_end(&mut out).unwrap();
    }
    out
}

fn etcdutl_status(dist: &Dist, file: &Path) -> Value {
    let out = Command::new(dist.etcdutl.as_ref().unwrap())
        .args(["snapshot", "status", "-w", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Fixture {
    tmp: tempfile::TempDir,
    etcd: Etcd,
    dist: Dist,
    backups: PathBuf,
    key: Key,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dist = v35();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    etcd.put_bulk(200, 4096);
    let out = etcd.ctl(&[
        "put",
        "/registry/secrets/kube-system/marker",
        "TOP-SECRET-VALUE",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let backups = tmp.path().join("backups");
    let key = keygen(tmp.path(), "key.txt");
    Fixture {
        dist,
        etcd,
        backups,
        key,
        tmp,
    }
}

fn saved_path(out: &std::process::Output) -> PathBuf {
    assert!(out.status.success(), "{}", describe(out));
    PathBuf::from(String::from_utf8(out.stdout.clone()).unwrap().trim_end())
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encrypted_compressed_save_round_trips_through_every_command() {
    let f = fixture();
    let out = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--compress", "zstd", "--encrypt-to", &f.key.public])
        .output()
        .unwrap();
    let path = saved_path(&out);
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with(".db.zst.age"), "{name}");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Only the encrypted file and its sidecar: no plaintext copy, no temp file left.
    assert_eq!(
        list_dir(&f.backups)
            .into_iter()
            .filter(|n| !n.starts_with(".etcd-backup.lock"))
            .collect::<Vec<_>>(),
        vec![name.clone(), format!("{name}.json")]
    );
    let stored = fs::read(&path).unwrap();
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert!(!find(&stored, b"TOP-SECRET-VALUE"));

    let plain = check_layers_and_sidecar(&f, &path, &stored);
    let plain_path = status_matches_etcdutl(&f, &path, &plain);
    verify_and_status_with_and_without_keys(&f, &path);
    restore_matches_the_plain_snapshot(&f, &path, &plain_path);
}

/// The sidecar describes both the stored file and the snapshot inside, which the age and zstd
/// crates and the reference tools open alike. Returns the plain snapshot.
fn check_layers_and_sidecar(f: &Fixture, path: &Path, stored: &[u8]) -> Vec<u8> {
    let sc = sidecar_of(path);
    assert_eq!(sc["layers"], "zstd+age");
    assert_eq!(sc["recipients"], serde_json::json!([f.key.public]));
    assert_eq!(sc["file_size"], stored.len() as u64);
    assert_eq!(sc["sha256"], hex::encode(Sha256::digest(stored)));
    let plain = open_layers(path, &f.key);
    assert!(find(&plain, b"TOP-SECRET-VALUE"));
    assert!(reference_open(path, &f.key) == plain, "age | zstd disagree");
    assert_eq!(sc["snapshot_sha256"], hex::encode(Sha256::digest(&plain)));
    assert_eq!(sc["snapshot_db_size"], (plain.len() - 32) as u64);
    assert_eq!(
        plain[plain.len() - 32..],
        Sha256::digest(&plain[..plain.len() - 32])[..]
    );
    plain
}

/// etcdutl reads the snapshot inside; our status on the encrypted file says the same. Returns
/// the path of the plain snapshot, written for etcdutl.
fn status_matches_etcdutl(f: &Fixture, path: &Path, plain: &[u8]) -> PathBuf {
    let sc = sidecar_of(path);
    let plain_path = f.tmp.path().join("plain.db");
    fs::write(&plain_path, plain).unwrap();
    let upstream = etcdutl_status(&f.dist, &plain_path);
    let ours = backup_cmd()
        .args(["-w", "json", "status"])
        .arg(path)
        .arg("--identity")
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert!(ours.status.success(), "{}", describe(&ours));
    assert_eq!(
        serde_json::from_slice::<Value>(&ours.stdout).unwrap(),
        upstream
    );
    assert_eq!(sc["revision"], upstream["revision"]);
    plain_path
}

/// verify in full with the identity and by checksum without it; status without a key, a wrong
/// key and a key file others can read are clean errors.
fn verify_and_status_with_and_without_keys(f: &Fixture, path: &Path) {
    // verify: in full with the identity, by checksum without it.
    let full = backup_cmd()
        .arg("verify")
        .arg(path)
        .arg("--identity")
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert!(full.status.success(), "{}", describe(&full));
    assert!(String::from_utf8_lossy(&full.stdout).contains("sha256 and sidecar match"));
    let sealed = backup_cmd().arg("verify").arg(path).output().unwrap();
    assert!(sealed.status.success(), "{}", describe(&sealed));
    assert!(
        String::from_utf8_lossy(&sealed.stdout).contains("not opened (no --identity)"),
        "{}",
        describe(&sealed)
    );
    // status FILE without a key says what to do.
    let nokey = backup_cmd().arg("status").arg(path).output().unwrap();
    assert_eq!(nokey.status.code(), Some(2), "{}", describe(&nokey));
    assert!(
        stderr(&nokey).contains("--identity"),
        "{}",
        describe(&nokey)
    );

    // A wrong identity fails cleanly (exit 2), naming the file and never printing the key.
    let other = keygen(f.tmp.path(), "other.txt");
    let wrong = backup_cmd()
        .arg("verify")
        .arg(path)
        .arg("--identity")
        .arg(&other.file)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2), "{}", describe(&wrong));
    let text = stderr(&wrong);
    assert!(text.contains("none of the --identity keys"), "{text}");
    assert!(!text.contains("AGE-SECRET-KEY"), "{text}");

    // An identity file others can read is refused before it is used.
    fs::set_permissions(&f.key.file, fs::Permissions::from_mode(0o644)).unwrap();
    let loose = backup_cmd()
        .arg("verify")
        .arg(path)
        .arg("--identity")
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert_eq!(loose.status.code(), Some(2), "{}", describe(&loose));
    assert!(stderr(&loose).contains("chmod 600"), "{}", describe(&loose));
    fs::set_permissions(&f.key.file, fs::Permissions::from_mode(0o600)).unwrap();
}

/// restore --output-dir from the encrypted file builds the same data dir as from the plain
/// snapshot, and leaves no plaintext copy behind.
fn restore_matches_the_plain_snapshot(f: &Fixture, path: &Path, plain_path: &Path) {
    let from_age = f.tmp.path().join("restored-age");
    let from_plain = f.tmp.path().join("restored-plain");
    let r1 = backup_cmd()
        .arg("restore")
        .arg(path)
        .arg("--output-dir")
        .arg(&from_age)
        .arg("--identity")
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert!(r1.status.success(), "{}", describe(&r1));
    let r2 = backup_cmd()
        .arg("restore")
        .arg(plain_path)
        .arg("--output-dir")
        .arg(&from_plain)
        .output()
        .unwrap();
    assert!(r2.status.success(), "{}", describe(&r2));
    for rel in [
        "member/snap/db",
        "member/wal/0000000000000000-0000000000000000.wal",
    ] {
        assert!(
            fs::read(from_age.join(rel)).unwrap() == fs::read(from_plain.join(rel)).unwrap(),
            "{rel} differs"
        );
    }
    let leftovers: Vec<String> = list_dir(f.tmp.path())
        .into_iter()
        .filter(|n| n.starts_with(".etcd-backup-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The sidecar of the backup at `path`.
fn sidecar_of(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(format!("{}.json", path.display())).unwrap()).unwrap()
}

#[test]
fn tampering_is_found_with_and_without_the_key() {
    let f = fixture();
    let out = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--encrypt-to", &f.key.public])
        .output()
        .unwrap();
    let path = saved_path(&out);
    assert!(path.to_str().unwrap().ends_with(".db.age"));
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    for with_key in [true, false] {
        let mut cmd = backup_cmd();
        cmd.arg("verify").arg(&path);
        if with_key {
            cmd.arg("--identity").arg(&f.key.file);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("BAD"), "{text}");
    }
    // restore refuses it and leaves nothing behind.
    let dir = f.tmp.path().join("restored");
    let out = backup_cmd()
        .arg("restore")
        .arg(&path)
        .arg("--output-dir")
        .arg(&dir)
        .arg("--identity")
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!dir.exists());
    assert!(list_dir(f.tmp.path())
        .iter()
        .all(|n| !n.starts_with(".etcd-backup-restore")));
}

#[test]
fn compressed_only_files_are_read_by_the_zstd_tool() {
    let f = fixture();
    let out = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--compress", "zstd"])
        .output()
        .unwrap();
    let path = saved_path(&out);
    assert!(path.to_str().unwrap().ends_with(".db.zst"));
    let plain = f.tmp.path().join("plain.db");
    let z = Command::new("zstd")
        .arg("-q")
        .arg("-d")
        .arg(&path)
        .arg("-o")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(z.status.success(), "{}", describe(&z));
    let sc: Value =
        serde_json::from_slice(&fs::read(format!("{}.json", path.display())).unwrap()).unwrap();
    assert_eq!(
        sc["snapshot_sha256"],
        hex::encode(Sha256::digest(fs::read(&plain).unwrap()))
    );
    let ours = backup_cmd()
        .args(["-w", "json", "status"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(ours.status.success(), "{}", describe(&ours));
    assert_eq!(
        serde_json::from_slice::<Value>(&ours.stdout).unwrap(),
        etcdutl_status(&f.dist, &plain)
    );
    let v = backup_cmd()
        .arg("verify")
        .arg("--latest")
        .arg("--backup-dir")
        .arg(&f.backups)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", describe(&v));
}

/// A kubeadm-like /etc/kubernetes and /var/lib/kubelet under `root`.
fn kubeadm_tree(root: &Path) -> (PathBuf, PathBuf) {
    let k8s = root.join("etc/kubernetes");
    let kubelet = root.join("var/lib/kubelet");
    for d in ["pki/etcd", "manifests"] {
        fs::create_dir_all(k8s.join(d)).unwrap();
    }
    fs::create_dir_all(&kubelet).unwrap();
    fs::write(k8s.join("pki/ca.key"), "CA-PRIVATE-KEY").unwrap();
    fs::set_permissions(k8s.join("pki/ca.key"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(k8s.join("pki/ca.crt"), "ca cert").unwrap();
    fs::write(k8s.join("pki/etcd/ca.key"), "ETCD-CA-KEY").unwrap();
    fs::write(k8s.join("manifests/etcd.yaml"), "kind: Pod\n").unwrap();
    fs::write(k8s.join("admin.conf"), "kubeconfig").unwrap();
    fs::write(kubelet.join("config.yaml"), "kind: KubeletConfiguration\n").unwrap();
    (k8s, kubelet)
}

#[test]
fn dr_bundle_is_encrypted_saved_and_pruned_with_its_snapshot() {
    let f = fixture();
    let (k8s, kubelet) = kubeadm_tree(&f.tmp.path().join("node"));
    let save = |label: &str| {
        let out = save_cmd(&f.etcd, &f.backups)
            .args(["save", "--compress", "zstd", "--with-pki", "--label", label])
            .arg("--encrypt-to")
            .arg(&f.key.public)
            .arg("--kubernetes-dir")
            .arg(&k8s)
            .arg("--kubelet-dir")
            .arg(&kubelet)
            .output()
            .unwrap();
        saved_path(&out)
    };
    let first = save("one");
    let name = first.file_name().unwrap().to_str().unwrap();
    let bundle_name = name.replace(".db.zst.age", "-pki.tar.zst.age");
    let bundle = f.backups.join(&bundle_name);
    let stored = fs::read(&bundle).unwrap();
    assert!(!find(&stored, b"CA-PRIVATE-KEY"));
    assert_eq!(
        fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let sc: Value =
        serde_json::from_slice(&fs::read(format!("{}.json", first.display())).unwrap()).unwrap();
    assert_eq!(sc["pki_bundle"]["file"], bundle_name);
    assert_eq!(
        sc["pki_bundle"]["sha256"],
        hex::encode(Sha256::digest(&stored))
    );
    // GNU tar lists what the standard tools decrypt.
    let tar = reference_open(&bundle, &f.key);
    let tar_path = f.tmp.path().join("bundle.tar");
    fs::write(&tar_path, tar).unwrap();
    let list = Command::new("tar")
        .arg("-tf")
        .arg(&tar_path)
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", describe(&list));
    let list = String::from_utf8_lossy(&list.stdout);
    for p in [
        "etc/kubernetes/pki/ca.key",
        "etc/kubernetes/pki/etcd/ca.key",
        "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/admin.conf",
        "var/lib/kubelet/config.yaml",
    ] {
        assert!(list.lines().any(|l| l == p), "{p} missing from:\n{list}");
    }

    // A second backup; pruning to the newest one removes the first with its sidecar and bundle.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = save("two");
    let out = backup_cmd()
        .arg("--backup-dir")
        .arg(&f.backups)
        .args(["prune", "--keep-last", "1", "--prune-labeled"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let left = list_dir(&f.backups);
    let second_name = second.file_name().unwrap().to_str().unwrap();
    assert!(left.iter().all(|n| !n.contains("_one")), "{left:?}");
    assert!(left.contains(&second_name.to_string()), "{left:?}");
    assert!(
        left.contains(&second_name.replace(".db.zst.age", "-pki.tar.zst.age")),
        "{left:?}"
    );

    // Without a pki dir, --with-pki refuses before touching etcd.
    let out = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--with-pki", "--kubernetes-dir"])
        .arg(f.tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("not a kubeadm node"),
        "{}",
        describe(&out)
    );
}

#[test]
fn recipients_are_checked_before_anything_is_written() {
    let f = fixture();
    let secret_as_recipient = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--encrypt-to"])
        .arg(&f.key.file)
        .output()
        .unwrap();
    assert_eq!(secret_as_recipient.status.code(), Some(2));
    let text = stderr(&secret_as_recipient);
    assert!(text.contains("age-keygen -y"), "{text}");
    assert!(!text.contains("AGE-SECRET-KEY-1"), "{text}");
    let bad = save_cmd(&f.etcd, &f.backups)
        .args(["save", "--encrypt-to", "age1notakey"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(finished_looking(&f.backups).is_empty());
    let r = age::x25519::Recipient::from_str(&f.key.public);
    assert!(r.is_ok());
}
