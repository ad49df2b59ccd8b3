//! Resolving settings once: flags > environment > config file > kubeadm manifest > defaults.
//!
//! clap already folds flags, environment variables and the config file (its values are clap
//! defaults, see `config`) together; what is still unset afterwards is taken from the etcd static
//! pod manifest when the node has one, then from kubeadm's defaults.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::node::manifest::{EtcdManifest, ManifestError};

pub const DEFAULT_ENDPOINT: &str = "https://127.0.0.1:2379";
pub const DEFAULT_CACERT: &str = "/etc/kubernetes/pki/etcd/ca.crt";
pub const DEFAULT_CERT: &str = "/etc/kubernetes/pki/etcd/server.crt";
pub const DEFAULT_KEY: &str = "/etc/kubernetes/pki/etcd/server.key";

/// Where a setting's value came from, for messages and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    FlagOrEnv,
    Manifest,
    Default,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Source::FlagOrEnv => "flag, environment or config file",
            Source::Manifest => "kubeadm manifest",
            Source::Default => "default",
        }
    }
}

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// Connection settings shared by the commands that talk to etcd.
#[derive(Debug, Clone)]
pub struct Settings {
    pub endpoints: Sourced<Vec<String>>,
    pub cacert: Sourced<PathBuf>,
    pub cert: Sourced<PathBuf>,
    pub key: Sourced<PathBuf>,
    pub backup_dir: PathBuf,
    /// The manifest that was read, if the node has one.
    pub manifest: Option<EtcdManifest>,
    /// Where the manifest was looked for (`--manifest`), read or not.
    pub manifest_path: PathBuf,
}

/// Settings that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A manifest the user named (not the default path) is not there.
    #[error("kubeadm etcd manifest {path} ({given_by}) does not exist")]
    ManifestMissing { path: PathBuf, given_by: String },
    #[error("the endpoint list is empty ({given_by} is \"{raw}\")")]
    NoEndpoints { given_by: String, raw: String },
}

impl SettingsError {
    pub fn hint(&self) -> String {
        match self {
            SettingsError::Manifest(_) => "fix the manifest, point --manifest at the right file, \
                                           or pass --no-manifest to skip kubeadm discovery"
                .to_string(),
            SettingsError::ManifestMissing { .. } => "point --manifest (ETCD_BACKUP_MANIFEST) at \
                 the etcd static pod manifest, usually /etc/kubernetes/manifests/etcd.yaml, or \
                 leave it out (or pass --no-manifest) and give --endpoints and the certificates"
                .to_string(),
            SettingsError::NoEndpoints { .. } => "give at least one URL, e.g. --endpoints \
                 https://127.0.0.1:2379, or unset it to use the manifest's or the default"
                .to_string(),
        }
    }
}

impl Settings {
    /// Resolves the global flags; `--no-manifest` turns kubeadm discovery off. `given_by` says
    /// how the user gave a global setting (`flag --manifest`, `env …`, `config FILE:LINE`), or
    /// `None` when it holds its built-in default: a manifest the user named must exist, while
    /// the default one is read only where it exists.
    pub fn resolve(
        args: &GlobalArgs,
        given_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        if let Some(list) = &args.endpoints {
            if list.iter().all(|e| e.trim().is_empty()) {
                return Err(SettingsError::NoEndpoints {
                    given_by: given_by("endpoints").unwrap_or_else(|| "--endpoints".into()),
                    raw: list.join(","),
                });
            }
        }
        let manifest = if args.no_manifest {
            None
        } else {
            match EtcdManifest::load(&args.manifest)? {
                None => match given_by("manifest") {
                    Some(given_by) => {
                        return Err(SettingsError::ManifestMissing {
                            path: args.manifest.clone(),
                            given_by,
                        })
                    }
                    None => None,
                },
                found => found,
            }
        };
        Ok(Self::from_parts(args, manifest))
    }

    fn from_parts(args: &GlobalArgs, manifest: Option<EtcdManifest>) -> Settings {
        fn pick<T>(flag: Option<T>, from_manifest: Option<T>, default: T) -> Sourced<T> {
            match (flag, from_manifest) {
                (Some(value), _) => Sourced {
                    value,
                    source: Source::FlagOrEnv,
                },
                (None, Some(value)) => Sourced {
                    value,
                    source: Source::Manifest,
                },
                (None, None) => Sourced {
                    value: default,
                    source: Source::Default,
                },
            }
        }
        let m = manifest.as_ref();
        let endpoints = args
            .endpoints
            .clone()
            .map(|v| {
                v.into_iter()
                    .filter(|e| !e.trim().is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty());
        Settings {
            manifest_path: args.manifest.clone(),
            endpoints: pick(
                endpoints,
                m.and_then(|m| m.client_url()).map(|u| vec![u]),
                vec![DEFAULT_ENDPOINT.to_string()],
            ),
            cacert: pick(
                args.cacert.clone(),
                m.and_then(|m| m.host_path_flag("trusted-ca-file")),
                PathBuf::from(DEFAULT_CACERT),
            ),
            cert: pick(
                args.cert.clone(),
                m.and_then(|m| m.host_path_flag("cert-file")),
                PathBuf::from(DEFAULT_CERT),
            ),
            key: pick(
                args.key.clone(),
                m.and_then(|m| m.host_path_flag("key-file")),
                PathBuf::from(DEFAULT_KEY),
            ),
            backup_dir: args.backup_dir.clone(),
            manifest,
        }
    }

    /// The etcd data dir on the host, from the manifest (used by restore and reports).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.manifest
            .as_ref()
            .and_then(|m| m.host_path_flag("data-dir"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use std::path::Path;

    fn args(argv: &[&str]) -> GlobalArgs {
        let mut full = vec!["etcd-backup"];
        full.extend_from_slice(argv);
        full.push("save");
        Cli::try_parse_from(full).unwrap().global
    }

    const MANIFEST: &str = "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command:\n    \
        - etcd\n    - --listen-client-urls=https://127.0.0.1:3379,https://10.1.1.1:3379\n    \
        - --trusted-ca-file=/pki/ca.crt\n    - --cert-file=/pki/s.crt\n    \
        - --key-file=/pki/s.key\n    - --data-dir=/var/lib/etcd\n";

    #[test]
    fn defaults_are_kubeadms() {
        let s = Settings::from_parts(&args(&[]), None);
        assert_eq!(s.endpoints.value, vec![DEFAULT_ENDPOINT]);
        assert_eq!(s.endpoints.source, Source::Default);
        assert_eq!(s.cacert.value, Path::new(DEFAULT_CACERT));
        assert_eq!(s.key.value, Path::new(DEFAULT_KEY));
        assert_eq!(s.backup_dir, Path::new("/var/lib/etcd-backups"));
    }

    #[test]
    fn manifest_fills_what_flags_leave_unset() {
        let m = EtcdManifest::parse(Path::new("m.yaml"), MANIFEST).unwrap();
        let s = Settings::from_parts(&args(&["--cacert", "/mine/ca.crt"]), Some(m));
        assert_eq!(s.endpoints.value, vec!["https://127.0.0.1:3379"]);
        assert_eq!(s.endpoints.source, Source::Manifest);
        assert_eq!(s.cacert.value, Path::new("/mine/ca.crt"));
        assert_eq!(s.cacert.source, Source::FlagOrEnv);
        assert_eq!(s.cert.value, Path::new("/pki/s.crt"));
        assert_eq!(s.data_dir(), Some(PathBuf::from("/var/lib/etcd")));
    }
}
