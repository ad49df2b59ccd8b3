//! `inspect`, `export` and `diff` against the real etcd 3.4.23 and 3.5.1 (TLS): the oracle is
//! `etcdctl get -w json` (and `--count-only`) on the live etcd at the same revision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::checkers;
use crate::common::*;

/// An etcd client on the test's own runtime, for binary values, leases, txns and compaction.
struct Client {
    rt: tokio::runtime::Runtime,
    c: etcd_client::Client,
}

impl Client {
    fn connect(etcd: &Etcd) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = rt.block_on(async {
            let tls = etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(
                    std::fs::read(&etcd.pki.ca).unwrap(),
                ))
                .identity(etcd_client::Identity::from_pem(
                    std::fs::read(&etcd.pki.server_crt).unwrap(),
                    std::fs::read(&etcd.pki.server_key).unwrap(),
                ));
            let opts = etcd_client::ConnectOptions::new().with_tls(tls);
            etcd_client::Client::connect([&etcd.client_url], Some(opts))
                .await
                .unwrap()
        });
        Client { rt, c }
    }

    fn put(&mut self, k: &str, v: &[u8]) -> i64 {
        let r = self.rt.block_on(self.c.put(k, v.to_vec(), None)).unwrap();
        r.header().unwrap().revision()
    }

    fn put_leased(&mut self, k: &str, v: &[u8], lease: i64) {
        let opts = etcd_client::PutOptions::new().with_lease(lease);
        self.rt
            .block_on(self.c.put(k, v.to_vec(), Some(opts)))
            .unwrap();
    }

    fn lease(&mut self) -> i64 {
        self.rt
            .block_on(self.c.lease_grant(3600, None))
            .unwrap()
            .id()
    }

    fn del(&mut self, k: &str, prefix: bool) {
        let opts = prefix.then(|| etcd_client::DeleteOptions::new().with_prefix());
        self.rt.block_on(self.c.delete(k, opts)).unwrap();
    }

    fn txn(&mut self) {
        use etcd_client::{Txn, TxnOp};
        let t = Txn::new().and_then(vec![
            TxnOp::put("/txn/a", "1", None),
            TxnOp::put("/txn/b", "2", None),
            TxnOp::delete("/registry/configmaps/ns1/gone", None),
        ]);
        self.rt.block_on(self.c.txn(t)).unwrap();
    }

    fn compact(&mut self, rev: i64) {
        self.rt.block_on(self.c.compact(rev, None)).unwrap();
    }
}

