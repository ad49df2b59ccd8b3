//! `export --manifests DIR`: a decoded object as a YAML file ready for `kubectl apply`, for
//! getting one object or one namespace back through the live API server (never by writing etcd).
//!
//! ```text
//! DIR/<kind>[.<group>]/<namespace>/<name>.yaml     pod/default/web-0.yaml
//!                                                  deployment.apps/default/web.yaml
//! DIR/<kind>[.<group>]/_cluster/<name>.yaml        clusterrole.rbac.authorization.k8s.io/_cluster/admin.yaml
//! ```
//!
//! The kind is lowercased and carries its API group, so a custom `Certificate` never overwrites
//! another group's. Cluster-scoped objects go under `_cluster`, which no namespace can be called
//! (namespace names are DNS labels: no `_`).
//!
//! What is removed, because the API server sets it and `kubectl apply` of it fails or misleads:
//! `metadata.uid`, `resourceVersion`, `creationTimestamp`, `generation`, `managedFields`,
//! `selfLink`, `deletionTimestamp`, `deletionGracePeriodSeconds`, and `status`; and the annotation
//! `kubectl.kubernetes.io/last-applied-configuration`: `kubectl apply` writes a fresh one from the
//! file it applies, and for a Secret it is a second plaintext copy of the data. Kept: everything
//! the user or a controller chose, `ownerReferences` included (an object whose owner, by uid, no
//! longer exists is removed by the garbage collector: delete the block to keep it), and
//! allocations such as a Service's `clusterIP` or a Pod's `nodeName`.
//!
//! The YAML is our own small emitter (`yaml.rs`): YAML 1.2 emitters write strings such as `on` or
//! `0755` plain, and kubectl's YAML 1.1 reader takes them for a boolean and a number.
//!
//! Every file is 0600 in 0700 directories, not only Secrets: ConfigMaps, Pod environments and
//! CRs hold credentials too, and the files are as sensitive as the backup they come from.

mod yaml;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::fsutil::{self, FsError};

/// The directory of cluster-scoped objects.
pub(crate) const CLUSTER_SCOPED: &str = "_cluster";

const SERVER_SET: [&str; 8] = [
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A manifest ready to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    /// Relative to the manifests directory: `<kind>[.<group>]/<namespace or _cluster>/<name>.yaml`.
    pub(crate) path: PathBuf,
    /// The object, server-set fields stripped.
    pub(crate) object: Value,
    pub(crate) yaml: String,
}

/// Why an object cannot become a manifest.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ManifestError {
    #[error("the object has no {0}")]
    Missing(&'static str),
    #[error("{what} {value:?} cannot be a file name")]
    UnsafeName { what: &'static str, value: String },
}

/// The manifest of a decoded object (`Decoded::Object`'s `object`).
pub(crate) fn manifest(object: &Value) -> Result<Manifest, ManifestError> {
    let mut object = object.clone();
    let obj = object
        .as_object_mut()
        .ok_or(ManifestError::Missing("fields"))?;
    let kind = str_of(obj.get("kind")).ok_or(ManifestError::Missing("kind"))?;
    let api_version = str_of(obj.get("apiVersion")).ok_or(ManifestError::Missing("apiVersion"))?;
    let meta = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or(ManifestError::Missing("metadata"))?;
    let name = str_of(meta.get("name")).ok_or(ManifestError::Missing("metadata.name"))?;
    let namespace = str_of(meta.get("namespace")).filter(|n| !n.is_empty());
    strip_metadata(meta);
    obj.remove("status");

    let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let mut dir = kind.to_ascii_lowercase();
    if !group.is_empty() {
        dir = format!("{dir}.{group}");
    }
    let path = PathBuf::from(safe("kind", &dir)?)
        .join(match &namespace {
            Some(ns) => safe("namespace", ns)?,
            None => CLUSTER_SCOPED,
        })
        .join(format!("{}.yaml", safe("name", &name)?));
    let yaml = yaml::to_yaml(&object);
    Ok(Manifest { path, object, yaml })
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn strip_metadata(meta: &mut Map<String, Value>) {
    for field in SERVER_SET {
        meta.remove(field);
    }
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED);
        if annotations.is_empty() {
            meta.remove("annotations");
        }
    }
}

/// A path component from the backup: names of some kinds (RBAC's `system:…`) allow more than DNS
/// names, but never a `/`, a NUL, `.` or `..`, which would leave the directory.
fn safe<'a>(what: &'static str, value: &'a str) -> Result<&'a str, ManifestError> {
    if value.is_empty() || value == "." || value == ".." || value.contains(['/', '\0']) {
        return Err(ManifestError::UnsafeName {
            what,
            value: value.to_string(),
        });
    }
    Ok(value)
}

/// Writes `m` under `dir` atomically (temp file, fsync, rename, directory fsync), 0600 in 0700
/// directories. An existing file is replaced only when `replace` is true. Returns the path.
pub(crate) fn write(dir: &Path, m: &Manifest, replace: bool) -> Result<PathBuf, FsError> {
    let path = dir.join(&m.path);
    if let Some(parent) = path.parent() {
        fsutil::create_private_dir(parent)?;
    }
    fsutil::write_atomic(&path, m.yaml.as_bytes(), replace)?;
    Ok(path)
}

/// The identity of an object for the filters: group and resource from the key path
/// (`k8s::key`), kind, namespace and name from the object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObjectRef<'a> {
    pub(crate) group: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) name: &'a str,
}

/// `--namespace`, `--resource`, `--name`: an object is exported when it matches all that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Objects in this namespace, and the Namespace object itself (needed first to restore one).
    pub(crate) namespace: Option<String>,
    /// As kubectl names it: `pods`, `deployments.apps`, or the kind (`Pod`, `deployment`),
    /// case-insensitive.
    pub(crate) resource: Option<String>,
    pub(crate) name: Option<String>,
}

impl Filter {
    pub(crate) fn matches(&self, o: &ObjectRef<'_>) -> bool {
        let namespace = self.namespace.as_deref().is_none_or(|ns| {
            o.namespace == Some(ns)
                || (o.namespace.is_none()
                    && o.group.is_empty()
                    && o.kind == "Namespace"
                    && o.name == ns)
        });
        let resource = self.resource.as_deref().is_none_or(|r| {
            let qualified = format!("{}.{}", o.resource, o.group);
            r.eq_ignore_ascii_case(o.resource)
                || r.eq_ignore_ascii_case(&qualified)
                || r.eq_ignore_ascii_case(o.kind)
        });
        let name = self.name.as_deref().is_none_or(|n| n == o.name);
        namespace && resource && name
    }
}

#[cfg(test)]
mod tests;
