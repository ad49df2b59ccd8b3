//! `tests/fixtures/k8s/live-objects.json` holds objects as `kubectl get -o json` shows them on a
//! cluster (server-set fields, status, managedFields, last-applied annotations), and a ConfigMap of
//! strings that YAML 1.1 readers (kubectl's go-yaml, PyYAML) take for something else unquoted.
//! The judges are real: kubernetes-validate (strict: an unknown field fails) and PyYAML, which
//! must read each file back to exactly the stripped object.

use super::*;
use crate::k8s::decode::{decode, Decoded};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn live_objects() -> Vec<Value> {
    let path = root().join("tests/fixtures/k8s/live-objects.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn by_kind(kind: &str) -> Value {
    live_objects()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap()
}

#[test]
fn paths_by_kind_group_namespace_and_name() {
    let paths: Vec<String> = live_objects()
        .iter()
        .map(|o| manifest(o).unwrap().path.display().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "namespace/_cluster/shop.yaml",
            "pod/shop/web-0.yaml",
            "deployment.apps/shop/api.yaml",
            "secret/shop/db-credentials.yaml",
            "configmap/shop/settings.yaml",
            "service/shop/web.yaml",
            "lease.coordination.k8s.io/kube-system/kube-controller-manager.yaml",
            "clusterrole.rbac.authorization.k8s.io/_cluster/system:controller:shop-operator.yaml",
        ]
    );
}

#[test]
fn server_set_fields_and_status_are_stripped_the_rest_kept() {
    let m = manifest(&by_kind("Deployment")).unwrap();
    let meta = m.object["metadata"].as_object().unwrap();
    assert_eq!(
        meta.keys().collect::<Vec<_>>(),
        ["name", "namespace", "labels", "annotations"]
    );
    assert_eq!(
        m.object["metadata"]["annotations"],
        serde_json::json!({"deployment.kubernetes.io/revision": "3"})
    );
    assert!(m.object.get("status").is_none());
    assert_eq!(m.object["spec"], by_kind("Deployment")["spec"]);
    // Only last-applied was annotated: no empty `annotations: {}` left behind.
    let secret = manifest(&by_kind("Secret")).unwrap();
    assert!(secret.object["metadata"].get("annotations").is_none());
    assert!(!secret.yaml.contains("last-applied"));
    // Kept on purpose (module doc): owner references and allocations.
    let pod = manifest(&by_kind("Pod")).unwrap();
    assert_eq!(
        pod.object["metadata"]["ownerReferences"][0]["kind"],
        "StatefulSet"
    );
    assert_eq!(pod.object["spec"]["nodeName"], "cp1");
}

#[test]
fn objects_that_cannot_be_files_are_refused() {
    let mut o = by_kind("ConfigMap");
    for (name, what) in [("../../etc/cron.d/x", "name"), ("..", "name"), ("", "name")] {
        o["metadata"]["name"] = name.into();
        assert_eq!(
            manifest(&o),
            Err(ManifestError::UnsafeName {
                what,
                value: name.into()
            })
        );
    }
    o["metadata"]["name"] = "ok".into();
    o["metadata"]["namespace"] = "a/b".into();
    assert!(matches!(
        manifest(&o),
        Err(ManifestError::UnsafeName {
            what: "namespace",
            ..
        })
    ));
    o["kind"] = "..".into();
    assert!(matches!(
        manifest(&o),
        Err(ManifestError::UnsafeName { what: "kind", .. })
    ));
    o["metadata"] = Value::Null;
    assert_eq!(manifest(&o), Err(ManifestError::Missing("metadata")));
    assert_eq!(
        manifest(&Value::Null),
        Err(ManifestError::Missing("fields"))
    );
}

