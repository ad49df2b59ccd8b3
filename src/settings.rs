//! Resolving settings once: flags > environment > config file > kubeadm manifest > defaults.
//!
//! clap already folds flags, environment variables and the config file (its values are clap
//! defaults, see `config`) together; what is still unset afterwards is taken from the etcd static
//! pod manifest when the node has one, then from kubeadm's defaults. The command's own settings
//! that several commands share (the store, the age identities, the retention rules) and the TLS
//! files are resolved here too, each in one way for every command.

use std::path::PathBuf;
use std::time::Duration;

use crate::backup::retention::Policy;
use crate::cli::{Command, GlobalArgs, IdentityArgs, KeepArgs, RemoteConnArgs};
use crate::diagnostics::{with_hint, HintExt};
use crate::etcd::{EtcdError, TlsFiles};
use crate::node::manifest::{EtcdManifest, ManifestError};
use crate::remote::RemoteOptions;

pub(crate) const DEFAULT_ENDPOINT: &str = "https://127.0.0.1:2379";
pub(crate) const DEFAULT_CACERT: &str = "/etc/kubernetes/pki/etcd/ca.crt";
pub(crate) const DEFAULT_CERT: &str = "/etc/kubernetes/pki/etcd/server.crt";
pub(crate) const DEFAULT_KEY: &str = "/etc/kubernetes/pki/etcd/server.key";

/// Where a setting's value came from, for messages and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    FlagOrEnv,
    Manifest,
    Default,
}

impl Source {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Source::FlagOrEnv => "flag, environment or config file",
            Source::Manifest => "kubeadm manifest",
            Source::Default => "default",
        }
    }
}

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The settings of a run: the connection to etcd and the backup dir (global), and the command's
/// store, identities and retention rules.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub endpoints: Sourced<Vec<String>>,
    pub cacert: Sourced<PathBuf>,
    pub cert: Sourced<PathBuf>,
    pub key: Sourced<PathBuf>,
    pub backup_dir: PathBuf,
    /// The manifest that was read, if the node has one.
    pub manifest: Option<EtcdManifest>,
    /// Where the manifest was looked for (`--manifest`), read or not.
    pub manifest_path: PathBuf,
    /// `--remote`: the store that holds the backup set (`status`, `verify`, `prune`) or that
    /// `save` copies to.
    pub remote: Option<String>,
    /// How to reach a store (the `--remote-*` flags), for `--remote` and for a backup named by
    /// its object URL.
    pub remote_options: RemoteOptions,
    /// `--identity` files, read only when an encrypted backup is opened
    /// ([`Settings::identities`]).
    pub identity_files: Vec<PathBuf>,
    /// The retention rules of `prune` and `save --prune`: `--keep-days 7` when none is given.
    pub retention: Policy,
}

/// Settings that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A manifest the user named (not the default path) is not there.
    #[error("kubeadm etcd manifest {path} ({given_by}) does not exist")]
    ManifestMissing { path: PathBuf, given_by: String },
    #[error("the endpoint list is empty ({given_by} is \"{raw}\")")]
    NoEndpoints { given_by: String, raw: String },
}

impl SettingsError {
    pub(crate) fn hint(&self) -> String {
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
    pub(crate) fn resolve(
        args: &GlobalArgs,
        command: &Command,
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
        Ok(Self::from_parts(args, command, manifest))
    }

    fn from_parts(
        args: &GlobalArgs,
        command: &Command,
        manifest: Option<EtcdManifest>,
    ) -> Settings {
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
            remote: remote_url(command),
            remote_options: remote_conn(command).map(remote_options).unwrap_or_default(),
            identity_files: identity_args(command)
                .map(|i| i.identity.clone())
                .unwrap_or_default(),
            retention: keep_args(command).map(retention).unwrap_or_default(),
        }
    }

    /// The etcd data dir on the host, from the manifest (used by restore and reports).
    pub(crate) fn data_dir(&self) -> Option<PathBuf> {
        self.manifest
            .as_ref()
            .and_then(|m| m.host_path_flag("data-dir"))
    }
}

impl Settings {
    /// The age identities of `--identity`, read now; none when it was not given.
    pub(crate) fn identities(&self) -> anyhow::Result<Vec<age::x25519::Identity>> {
        crate::backup::layers::load_identities(&self.identity_files).hint(
            "pass the age identity file the backup was encrypted to (AGE-SECRET-KEY-1… lines, \
             as age-keygen writes them), owned by this user or root, mode 0600",
        )
    }

    /// The client's TLS files (`--cacert`, `--cert`, `--key`).
    pub(crate) fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            cacert: self.cacert.value.clone(),
            cert: self.cert.value.clone(),
            key: self.key.value.clone(),
        }
    }
}

/// Reads the client's TLS files, with advice on what to pass when one is missing or wrong.
pub(crate) fn load_tls(files: &TlsFiles) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    crate::etcd::load_tls(files).map_err(|e| {
        let hint = match e {
            EtcdError::KeyMismatch { .. } => {
                "give the key that was made with this certificate (on a kubeadm node \
                 /etc/kubernetes/pki/etcd/server.crt goes with server.key)"
            }
            _ => {
                "pass the files with --cacert/--cert/--key (or ETCDCTL_CACERT, ETCDCTL_CERT, \
                 ETCDCTL_KEY); on a kubeadm node they are in /etc/kubernetes/pki/etcd/"
            }
        };
        with_hint(e, hint)
    })
}

/// A store's settings from the `--remote-*` flags.
pub(crate) fn remote_options(conn: &RemoteConnArgs) -> RemoteOptions {
    RemoteOptions {
        endpoint: conn.remote_endpoint.clone(),
        region: conn.remote_region.clone(),
        path_style: None,
        timeout: conn.remote_timeout,
        connect_timeout: Duration::from_secs(10),
        retries: conn.remote_retries,
    }
}

