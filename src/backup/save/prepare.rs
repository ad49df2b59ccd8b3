//! The checks a save makes before it touches anything: flags that must go together, the label,
//! the age recipients (and so the file's layers), `--with-pki`, the endpoints and the TLS files.

use anyhow::anyhow;

use crate::backup::catalog;
use crate::backup::layers::{self, Layers};
use crate::backup::pki_bundle;
use crate::cli::{Compression, SaveArgs};
use crate::diagnostics::HintExt;
use crate::etcd::{self, ConnectConfig, TlsFiles};
use crate::output::Printer;
use crate::settings::Settings;

/// What the checks resolved, for the phases to come.
pub(crate) struct Prepared {
    /// The layers of the backup file (`--compress`, `--encrypt-to`); its name says them.
    pub layers: Layers,
    pub(super) recipients: Vec<age::x25519::Recipient>,
    /// An extra recipient whose secret lives only in this process, so that the file just
    /// written can be decrypted and checked in full before it gets its name. The secret is
    /// dropped when the check is done; the stanza left in the header opens nothing.
    pub(super) check_key: Option<age::x25519::Identity>,
    pub(super) pki_sources: pki_bundle::Sources,
    pub(super) endpoints: Vec<String>,
    pub(super) tls: Option<tonic::transport::ClientTlsConfig>,
    pub(super) config: ConnectConfig,
}

/// Checks the flags and files of a save, in the order a user meets them, and loads the keys and
/// certificates.
pub(crate) fn prepare(
    settings: &Settings,
    args: &SaveArgs,
    printer: &Printer,
) -> anyhow::Result<Prepared> {
    if args.keep.any_given() && !args.prune {
        return Err(anyhow!(
            "retention flags (--keep-*, --prune-labeled) were given without --prune"
        ))
        .hint("add --prune to prune after saving, or run `etcd-backup prune` with them");
    }
    if let Some(label) = &args.label {
        catalog::validate_label(label)
            .map_err(|e| anyhow!("invalid --label: {e}"))
            .hint("use a short name such as pre-upgrade-1.31")?;
    }
    if let Some(m) = &settings.manifest {
        printer.detail(format!("read kubeadm manifest {}", m.path.display()));
    }
    let recipients = layers::load_recipients(&args.encrypt_to).hint(
        "give age public keys (age1…) or files of them; `age-keygen -o key.txt` makes a pair",
    )?;
    let layers = Layers {
        zstd: args.compress == Compression::Zstd,
        age: !recipients.is_empty(),
    };
    let check_key = layers.age.then(age::x25519::Identity::generate);
    let pki_sources = pki_bundle::Sources {
        kubernetes_dir: args.kubernetes_dir.clone(),
        kubelet_dir: args.kubelet_dir.clone(),
    };
    if args.with_pki {
        check_pki(args, layers, printer)?;
    }
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    check_schemes(&endpoints, printer)?;
    let tls_files = settings.tls_files();
    let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
        Some(load_tls(settings, &tls_files, printer)?)
    } else {
        None
    };
    Ok(Prepared {
        layers,
        recipients,
        check_key,
        pki_sources,
        endpoints,
        tls,
        config: ConnectConfig {
            tls: tls_files,
            dial_timeout: args.dial_timeout,
            stall_timeout: args.stall_timeout,
        },
    })
}

/// `--with-pki`: refuses a node without kubeadm's `pki` directory, and warns that an
/// unencrypted bundle holds the CA private keys in the clear.
fn check_pki(args: &SaveArgs, layers: Layers, printer: &Printer) -> anyhow::Result<()> {
    let pki = args.kubernetes_dir.join("pki");
    if !pki.is_dir() {
        return Err(anyhow!(
            "--with-pki: {} is not a directory, so this is not a kubeadm node",
            pki.display()
        ))
        .hint("point --kubernetes-dir at kubeadm's directory, or leave out --with-pki");
    }
    if !layers.age {
        printer.warn(
            "--with-pki without --encrypt-to: the bundle holds the cluster's CA private keys \
             unencrypted",
        );
    }
    Ok(())
}

/// Loads the client certificate, key and CA for https:// endpoints, saying where each came from.
fn load_tls(
    settings: &Settings,
    tls_files: &TlsFiles,
    printer: &Printer,
) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    printer.detail(format!(
        "TLS: --cacert {} ({}), --cert {} ({}), --key {} ({})",
        tls_files.cacert.display(),
        settings.cacert.source.describe(),
        tls_files.cert.display(),
        settings.cert.source.describe(),
        tls_files.key.display(),
        settings.key.source.describe(),
    ));
    crate::settings::load_tls(tls_files)
}

/// Refuses a list that mixes https:// and http:// (never fall back from TLS to plaintext) and
/// warns about plaintext endpoints.
fn check_schemes(endpoints: &[String], printer: &Printer) -> anyhow::Result<()> {
    let plain = etcd::check_schemes(endpoints).hint(
        "list only https:// endpoints: etcd-backup never falls back from TLS to plaintext, and \
         a kubeadm etcd serves clients over TLS only",
    )?;
    for ep in plain {
        printer.warn(format!(
            "{ep} is plaintext: the snapshot, which holds every secret of the cluster, crosses \
             the network unencrypted and unauthenticated; use https:// where etcd serves TLS"
        ));
    }
    Ok(())
}