/// `etcdctl get "" --prefix -w json [--rev R]`'s kvs.
fn dump(etcd: &Etcd, rev: Option<i64>) -> Vec<Value> {
    let mut args = vec![
        "get".to_string(),
        String::new(),
        "--prefix".into(),
        "-w".into(),
        "json".into(),
    ];
    if let Some(r) = rev {
        args.push(format!("--rev={r}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = etcd.ctl(&args);
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["kvs"].as_array().cloned().unwrap_or_default()
}

fn snapshot(etcd: &Etcd, path: &Path) {
    let out = etcd.ctl(&["snapshot", "save", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
}

fn run(args: &[&str]) -> std::process::Output {
    backup_cmd().args(args).output().unwrap()
}

fn export(file: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["export", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn key_of(kv: &Value) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(kv["key"].as_str().unwrap())
        .unwrap();
    String::from_utf8(raw).unwrap()
}

/// Kubernetes-shaped data, with leases, deletes, overwrites, a big value and a transaction.
/// Returns the revision before the compaction's point and the compacted revision.
fn load(c: &mut Client) -> (i64, i64) {
    let pb = |kind: &str| {
        let mut v = b"k8s\0\x0a\x0e\x0a\x02v1\x12".to_vec();
        v.extend_from_slice(kind.as_bytes());
        v.extend_from_slice(&[0x12, 0x04, 1, 2, 3, 0]);
        v
    };
    for i in 0..5 {
        c.put(&format!("/registry/pods/ns{}/p{i}", i % 2), &pb("Pod"));
    }
    c.put("/registry/deployments/ns1/web", &pb("Deployment"));
    c.put(
        "/registry/stable.example.com/crontabs/ns1/c1",
        br#"{"kind":"CronTab"}"#,
    );
    c.put(
        "/registry/secrets/ns1/s1",
        b"k8s:enc:aescbc:v1:key1:\x01\x02\xff\x00ciphertext",
    );
    c.put(
        "/registry/secrets/ns2/s2",
        b"k8s:enc:aescbc:v1:key1:\x09\x08",
    );
    c.put("/registry/configmaps/ns1/gone", b"k8s\0x");
    c.put("/registry/namespaces/ns1", &pb("Namespace"));
    let lease = c.lease();
    c.put_leased("/registry/leases/kube-node-lease/n1", &pb("Lease"), lease);
    c.put("/plain/empty", b"");
    let before = c.put("/registry/pods/ns0/p0", &pb("Pod2")); // overwrite
    c.put("/registry/pods/ns1/p1", &pb("Pod3"));
    c.del("/registry/pods/ns0/p2", false);
    let compacted = c.put("/registry/pods/ns1/p3", &pb("Pod4"));
    c.compact(compacted);
    c.txn();
    c.put("/big/one", &vec![7u8; 300 * 1024]);
    c.del("/plain/", true);
    c.put("/registry/pods/ns1/p1", &pb("Pod5"));
    (before, compacted)
}

fn check_release(dist: Dist) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&dist, &pki, dir.path());
    let mut c = Client::connect(&etcd);
    let (before, compacted) = load(&mut c);
    let snap1 = dir.path().join("one.db");
    snapshot(&etcd, &snap1);
    let dump1 = dump(&etcd, None);
    // At the compacted revision itself: etcd allows it (ErrCompacted is for R < it).
    let after_compaction = compacted;
    let dump_old = dump(&etcd, Some(after_compaction));
    check_export(
        &dist,
        dir.path(),
        &snap1,
        &dump1,
        &dump_old,
        before,
        after_compaction,
    );
    check_inspect(&dist, &etcd, &snap1, &dump1, &dump_old, compacted);
    check_diff(&dist, &etcd, &mut c, dir.path(), &snap1, &dump1);
}

/// export == etcdctl get "" --prefix -w json: plain, .zst, .zst.age through sealed runs,
/// --revision and --prefix, and the refused revisions.
fn check_export(
    dist: &Dist,
    dir: &Path,
    snap1: &Path,
    dump1: &[Value],
    dump_old: &[Value],
    before: i64,
    after_compaction: i64,
) {
    // export == etcdctl get "" --prefix -w json, key for key, also through a .zst layer.
    assert_eq!(export(snap1, &[]), dump1, "{}", dist.version);
    let zst = PathBuf::from(format!("{}.zst", snap1.display()));
    let z = std::process::Command::new("zstd")
        .args(["-q", "-f"])
        .arg(snap1)
        .arg("-o")
        .arg(&zst)
        .status()
        .unwrap();
    assert!(z.success());
    assert_eq!(export(&zst, &[]), dump1, "{} .zst", dist.version);
    // An encrypted one, with the sort going through sealed runs in the scratch dir.
    let (age_file, key) = encrypt(dir, &zst);
    let mut cmd = backup_cmd();
    cmd.env("ETCD_BACKUP_SORT_BUDGET", "2048")
        .env("TMPDIR", dir);
    let out = cmd
        .arg("export")
        .arg(&age_file)
        .arg("--identity")
        .arg(&key)
        .arg("-v")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("runs in scratch files"),
        "{}",
        describe(&out)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, dump1, "{} .zst.age through runs", dist.version);
    // --revision on history kept, and --prefix.
    let rev = after_compaction.to_string();
    assert_eq!(
        export(snap1, &["--revision", &rev]),
        dump_old,
        "{}",
        dist.version
    );
    let pods: Vec<Value> = dump1
        .iter()
        .filter(|kv| key_of(kv).starts_with("/registry/pods/"))
        .cloned()
        .collect();
    assert_eq!(export(snap1, &["--prefix", "/registry/pods/"]), pods);
    // Below the compacted revision: refused as etcd refuses it.
    let out = run(&[
        "export",
        snap1.to_str().unwrap(),
        "--revision",
        &before.to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("compacted"), "{}", describe(&out));
    let out = run(&["export", snap1.to_str().unwrap(), "--revision", "999999"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("future revision"),
        "{}",
        describe(&out)
    );
}

/// inspect's counts per resource prefix == etcd's own count, at the head and at an older
/// revision, and the per-resource figures of the Kubernetes-shaped keys.
fn check_inspect(
    dist: &Dist,
    etcd: &Etcd,
    snap1: &Path,
    dump1: &[Value],
    dump_old: &[Value],
    compacted: i64,
) {
    let after_compaction = compacted;
    let rev = after_compaction.to_string();
    // inspect: counts per resource prefix == etcdctl --count-only.
    let out = run(&["inspect", snap1.to_str().unwrap(), "-w", "json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["keys"]["live"].as_u64().unwrap() as usize, dump1.len());
    assert_eq!(doc["compact_revision"].as_i64(), Some(compacted));
    assert_eq!(doc["leases"].as_u64(), Some(1));
    let resources = doc["resources"].as_array().unwrap();
    let mut seen = 0;
    for r in resources {
        let prefix = r["prefix"].as_str().unwrap();
        if prefix.is_empty() {
            continue;
        }
        // etcd's own count of the range (3.4.23's etcdctl has no --count-only; the response's
        // `count` is the same number).
        let out = etcd.ctl(&["get", prefix, "--prefix", "--keys-only", "-w", "json"]);
        let live: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
        let count = live["count"].as_u64().unwrap_or(0); // omitempty
        assert_eq!(
            r["count"].as_u64(),
            Some(count),
            "{prefix} on {}",
            dist.version
        );
        seen += 1;
    }
    assert!(seen >= 7, "{resources:?}");
    let out = run(&[
        "inspect",
        snap1.to_str().unwrap(),
        "-w",
        "json",
        "--revision",
        &rev,
    ]);
    let old: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out)));
    assert_eq!(
        old["keys"]["live"].as_u64().unwrap() as usize,
        dump_old.len()
    );
    assert_eq!(old["revision"].as_i64(), Some(after_compaction));
    let find = |res: &str| {
        resources
            .iter()
            .find(|r| r["resource"] == res)
            .unwrap()
            .clone()
    };
    assert_eq!(find("secrets")["storage"]["encrypted:aescbc:v1:key1"], 2);
    assert_eq!(find("crontabs")["group"], "stable.example.com");
    assert_eq!(find("crontabs")["storage"]["json"], 1);
    assert_eq!(find("deployments")["group"], "apps");
    assert_eq!(find("pods")["namespaces"], 2);
    assert_eq!(find("pods")["storage"]["protobuf"], 4);
}

/// diff A B == the diff of two etcdctl dumps; diff A --live the same; the restore sentence.
fn check_diff(dist: &Dist, etcd: &Etcd, c: &mut Client, dir: &Path, snap1: &Path, dump1: &[Value]) {
    // diff A B == diff of the two etcdctl dumps; diff A --live the same.
    c.put("/registry/pods/ns9/new", b"k8s\0new");
    c.del("/registry/secrets/ns2/s2", false);
    c.put("/registry/pods/ns1/p1", b"k8s\0changed");
    c.put("/registry/pods/ns1/p3", b"k8s\0changed again");
    c.put("/registry/pods/ns1/p3", b"k8s\0changed again"); // same bytes: metadata only
    let snap2 = dir.join("two.db");
    snapshot(etcd, &snap2);
    let dump2 = dump(etcd, None);
    let expected = expected_changes(dump1, &dump2);
    assert_eq!(expected.len(), 4);
    let out = run(&[
        "diff",
        snap1.to_str().unwrap(),
        snap2.to_str().unwrap(),
        "-w",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(changes_of(&out.stdout), expected, "{}", dist.version);
    let mut live = save_cmd(etcd, dir);
    let out = live
        .args(["diff", snap1.to_str().unwrap(), "--live", "-w", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(changes_of(&out.stdout), expected, "{} --live", dist.version);
    let out = run(&["diff", snap2.to_str().unwrap(), snap2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = save_cmd(etcd, dir)
        .args(["diff", snap1.to_str().unwrap(), "--live"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("restoring A would remove 1 keys"),
        "{}",
        describe(&out)
    );
}

/// `age -r PUB` of `file` with a fresh `age-keygen` key: (the .age file, the identity file).
fn encrypt(dir: &Path, file: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("key.txt");
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = std::fs::read_to_string(&key).unwrap();
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    let age_file = PathBuf::from(format!("{}.age", file.display()));
    let out = std::process::Command::new("age")
        .args(["-r", public, "-o"])
        .arg(&age_file)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    (age_file, key)
}

fn expected_changes(a: &[Value], b: &[Value]) -> BTreeMap<String, String> {
    let index = |d: &[Value]| -> BTreeMap<String, Value> {
        d.iter().map(|kv| (key_of(kv), kv.clone())).collect()
    };
    let (a, b) = (index(a), index(b));
    let mut out = BTreeMap::new();
    for (k, v) in &a {
        match b.get(k) {
            None => {
                out.insert(k.clone(), "removed".to_string());
            }
            Some(w) if w != v => {
                out.insert(k.clone(), "changed".to_string());
            }
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.insert(k.clone(), "added".to_string());
    }
    out
}

fn changes_of(stdout: &[u8]) -> BTreeMap<String, String> {
    let doc: Value = serde_json::from_slice(stdout).unwrap();
    doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn inspect_export_diff_match_etcdctl_on_3_5_1() {
    check_release(v35());
}

#[test]
fn inspect_export_diff_match_etcdctl_on_3_4_23() {
    check_release(v34());
}

/// `export --decode` adds kubectl's JSON of each object (the upstream round-trip fixtures, written
/// by the real Go serializer, are the oracle), `--resource` filters, and `--manifests` writes
/// files that kubernetes-validate accepts, 0600, leaving out what only the API server can read.
#[test]
fn export_decodes_objects_and_writes_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path(), KeyKind::EcSec1);
    let etcd = Etcd::start(&v35(), &pki, dir.path());
    let mut c = Client::connect(&etcd);
    let fixtures = project_root().join("tests/fixtures/k8s");
    let fixture = |name: &str| -> (Vec<u8>, Value) {
        let pb = std::fs::read(fixtures.join(format!("{name}.pb"))).unwrap();
        let json = std::fs::read(fixtures.join(format!("{name}.json"))).unwrap();
        (pb, serde_json::from_slice(&json).unwrap())
    };
    let (pod_pb, pod_json) = fixture("core.v1.Pod");
    let (deploy_pb, deploy_json) = fixture("apps.v1.Deployment");
    c.put("/registry/pods/namespaceValue/nameValue", &pod_pb);
    c.put("/registry/deployments/namespaceValue/nameValue", &deploy_pb);
    c.put(
        "/registry/secrets/shop/sealed",
        b"k8s:enc:aescbc:v1:key1:\x01\x02\x03",
    );
    // Objects as a cluster holds them, stored as JSON (--storage-media-type=application/json).
    let live: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures.join("live-objects.json")).unwrap())
            .unwrap();
    for o in &live {
        let kind = o["kind"].as_str().unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        let key = match (kind, o["metadata"]["namespace"].as_str()) {
            ("Namespace", _) => format!("/registry/namespaces/{name}"),
            ("ClusterRole", _) => format!("/registry/clusterroles/{name}"),
            ("Deployment", Some(ns)) => format!("/registry/deployments/{ns}/{name}"),
            ("Lease", Some(ns)) => format!("/registry/leases/{ns}/{name}"),
            (_, Some(ns)) => format!("/registry/{}s/{ns}/{name}", kind.to_lowercase()),
            (_, None) => panic!("{kind} {name}: no namespace"),
        };
        c.put(&key, o.to_string().as_bytes());
    }
    let snap = dir.path().join("k8s.db");
    snapshot(&etcd, &snap);

    let lines = export(&snap, &["--decode"]);
    let by_key = |k: &str| -> &Value {
        lines
            .iter()
            .find(|l| key_of(l) == k)
            .unwrap_or_else(|| panic!("{k} not exported"))
    };
    let pod = by_key("/registry/pods/namespaceValue/nameValue");
    assert_eq!(pod["decoded"]["encoding"], "protobuf");
    assert_eq!(pod["decoded"]["object"], pod_json);
    // The etcdctl fields are all still there, first.
    assert!(
        pod["key"].is_string() && pod["mod_revision"].is_i64(),
        "{pod}"
    );
    let deploy = by_key("/registry/deployments/namespaceValue/nameValue");
    assert_eq!(deploy["decoded"]["object"], deploy_json);
    let sealed = by_key("/registry/secrets/shop/sealed");
    assert_eq!(sealed["decoded"]["encrypted"]["provider"], "aescbc");
    assert_eq!(sealed["decoded"]["encrypted"]["key"], "key1");
    assert_eq!(
        by_key("/registry/configmaps/shop/settings")["decoded"]["encoding"],
        "json"
    );

    let only = export(&snap, &["--resource", "deployments.apps"]);
    let keys: Vec<String> = only.iter().map(key_of).collect();
    assert_eq!(
        keys,
        [
            "/registry/deployments/namespaceValue/nameValue",
            "/registry/deployments/shop/api"
        ]
    );
    assert!(
        only[0].get("decoded").is_none(),
        "no --decode, no decoded field"
    );

    check_manifests(&snap, &dir.path().join("manifests"));
}

/// `export --manifests DIR --namespace shop` of the objects loaded above: the files, 0600,
/// server-set fields gone, accepted by kubernetes-validate; a second export into DIR refused.
fn check_manifests(snap: &Path, out_dir: &Path) {
    let out = run(&[
        "export",
        snap.to_str().unwrap(),
        "--manifests",
        out_dir.to_str().unwrap(),
        "--namespace",
        "shop",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("encrypted at rest (aescbc:key1)"), "{err}");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![out_dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(out_dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "configmap/shop/settings.yaml",
            "deployment.apps/shop/api.yaml",
            "namespace/_cluster/shop.yaml",
            "pod/shop/web-0.yaml",
            "secret/shop/db-credentials.yaml",
            "service/shop/web.yaml",
        ],
        "{}",
        describe(&out)
    );
    use std::os::unix::fs::PermissionsExt;
    for f in &files {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !text.contains("resourceVersion") && !text.contains("managedFields"),
            "{text}"
        );
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    checkers::kubernetes_validate(&refs, &["1.28", "latest"]).unwrap();
    // A second export never mixes into (or replaces) the first one's files.
    let again = run(&[
        "export",
        snap.to_str().unwrap(),
        "--manifests",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        describe(&again)
    );
}