/// The retention policy of the `--keep-*` flags, with `--keep-days 7` when no keep rule was
/// given.
pub(crate) fn retention(keep: &KeepArgs) -> Policy {
    Policy {
        last: keep.keep_last,
        within: keep.keep_within.or_else(|| {
            keep.keep_days
                .map(|d| Duration::from_secs(u64::from(d) * 86_400))
        }),
        hourly: keep.keep_hourly,
        daily: keep.keep_daily,
        weekly: keep.keep_weekly,
        monthly: keep.keep_monthly,
        prune_labeled: keep.prune_labeled,
    }
    .or_default()
}

fn remote_url(command: &Command) -> Option<String> {
    match command {
        Command::Save(a) => a.remote.remote.clone(),
        Command::Status(a) => a.remote.remote.clone(),
        Command::Verify(a) => a.remote.remote.clone(),
        Command::Drill(a) => a.remote.remote.clone(),
        Command::Prune(a) => a.remote.remote.clone(),
        _ => None,
    }
}

fn remote_conn(command: &Command) -> Option<&RemoteConnArgs> {
    match command {
        Command::Save(a) => Some(&a.remote.conn),
        Command::Status(a) => Some(&a.remote.conn),
        Command::Verify(a) => Some(&a.remote.conn),
        Command::Drill(a) => Some(&a.remote.conn),
        Command::Prune(a) => Some(&a.remote.conn),
        Command::Restore(a) => Some(&a.remote),
        Command::Inspect(a) => Some(&a.remote),
        Command::Export(a) => Some(&a.remote),
        Command::Diff(a) => Some(&a.remote),
        _ => None,
    }
}

fn identity_args(command: &Command) -> Option<&IdentityArgs> {
    match command {
        Command::Status(a) => Some(&a.identity),
        Command::Verify(a) => Some(&a.identity),
        Command::Drill(a) => Some(&a.identity),
        Command::Prune(a) => Some(&a.identity),
        Command::Restore(a) => Some(&a.identity),
        Command::Inspect(a) => Some(&a.identity),
        Command::Export(a) => Some(&a.identity),
        Command::Diff(a) => Some(&a.identity),
        _ => None,
    }
}

fn keep_args(command: &Command) -> Option<&KeepArgs> {
    match command {
        Command::Save(a) => Some(&a.keep),
        Command::Prune(a) => Some(&a.keep),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use std::path::Path;

    fn cli(argv: &[&str]) -> Cli {
        let mut full = vec!["etcd-backup"];
        full.extend_from_slice(argv);
        if !argv.iter().any(|a| ["save", "prune", "status"].contains(a)) {
            full.push("save");
        }
        Cli::try_parse_from(full).unwrap()
    }

    fn resolved(argv: &[&str], manifest: Option<EtcdManifest>) -> Settings {
        let cli = cli(argv);
        Settings::from_parts(&cli.global, &cli.command, manifest)
    }

    const MANIFEST: &str = "kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command:\n    \
        - etcd\n    - --listen-client-urls=https://127.0.0.1:3379,https://10.1.1.1:3379\n    \
        - --trusted-ca-file=/pki/ca.crt\n    - --cert-file=/pki/s.crt\n    \
        - --key-file=/pki/s.key\n    - --data-dir=/var/lib/etcd\n";

    #[test]
    fn defaults_are_kubeadms() {
        let s = resolved(&[], None);
        assert_eq!(s.endpoints.value, vec![DEFAULT_ENDPOINT]);
        assert_eq!(s.endpoints.source, Source::Default);
        assert_eq!(s.cacert.value, Path::new(DEFAULT_CACERT));
        assert_eq!(s.key.value, Path::new(DEFAULT_KEY));
        assert_eq!(s.backup_dir, Path::new("/var/lib/etcd-backups"));
    }

    #[test]
    fn manifest_fills_what_flags_leave_unset() {
        let m = EtcdManifest::parse(Path::new("m.yaml"), MANIFEST).unwrap();
        let s = resolved(&["--cacert", "/mine/ca.crt"], Some(m));
        assert_eq!(s.endpoints.value, vec!["https://127.0.0.1:3379"]);
        assert_eq!(s.endpoints.source, Source::Manifest);
        assert_eq!(s.cacert.value, Path::new("/mine/ca.crt"));
        assert_eq!(s.cacert.source, Source::FlagOrEnv);
        assert_eq!(s.cert.value, Path::new("/pki/s.crt"));
        assert_eq!(s.data_dir(), Some(PathBuf::from("/var/lib/etcd")));
    }

    #[test]
    fn retention_defaults_to_a_week_and_takes_the_keep_flags() {
        let week = Some(Duration::from_secs(7 * 86_400));
        assert_eq!(resolved(&["prune"], None).retention.within, week);
        let s = resolved(&["prune", "--keep-last", "3", "--keep-days", "2"], None);
        assert_eq!(s.retention.last, Some(3));
        assert_eq!(s.retention.within, Some(Duration::from_secs(2 * 86_400)));
    }

    #[test]
    fn the_store_and_its_options_come_from_the_command() {
        let s = resolved(
            &["status", "--remote", "file:///b", "--remote-retries", "2"],
            None,
        );
        assert_eq!(s.remote.as_deref(), Some("file:///b"));
        assert_eq!(s.remote_options.retries, 2);
        assert_eq!(s.remote_options.timeout, Duration::from_secs(60));
        assert!(resolved(&["save"], None).remote.is_none());
    }
}
