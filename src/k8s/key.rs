//! Kubernetes key paths (docs/formats.md §10.1): `/registry/<resource>/[<namespace>/]<name>`
//! for the built-in types, `/registry/<group>/<resource>/…` for aggregated and custom resources,
//! and OpenShift's `/kubernetes.io/` and `/openshift.io/` roots.
//!
//! The built-in types are stored under their resource name without the group (kube-apiserver's
//! storage factory: `ResourcePrefix` is the resource, with `SpecialDefaultResourcePrefixes` in
//! `pkg/kubeapiserver/default_storage_factory_builder.go` for the exceptions below); the
//! aggregator's and apiextensions' own storage (`SimpleRestOptionsFactory`,
//! `staging/src/k8s.io/apiserver/pkg/server/options/etcd.go`) and custom resources
//! (`apiextensions-apiserver/pkg/apiserver/customresource_handler.go`) prefix the group.

/// Where a key belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct K8sKey<'k> {
    /// The API group: `""` for core, `None` when the path does not say (an unknown resource
    /// stored without its group).
    pub group: Option<&'static str>,
    /// The group named in the key itself (`/registry/<group>/<resource>/…`).
    pub group_in_key: Option<&'k str>,
    /// The resource as the API names it (`nodes`, not the key's `minions`).
    pub resource: &'k str,
    /// The key prefix that holds every object of this resource, `/registry/pods/`.
    pub prefix: &'k str,
    pub namespace: Option<&'k str>,
    pub name: &'k str,
}

impl K8sKey<'_> {
    /// The group as printed: the key's own, the known one, or `?`.
    pub(crate) fn group_shown(&self) -> &str {
        self.group_in_key.or(self.group).unwrap_or("?")
    }
}

/// Key prefixes that are not the resource's name (`SpecialDefaultResourcePrefixes`).
const SPECIAL: &[(&str, &str, &str)] = &[
    ("controllers", "", "replicationcontrollers"),
    ("services/endpoints", "", "endpoints"),
    ("minions", "", "nodes"),
    ("services/specs", "", "services"),
    ("ingress", "networking.k8s.io", "ingresses"),
    ("podsecuritypolicy", "policy", "podsecuritypolicies"),
];

/// Built-in resources stored under their name alone, with their group.
const BUILT_IN: &[(&str, &str)] = &[
    ("bindings", ""),
    ("configmaps", ""),
    ("events", ""),
    ("limitranges", ""),
    ("namespaces", ""),
    ("persistentvolumeclaims", ""),
    ("persistentvolumes", ""),
    ("pods", ""),
    ("podtemplates", ""),
    ("resourcequotas", ""),
    ("secrets", ""),
    ("serviceaccounts", ""),
    ("ranges", ""),
    ("masterleases", ""),
    ("controllerrevisions", "apps"),
    ("daemonsets", "apps"),
    ("deployments", "apps"),
    ("replicasets", "apps"),
    ("statefulsets", "apps"),
    ("horizontalpodautoscalers", "autoscaling"),
    ("cronjobs", "batch"),
    ("jobs", "batch"),
    ("certificatesigningrequests", "certificates.k8s.io"),
    ("clustertrustbundles", "certificates.k8s.io"),
    ("leases", "coordination.k8s.io"),
    ("endpointslices", "discovery.k8s.io"),
    ("flowschemas", "flowcontrol.apiserver.k8s.io"),
    (
        "prioritylevelconfigurations",
        "flowcontrol.apiserver.k8s.io",
    ),
    ("ingressclasses", "networking.k8s.io"),
    ("networkpolicies", "networking.k8s.io"),
    ("ipaddresses", "networking.k8s.io"),
    ("servicecidrs", "networking.k8s.io"),
    ("runtimeclasses", "node.k8s.io"),
    ("poddisruptionbudgets", "policy"),
    ("clusterrolebindings", "rbac.authorization.k8s.io"),
    ("clusterroles", "rbac.authorization.k8s.io"),
    ("rolebindings", "rbac.authorization.k8s.io"),
    ("roles", "rbac.authorization.k8s.io"),
    ("priorityclasses", "scheduling.k8s.io"),
    ("csidrivers", "storage.k8s.io"),
    ("csinodes", "storage.k8s.io"),
    ("csistoragecapacities", "storage.k8s.io"),
    ("storageclasses", "storage.k8s.io"),
    ("volumeattachments", "storage.k8s.io"),
    ("volumeattributesclasses", "storage.k8s.io"),
    (
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
    ),
    (
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
    ),
    (
        "validatingadmissionpolicies",
        "admissionregistration.k8s.io",
    ),
    (
        "validatingadmissionpolicybindings",
        "admissionregistration.k8s.io",
    ),
    ("storageversions", "internal.apiserver.k8s.io"),
    ("deviceclasses", "resource.k8s.io"),
    ("resourceclaims", "resource.k8s.io"),
    ("resourceclaimtemplates", "resource.k8s.io"),
    ("resourceslices", "resource.k8s.io"),
];

