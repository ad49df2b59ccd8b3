//! Reading kubeadm's etcd static pod manifest (`/etc/kubernetes/manifests/etcd.yaml`).
//!
//! kubeadm (`cmd/kubeadm/app/phases/etcd/local.go`) writes a Pod whose `etcd` container runs
//! `etcd --flag=value ...` (flags sorted), with hostPath volumes mounted at the same paths. We read
//! the flags and map container paths back to host paths through the volumes, so a manifest that
//! mounts `/mnt/etcd` at `/var/lib/etcd` is still read right.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// A manifest that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use kubeadm etcd manifest {path}: {reason}")]
pub(crate) struct ManifestError {
    pub path: PathBuf,
    pub reason: String,
}

/// What the etcd static pod says, with paths already mapped to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EtcdManifest {
    pub path: PathBuf,
    /// Every `--flag` of the etcd command, value as written (`"true"` for bare flags).
    pub flags: BTreeMap<String, String>,
    /// container mount path → host path, from `volumeMounts` and `hostPath` volumes.
    mounts: Vec<(PathBuf, PathBuf)>,
    /// The etcd container's `image` (`registry.k8s.io/etcd:3.5.15-0`).
    pub image: Option<String>,
}

/// The etcd (or Kubernetes) version in an image reference's tag: `registry.k8s.io/etcd:3.5.15-0`
/// and `gcr.io/etcd-development/etcd:v3.6.0` give (3, 5, 15) and (3, 6, 0). `None` for a digest
/// (`…@sha256:…`) or a tag that does not start with a version.
pub(crate) fn image_version(image: &str) -> Option<(u64, u64, u64)> {
    if image.contains('@') {
        return None;
    }
    let tag = image_tag(image)?;
    semver_prefix(tag.strip_prefix('v').unwrap_or(tag))
}

/// The tag of an image reference (`v1.28.0` of `registry.k8s.io/kube-apiserver:v1.28.0`; a
/// registry's port is not a tag).
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next()?;
    last.split_once(':').map(|(_, tag)| tag)
}