#[test]
fn filters() {
    let pod = ObjectRef {
        group: "",
        resource: "pods",
        kind: "Pod",
        namespace: Some("shop"),
        name: "web-0",
    };
    let deploy = ObjectRef {
        group: "apps",
        resource: "deployments",
        kind: "Deployment",
        namespace: Some("shop"),
        name: "api",
    };
    let ns = ObjectRef {
        group: "",
        resource: "namespaces",
        kind: "Namespace",
        namespace: None,
        name: "shop",
    };
    let role = ObjectRef {
        group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
        kind: "ClusterRole",
        namespace: None,
        name: "shop",
    };
    let f = |ns: Option<&str>, r: Option<&str>, n: Option<&str>| Filter {
        namespace: ns.map(Into::into),
        resource: r.map(Into::into),
        name: n.map(Into::into),
    };
    let all = [pod, deploy, ns, role];
    let pick = |filter: Filter| {
        all.iter()
            .filter(|o| filter.matches(o))
            .map(|o| o.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pick(Filter::default()),
        ["Pod", "Deployment", "Namespace", "ClusterRole"]
    );
    assert_eq!(
        pick(f(Some("shop"), None, None)),
        ["Pod", "Deployment", "Namespace"]
    );
    assert_eq!(pick(f(Some("other"), None, None)), Vec::<&str>::new());
    for r in ["pods", "Pod", "pod", "PODS"] {
        assert_eq!(pick(f(None, Some(r), None)), ["Pod"], "{r}");
    }
    assert_eq!(
        pick(f(None, Some("deployments.apps"), None)),
        ["Deployment"]
    );
    assert_eq!(
        pick(f(None, Some("deployments.extensions"), None)),
        Vec::<&str>::new()
    );
    assert_eq!(
        pick(f(None, None, Some("shop"))),
        ["Namespace", "ClusterRole"]
    );
    assert_eq!(pick(f(Some("shop"), Some("pods"), Some("web-0"))), ["Pod"]);
}

#[test]
fn written_atomically_private_and_never_over_a_file_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("manifests");
    let m = manifest(&by_kind("Secret")).unwrap();
    let path = write(&out, &m, false).unwrap();
    assert_eq!(path, out.join("secret/shop/db-credentials.yaml"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), m.yaml);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    for d in [&out, &out.join("secret"), &out.join("secret/shop")] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    assert!(matches!(
        write(&out, &m, false),
        Err(FsError::Exists { .. })
    ));
    write(&out, &m, true).unwrap();
    let names: Vec<_> = std::fs::read_dir(out.join("secret/shop"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["db-credentials.yaml"], "no temp file left");
}

/// Upstream's protobuf fixtures, decoded: each becomes a manifest at its path without server
/// fields (the values are upstream's fuzz fillers, so no schema check here).
#[test]
fn decoded_protobuf_objects_become_manifests() {
    let pb = std::fs::read(root().join("tests/fixtures/k8s/apps.v1.Deployment.pb")).unwrap();
    let Decoded::Object { object, .. } = decode(&pb) else {
        panic!()
    };
    let m = manifest(&object).unwrap();
    assert_eq!(
        m.path,
        PathBuf::from("deployment.apps/namespaceValue/nameValue.yaml")
    );
    let meta = m.object["metadata"].as_object().unwrap();
    for gone in SERVER_SET {
        assert!(
            object["metadata"].get(gone).is_some() && !meta.contains_key(gone),
            "{gone}"
        );
    }
    assert!(object.get("status").is_some() && m.object.get("status").is_none());
}

fn venv_python() -> PathBuf {
    let python = root().join(".deps/venv-k8s/bin/python");
    assert!(
        python.exists(),
        "{} (the kubernetes-validate venv) is missing: run scripts/install-deps.sh",
        python.display()
    );
    python
}

/// The real checkers: kubernetes-validate, strict, for the newest Kubernetes it knows and 1.28;
/// PyYAML (YAML 1.1, as kubectl's go-yaml) reads every file back to exactly the object.
#[test]
fn manifests_pass_kubernetes_validate_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for object in live_objects() {
        let m = manifest(&object).unwrap();
        files.push((write(dir.path(), &m, false).unwrap(), m.object));
    }
    let out = Command::new(venv_python())
        .arg(root().join("tests/tools/k8s_validate.py"))
        .args(["--version", "latest", "--version", "1.28"])
        .args(files.iter().map(|f| &f.0))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains(&format!("{} passed, 0 failed", 2 * files.len())),
        "{report}"
    );

    let read_back = "import json, sys, yaml\n\
        print(json.dumps([yaml.safe_load(open(p)) for p in sys.argv[1:]]))";
    let out = Command::new(venv_python())
        .args(["-c", read_back])
        .args(files.iter().map(|f| &f.0))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    for ((path, want), got) in files.iter().zip(got) {
        assert_eq!(&got, want, "{}", path.display());
    }
}

#[test]
#[ignore = "prints the manifests, for a person to read"]
fn show() {
    for o in live_objects() {
        let m = manifest(&o).unwrap();
        eprintln!("--- {}\n{}", m.path.display(), m.yaml);
    }
}