/// OpenShift's own types under `/openshift.io/` (group by resource).
const OPENSHIFT: &[(&str, &str)] = &[
    ("routes", "route.openshift.io"),
    ("builds", "build.openshift.io"),
    ("buildconfigs", "build.openshift.io"),
    ("deploymentconfigs", "apps.openshift.io"),
    ("images", "image.openshift.io"),
    ("imagestreams", "image.openshift.io"),
    ("templates", "template.openshift.io"),
    ("users", "user.openshift.io"),
    ("groups", "user.openshift.io"),
    ("identities", "user.openshift.io"),
    ("oauth", "oauth.openshift.io"),
    ("securitycontextconstraints", "security.openshift.io"),
    ("rangeallocations", "security.openshift.io"),
];

/// Parses a key. `None` for keys outside the Kubernetes roots or without a name.
pub(crate) fn parse(key: &[u8]) -> Option<K8sKey<'_>> {
    let key = std::str::from_utf8(key).ok()?;
    let (root, rest) = ["/registry/", "/kubernetes.io/", "/openshift.io/"]
        .iter()
        .find_map(|r| key.strip_prefix(r).map(|rest| (*r, rest)))?;
    let root_len = root.len();
    for (stored, group, resource) in SPECIAL {
        if let Some(after) = rest.strip_prefix(stored).and_then(|a| a.strip_prefix('/')) {
            let prefix = &key[..root_len + stored.len() + 1];
            return object(Some(group), None, resource, prefix, after);
        }
    }
    let (first, after) = rest.split_once('/')?;
    if first.contains('.') {
        // `/registry/<group>/<resource>/…`
        let (resource, after2) = after.split_once('/')?;
        let prefix = &key[..root_len + first.len() + 1 + resource.len() + 1];
        return object(None, Some(first), resource, prefix, after2);
    }
    let prefix = &key[..root_len + first.len() + 1];
    let group = if root == "/openshift.io/" {
        OPENSHIFT
            .iter()
            .find(|(r, _)| *r == first)
            .map(|(_, g)| *g)
            .or(Some("openshift.io"))
    } else {
        BUILT_IN.iter().find(|(r, _)| *r == first).map(|(_, g)| *g)
    };
    object(group, None, first, prefix, after)
}

fn object<'k>(
    group: Option<&'static str>,
    group_in_key: Option<&'k str>,
    resource: &'k str,
    prefix: &'k str,
    after: &'k str,
) -> Option<K8sKey<'k>> {
    if resource.is_empty() || after.is_empty() {
        return None;
    }
    let (namespace, name) = match after.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            (Some(ns), name)
        }
        Some(_) => return None,
        None => (None, after),
    };
    Some(K8sKey {
        group,
        group_in_key,
        resource,
        prefix,
        namespace,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str) -> (String, String, String, Option<String>, String) {
        let k = parse(k.as_bytes()).unwrap();
        (
            k.group_shown().to_string(),
            k.resource.to_string(),
            k.prefix.to_string(),
            k.namespace.map(str::to_string),
            k.name.to_string(),
        )
    }

    #[test]
    fn built_in_paths() {
        assert_eq!(
            p("/registry/pods/kube-system/etcd-cp1"),
            (
                "".into(),
                "pods".into(),
                "/registry/pods/".into(),
                Some("kube-system".into()),
                "etcd-cp1".into()
            )
        );
        assert_eq!(p("/registry/deployments/default/web").0, "apps");
        assert_eq!(p("/registry/namespaces/default").3, None);
        let svc = p("/registry/services/specs/default/kubernetes");
        assert_eq!(
            (svc.1.as_str(), svc.2.as_str()),
            ("services", "/registry/services/specs/")
        );
        assert_eq!(
            p("/registry/services/endpoints/default/kubernetes").1,
            "endpoints"
        );
        assert_eq!(p("/registry/minions/cp1").1, "nodes");
        assert_eq!(p("/registry/controllers/ns/rc").1, "replicationcontrollers");
        assert_eq!(p("/registry/ingress/ns/web").0, "networking.k8s.io");
        assert_eq!(p("/registry/ranges/serviceips").4, "serviceips");
    }

    #[test]
    fn grouped_and_openshift_paths() {
        let a = p("/registry/apiregistration.k8s.io/apiservices/v1.apps");
        assert_eq!(
            (a.0.as_str(), a.1.as_str(), a.3),
            ("apiregistration.k8s.io", "apiservices", None)
        );
        let c = p("/registry/stable.example.com/crontabs/default/my-cron");
        assert_eq!(c.2, "/registry/stable.example.com/crontabs/");
        assert_eq!(c.3.as_deref(), Some("default"));
        assert_eq!(p("/kubernetes.io/pods/ns/x").1, "pods");
        assert_eq!(p("/openshift.io/routes/ns/r").0, "route.openshift.io");
        assert_eq!(p("/registry/widgets/ns/x").0, "?");
    }

    #[test]
    fn not_objects() {
        for k in [
            "compact_rev_key",
            "/registry/pods",
            "/registry/pods/",
            "/other/x",
            "/registry/pods/a/b/c",
        ] {
            assert_eq!(parse(k.as_bytes()), None, "{k}");
        }
        assert_eq!(parse(b"/registry/\xff/x"), None);
    }
}