/// `X.Y.Z` at the start of `s` (anything after Z, such as `-0` or `-rc.1`, is ignored).
pub(crate) fn semver_prefix(s: &str) -> Option<(u64, u64, u64)> {
    let mut parts = s.splitn(3, '.');
    let num = |p: &str| -> Option<u64> {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let major = num(parts.next()?)?;
    let minor = num(parts.next()?)?;
    let patch = num(parts.next()?)?;
    Some((major, minor, patch))
}

impl EtcdManifest {
    /// Loads `path`. A missing file is not an error (this is not a kubeadm node): `Ok(None)`.
    pub(crate) fn load(path: &Path) -> Result<Option<EtcdManifest>, ManifestError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ManifestError {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        };
        Self::parse(path, &text).map(Some)
    }

    /// Parses manifest text; `path` is only used in messages.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<EtcdManifest, ManifestError> {
        Self::parse_pod(path, text, "etcd")
    }

    /// Reads another static pod of the node the same way: the container named `name` (or whose
    /// command is `name`), its flags, mounts and image (`kube-apiserver.yaml`).
    pub(crate) fn load_pod(path: &Path, name: &str) -> Result<Option<EtcdManifest>, ManifestError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_pod(path, &text, name).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ManifestError {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    fn parse_pod(path: &Path, text: &str, name: &str) -> Result<EtcdManifest, ManifestError> {
        let err = |reason: String| ManifestError {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Value =
            serde_norway::from_str(text).map_err(|e| err(format!("not valid YAML: {e}")))?;
        match doc.get("kind").and_then(Value::as_str) {
            Some("Pod") => {}
            Some(other) => return Err(err(format!("kind is {other:?}, expected \"Pod\""))),
            None => return Err(err("no `kind: Pod`".to_string())),
        }
        let spec = doc
            .get("spec")
            .ok_or_else(|| err("no `spec`".to_string()))?;
        let containers = spec
            .get("containers")
            .and_then(Value::as_sequence)
            .ok_or_else(|| err("no `spec.containers` list".to_string()))?;
        let words = |c: &Value, field: &str| -> Result<Vec<String>, ManifestError> {
            match c.get(field) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Sequence(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(err(format!("`{field}` holds a non-string: {other:?}"))),
                    })
                    .collect(),
                Some(_) => Err(err(format!("`{field}` is not a list"))),
            }
        };
        let is_it = |c: &&Value| {
            c.get("name").and_then(Value::as_str) == Some(name)
                || c.get("command")
                    .and_then(Value::as_sequence)
                    .and_then(|s| s.first())
                    .and_then(Value::as_str)
                    .is_some_and(|cmd| {
                        cmd == name || cmd.strip_suffix(name).is_some_and(|d| d.ends_with('/'))
                    })
        };
        let container = containers
            .iter()
            .find(is_it)
            .ok_or_else(|| err(format!("no container named {name}")))?;
        let mut argv = words(container, "command")?;
        argv.extend(words(container, "args")?);
        let flags = parse_flags(&argv);
        if flags.is_empty() {
            return Err(err(format!(
                "the {name} container has no --flags in command/args"
            )));
        }

        let host_paths: BTreeMap<String, PathBuf> = spec
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let name = v.get("name")?.as_str()?;
                let host = v.get("hostPath")?.get("path")?.as_str()?;
                Some((name.to_string(), PathBuf::from(host)))
            })
            .collect();
        let mounts = container
            .get("volumeMounts")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let name = m.get("name")?.as_str()?;
                let at = m.get("mountPath")?.as_str()?;
                Some((PathBuf::from(at), host_paths.get(name)?.clone()))
            })
            .collect();
        let image = container
            .get("image")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(EtcdManifest {
            path: path.to_path_buf(),
            flags,
            mounts,
            image,
        })
    }

    pub(crate) fn flag(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    /// A path flag mapped from the container to the host.
    pub(crate) fn host_path_flag(&self, name: &str) -> Option<PathBuf> {
        self.flag(name).map(|p| self.to_host(Path::new(p)))
    }

    /// Maps a path inside the etcd container to the host through the longest matching mount.
    pub(crate) fn to_host(&self, inside: &Path) -> PathBuf {
        let best = self
            .mounts
            .iter()
            .filter(|(at, _)| inside.starts_with(at))
            .max_by_key(|(at, _)| at.components().count());
        match best {
            Some((at, host)) => match inside.strip_prefix(at) {
                Ok(rest) if rest.as_os_str().is_empty() => host.clone(),
                Ok(rest) => host.join(rest),
                Err(_) => inside.to_path_buf(),
            },
            None => inside.to_path_buf(),
        }
    }

    /// The URL a client on this node should use: a loopback URL etcd listens on, else the
    /// advertised client URL. A wildcard listen address is reached through 127.0.0.1.
    pub(crate) fn client_url(&self) -> Option<String> {
        let list = |flag| -> Vec<String> {
            self.flag(flag)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let listen: Vec<String> = list("listen-client-urls")
            .into_iter()
            .map(|u| {
                u.replace("://0.0.0.0:", "://127.0.0.1:")
                    .replace("://[::]:", "://[::1]:")
            })
            .collect();
        listen
            .iter()
            .find(|u| is_loopback_url(u))
            .cloned()
            .or_else(|| list("advertise-client-urls").into_iter().next())
            .or_else(|| listen.into_iter().next())
    }
}

/// The manifest text with each `(flag, value)` set in etcd's command list: an item
/// `- --flag=value` that exists is replaced in place, a missing one is added after the last
/// flag item with the same indentation. Everything else is kept byte for byte. `Err` when the
/// text has no `- --…` items to anchor on.
pub(crate) fn set_flags(text: &str, set: &[(&str, &str)]) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let item = |l: &str| -> Option<(usize, String)> {
        let t = l.trim_start();
        let rest = t.strip_prefix("- ")?.trim_start();
        let rest = rest.trim_matches(|c| c == '"' || c == '\'');
        let name = rest.strip_prefix("--")?.split('=').next()?.to_string();
        Some((l.len() - t.len(), name))
    };
    for (flag, value) in set {
        let at = lines
            .iter()
            .position(|l| item(l).is_some_and(|(_, n)| n == *flag));
        let last = lines.iter().rposition(|l| item(l).is_some());
        match (at, last) {
            (Some(i), _) => {
                let indent = item(&lines[i]).map_or(0, |(n, _)| n);
                lines[i] = format!("{}- --{flag}={value}", " ".repeat(indent));
            }
            (None, Some(i)) => {
                let indent = item(&lines[i]).map_or(0, |(n, _)| n);
                lines.insert(i + 1, format!("{}- --{flag}={value}", " ".repeat(indent)));
            }
            (None, None) => return Err("it has no `- --flag=value` items in its command".into()),
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.starts_with("127.") || rest.starts_with("localhost:") || rest.starts_with("[::1]:")
}

/// `--a=b`, `--a b` and bare `--a` (value "true"); Go's flag package also takes `-a`.
fn parse_flags(argv: &[String]) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::new();
    let mut i = 0;
    while i < argv.len() {
        let word = &argv[i];
        i += 1;
        let Some(name) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        match name.split_once('=') {
            Some((k, v)) => {
                flags.insert(k.to_string(), v.to_string());
            }
            None => {
                let value = match argv.get(i) {
                    Some(next) if !next.starts_with('-') => {
                        i += 1;
                        next.clone()
                    }
                    _ => "true".to_string(),
                };
                flags.insert(name.to_string(), value);
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape kubeadm writes (docs/formats.md §7.3), trimmed.
    const KUBEADM: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://10.0.0.5:2379
  labels: {component: etcd, tier: control-plane}
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.0.0.5:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls=https://10.0.0.5:2380
    - --initial-cluster=cp1=https://10.0.0.5:2380
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379
    - --name=cp1
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
    image: registry.k8s.io/etcd:3.5.15-0
    name: etcd
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  hostNetwork: true
  volumes:
  - hostPath: {path: /etc/kubernetes/pki/etcd, type: DirectoryOrCreate}
    name: etcd-certs
  - hostPath: {path: /mnt/disk1/etcd, type: DirectoryOrCreate}
    name: etcd-data
"#;

    #[test]
    fn reads_kubeadm_manifest() {
        let m = EtcdManifest::parse(Path::new("etcd.yaml"), KUBEADM).unwrap();
        assert_eq!(m.client_url().as_deref(), Some("https://127.0.0.1:2379"));
        assert_eq!(
            m.host_path_flag("trusted-ca-file"),
            Some(PathBuf::from("/etc/kubernetes/pki/etcd/ca.crt"))
        );
        assert_eq!(m.flag("name"), Some("cp1"));
        assert_eq!(m.flag("client-cert-auth"), Some("true"));
        // The data dir is mapped through the etcd-data hostPath volume.
        assert_eq!(
            m.host_path_flag("data-dir"),
            Some(PathBuf::from("/mnt/disk1/etcd"))
        );
        assert_eq!(
            m.to_host(Path::new("/var/lib/etcd/member/snap")),
            PathBuf::from("/mnt/disk1/etcd/member/snap")
        );
        assert_eq!(
            m.to_host(Path::new("/var/lib/etcdx")),
            PathBuf::from("/var/lib/etcdx")
        );
    }

    #[test]
    fn flag_forms() {
        let argv: Vec<String> = ["etcd", "--a=1", "--b", "2", "--c", "--d=x=y", "-e", "3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = parse_flags(&argv);
        assert_eq!(f["a"], "1");
        assert_eq!(f["b"], "2");
        assert_eq!(f["c"], "true");
        assert_eq!(f["d"], "x=y");
        assert_eq!(f["e"], "3");
    }

    #[test]
    fn image_tags_give_versions() {
        assert_eq!(
            image_version("registry.k8s.io/etcd:3.5.15-0"),
            Some((3, 5, 15))
        );
        assert_eq!(
            image_version("gcr.io/etcd-development/etcd:v3.6.0"),
            Some((3, 6, 0))
        );
        assert_eq!(
            image_version("registry.local:5000/etcd:3.4.23"),
            Some((3, 4, 23))
        );
        assert_eq!(image_version("registry.local:5000/etcd"), None);
        assert_eq!(image_version("registry.k8s.io/etcd@sha256:abcd"), None);
        assert_eq!(image_version("registry.k8s.io/etcd:latest"), None);
        assert_eq!(semver_prefix("3.6.0-alpha.1"), Some((3, 6, 0)));
        let m = EtcdManifest::parse(Path::new("etcd.yaml"), KUBEADM).unwrap();
        assert_eq!(m.image.as_deref(), Some("registry.k8s.io/etcd:3.5.15-0"));
    }

    #[test]
    fn client_url_falls_back_to_advertised_then_wildcard() {
        let m = |listen: &str, adv: &str| EtcdManifest {
            path: PathBuf::new(),
            image: None,
            flags: [
                ("listen-client-urls".to_string(), listen.to_string()),
                ("advertise-client-urls".to_string(), adv.to_string()),
            ]
            .into_iter()
            .collect(),
            mounts: Vec::new(),
        };
        assert_eq!(
            m("https://10.0.0.5:2379", "https://10.0.0.5:2379")
                .client_url()
                .unwrap(),
            "https://10.0.0.5:2379"
        );
        assert_eq!(
            m("https://0.0.0.0:2379", "https://10.0.0.5:2379")
                .client_url()
                .unwrap(),
            "https://127.0.0.1:2379"
        );
    }

    #[test]
    fn malformed_manifests_name_the_file() {
        for (text, why) in [
            ("kind: [", "not valid YAML"),
            ("kind: Deployment\n", "expected \"Pod\""),
            ("kind: Pod\nspec: {}\n", "spec.containers"),
            (
                "kind: Pod\nspec:\n  containers:\n  - name: other\n",
                "no container named etcd",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd]\n",
                "no --flags",
            ),
        ] {
            let e = EtcdManifest::parse(Path::new("/x/etcd.yaml"), text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("/x/etcd.yaml") && msg.contains(why), "{msg}");
        }
    }

    #[test]
    fn missing_manifest_is_not_an_error() {
        assert_eq!(
            EtcdManifest::load(Path::new("/nonexistent/etcd.yaml")).unwrap(),
            None
        );
    }

    #[test]
    fn set_flags_replaces_in_place_and_adds_after_the_last_flag() {
        let text = "spec:\n  containers:\n  - command:\n    - etcd\n    - --name=n1\n    \
                    - --initial-cluster=n1=https://a:2380\n    image: x\n";
        let out = super::set_flags(
            text,
            &[
                ("initial-cluster", "n1=https://a:2380,n2=https://b:2380"),
                ("initial-cluster-state", "existing"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "spec:\n  containers:\n  - command:\n    - etcd\n    - --name=n1\n    \
             - --initial-cluster=n1=https://a:2380,n2=https://b:2380\n    \
             - --initial-cluster-state=existing\n    image: x\n"
        );
        let again = super::set_flags(&out, &[("initial-cluster-state", "new")]).unwrap();
        assert!(again.contains("    - --initial-cluster-state=new\n    image: x\n"));
        assert!(super::set_flags("a: b\n", &[("x", "y")]).is_err());
    }
}
