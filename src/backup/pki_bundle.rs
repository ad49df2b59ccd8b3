//! The disaster-recovery bundle that `save --with-pki` writes beside a snapshot: a tar of what a
//! kubeadm control-plane node needs to be rebuilt from scratch, besides etcd's data.
//!
//! Archive paths are the paths kubeadm uses, without the leading `/`, whatever the source dirs
//! were, so that `tar -C / -xpf` on a rebuilt node puts everything back. File names are kubeadm's
//! (`cmd/kubeadm/app/constants/constants.go`):
//!
//! ```text
//! etcd-backup-bundle.txt        README, always the first entry
//! etc/kubernetes/               <kubernetes_dir>, the whole tree except the two below:
//!   pki/                          required: ca.*, apiserver*, sa.key, sa.pub, front-proxy-*,
//!                                 etcd/{ca,server,peer,healthcheck-client}.*
//!   manifests/                    static pods (etcd.yaml, kube-apiserver.yaml, ...)
//!   *.conf                        admin, super-admin, controller-manager, scheduler, kubelet
//!   kubeadm*.yaml, ...            kubeadm config files, encryption or audit configs kept here
//!   (tmp/)                        left out: kubeadm's scratch, which holds upgrade backups
//!                                 including whole etcd data dirs
//!   (etcd-backup-*)               left out: a restore's journal and staging dirs
//! var/lib/kubelet/              from <kubelet_dir>, only these:
//!   config.yaml                   KubeletConfiguration written by kubeadm
//!   instance-config.yaml          per-node kubelet config (newer kubeadm)
//!   kubeadm-flags.env             KUBELET_KUBEADM_ARGS
//!   pki/                          the kubelet's client certificate: kubelet.conf points at
//!                                 pki/kubelet-client-current.pem (a symlink), and its serving cert
//! ```
//!
//! Entries come in sorted order, each directory before its contents. Regular files, directories
//! and symlinks keep mode, numeric uid/gid and mtime; symlinks are stored as symlinks, never
//! followed; sockets, FIFOs and devices are skipped and listed in [`Summary::skipped`]. Headers
//! are GNU (`././@LongLink` for names and link targets over 100 bytes), which GNU tar, busybox tar
//! and bsdtar read.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

/// Name of the README entry, first in every bundle.
pub(crate) const README_NAME: &str = "etcd-backup-bundle.txt";
/// Where `kubernetes_dir` goes in the archive (kubeadm's `KubernetesDir`).
const KUBERNETES_ARCHIVE: &str = "etc/kubernetes";
/// Where `kubelet_dir` goes in the archive (kubeadm's `KubeletRunDirectory`).
const KUBELET_ARCHIVE: &str = "var/lib/kubelet";
/// What is taken from the kubelet dir, in sorted order; all optional.
const KUBELET_ITEMS: [&str; 4] = [
    "config.yaml",
    "instance-config.yaml",
    "kubeadm-flags.env",
    "pki",
];
/// Why a `pki` path is unusable, shown after the path.
const NOT_KUBEADM_MISSING: &str =
    "does not exist: this is not a kubeadm control-plane node, or its Kubernetes dir is elsewhere";
const NOT_KUBEADM_NOT_DIR: &str = "is not a directory: this is not a kubeadm control-plane node, \
     or its Kubernetes dir is elsewhere";
/// Deepest directory nesting followed below a source dir (kubeadm's is 2).
const MAX_DEPTH: usize = 32;

/// Where the node's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sources {
    /// kubeadm's config dir, `/etc/kubernetes` by default; must hold `pki/`.
    pub kubernetes_dir: PathBuf,
    /// The kubelet's state dir, `/var/lib/kubelet` by default.
    pub kubelet_dir: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            kubernetes_dir: PathBuf::from("/etc/kubernetes"),
            kubelet_dir: PathBuf::from("/var/lib/kubelet"),
        }
    }
}

/// What went into the archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Every entry's archive path, in archive order (the README first; directories end in `/`).
    pub files: Vec<String>,
    /// Bytes of file content, the README included (headers and padding not counted).
    pub bytes: u64,
    /// Source paths left out, each with why: neither file, directory nor symlink
    /// (`/etc/kubernetes/x.sock (socket)`), or deleted between the walk and its copy.
    pub skipped: Vec<String>,
    /// What the node's static pods say (versions, the encryption config).
    pub facts: NodeFacts,
    /// What a restore will miss, for the operator now (an encryption config that is not there).
    pub warnings: Vec<String>,
}

/// What the node's static pods say that a restore needs besides the files: the versions it
/// compares, and the kube-apiserver's encryption config, bundled even when it lives outside the
/// Kubernetes dir (without its keys, Secrets encrypted at rest cannot be read after a restore).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeFacts {
    /// The kube-apiserver image's tag (`v1.28.0`).
    pub kubernetes_version: Option<String>,
    /// The etcd container's image (`registry.k8s.io/etcd:3.5.15-0`).
    pub etcd_image: Option<String>,
    /// `--encryption-provider-config`: its path on the host, and its archive path.
    pub encryption_config: Option<(PathBuf, String)>,
}

/// Reads `manifests/etcd.yaml` and `manifests/kube-apiserver.yaml` below the Kubernetes dir.
/// Nothing here fails the bundle: what cannot be read is a warning.
fn node_facts(sources: &Sources, warnings: &mut Vec<String>) -> NodeFacts {
    use crate::node::manifest::EtcdManifest;
    let manifests = sources.kubernetes_dir.join("manifests");
    let mut facts = NodeFacts::default();
    let mut read = |file: &str, container: &str| match EtcdManifest::load_pod(
        &manifests.join(file),
        container,
    ) {
        Ok(pod) => pod,
        Err(e) => {
            warnings.push(format!("{e}; versions and encryption config not recorded"));
            None
        }
    };
    if let Some(etcd) = read("etcd.yaml", "etcd") {
        facts.etcd_image = etcd.image;
    }
    let Some(api) = read("kube-apiserver.yaml", "kube-apiserver") else {
        return facts;
    };
    facts.kubernetes_version = api
        .image
        .as_deref()
        .and_then(crate::node::manifest::image_tag)
        .map(str::to_string);
    let Some(host) = api.host_path_flag("encryption-provider-config") else {
        return facts;
    };
    let archive = match host.strip_prefix(&sources.kubernetes_dir) {
        Ok(rel) => Path::new(KUBERNETES_ARCHIVE).join(rel),
        Err(_) => host.strip_prefix("/").unwrap_or(&host).to_path_buf(),
    };
    if !host.is_file() {
        warnings.push(format!(
            "{} names --encryption-provider-config {}, which is not a readable file here: the \
             bundle lacks the keys of Secrets encrypted at rest",
            api.path.display(),
            host.display()
        ));
    }
    facts.encryption_config = Some((host, archive.to_string_lossy().into_owned()));
    facts
}

/// Adds the encryption config when it lives outside what the walk archived, where its archive
/// path sorts among the two trees.
fn add_encryption_config(facts: &NodeFacts, items: &mut Vec<Item>) -> Result<()> {
    let Some((host, archive)) = &facts.encryption_config else {
        return Ok(());
    };
    if items.iter().any(|i| i.archive == Path::new(archive)) {
        return Ok(());
    }
    let meta = match fs::symlink_metadata(host) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(BundleError::Read {
                path: host.clone(),
                source,
            })
        }
    };
    let roots = [
        dir_path(Path::new(KUBERNETES_ARCHIVE)),
        dir_path(Path::new(KUBELET_ARCHIVE)),
    ];
    let at = items
        .iter()
        .position(|i| {
            roots.contains(&i.archive) && i.archive.as_os_str() > std::ffi::OsStr::new(archive)
        })
        .unwrap_or(items.len());
    items.insert(
        at,
        Item {
            source: host.clone(),
            archive: PathBuf::from(archive),
            meta,
            kind: Kind::File,
        },
    );
    Ok(())
}

/// Why a bundle could not be written. Every message names the path; no content is ever shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleError {
    /// `<kubernetes_dir>/pki` is missing or not a real directory.
    #[error("{path} {why}")]
    NoPki { path: PathBuf, why: &'static str },
    /// A source file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file changed between the walk and its copy; its entry would not match its header.
    #[error("{path} changed while it was being archived: {what}")]
    Changed { path: PathBuf, what: String },
    /// A directory tree deeper than any kubeadm writes (a guard, as symlinks are not followed).
    #[error("{path} is nested more than {MAX_DEPTH} directories deep below the source dir")]
    TooDeep { path: PathBuf },
    /// The output failed while `entry` (an archive path) was being written.
    #[error("cannot write the bundle entry {entry}")]
    Write {
        entry: String,
        #[source]
        source: io::Error,
    },
}

impl BundleError {
    /// Advice for the operator, where there is any.
    pub(crate) fn hint(&self) -> Option<&'static str> {
        match self {
            BundleError::NoPki { .. } => Some(
                "point etcd-backup at the node's Kubernetes dir (kubeadm's is /etc/kubernetes), \
                 or drop --with-pki",
            ),
            BundleError::Changed { .. } => Some("run save again"),
            _ => None,
        }
    }
}

type Result<T> = std::result::Result<T, BundleError>;

/// One thing to archive, found by the walk before anything is written.
struct Item {
    source: PathBuf,
    /// Archive path; directories end in `/`.
    archive: PathBuf,
    meta: Metadata,
    kind: Kind,
}

enum Kind {
    Dir,
    File,
    Symlink(PathBuf),
}

/// Writes the bundle's tar stream to `out` and returns `out` (after the end-of-archive blocks,
/// not flushed or synced) so the caller can finish its own layers.
///
/// Everything is looked at (`lstat`) before the first byte is written, so a missing `pki/` fails
/// with `out` untouched. A file that changes size while being read fails the run, as does any I/O
/// error; `out` then holds a partial archive, which the caller must discard.
pub(crate) fn write<W: Write>(sources: &Sources, out: W) -> Result<(W, Summary)> {
    let mut summary = Summary::default();
    summary.facts = node_facts(sources, &mut summary.warnings);
    let mut items = collect(sources, &mut summary.skipped)?;
    add_encryption_config(&summary.facts, &mut items)?;

    let mut builder = tar::Builder::new(out);
    let readme = readme(sources, &summary.facts);
    let mut h = header(EntryType::Regular, 0o644, 0, 0, now(), readme.len() as u64);
    builder
        .append_data(&mut h, README_NAME, readme.as_bytes())
        .map_err(|source| BundleError::Write {
            entry: README_NAME.to_string(),
            source,
        })?;
    summary.files.push(README_NAME.to_string());
    summary.bytes += readme.len() as u64;

    for item in &items {
        let entry = item.archive.to_string_lossy().into_owned();
        let write_err = |source| BundleError::Write {
            entry: entry.clone(),
            source,
        };
        let m = &item.meta;
        match &item.kind {
            Kind::Dir => {
                let mut h = header_of(EntryType::Directory, m, 0);
                builder
                    .append_data(&mut h, &item.archive, io::empty())
                    .map_err(write_err)?;
            }
            Kind::Symlink(target) => {
                let mut h = header_of(EntryType::Symlink, m, 0);
                builder
                    .append_link(&mut h, &item.archive, target)
                    .map_err(write_err)?;
            }
            Kind::File => {
                let (file, meta) = match open_file(&item.source) {
                    Ok(opened) => opened,
                    // Deleted since the walk (a rotated kubelet certificate, say): it is gone.
                    Err(BundleError::Read { source, .. })
                        if source.kind() == io::ErrorKind::NotFound =>
                    {
                        let note = format!("{} (removed while archiving)", item.source.display());
                        summary.skipped.push(note);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let mut reader = Exact {
                    file,
                    left: meta.len(),
                    failed: None,
                };
                let mut h = header_of(EntryType::Regular, &meta, meta.len());
                if let Err(e) = builder.append_data(&mut h, &item.archive, &mut reader) {
                    return Err(match reader.failed.take() {
                        Some(Failure::Read(source)) => BundleError::Read {
                            path: item.source.clone(),
                            source,
                        },
                        Some(Failure::Changed(what)) => BundleError::Changed {
                            path: item.source.clone(),
                            what,
                        },
                        None => write_err(e),
                    });
                }
                summary.bytes += meta.len();
            }
        }
        summary.files.push(entry);
    }
    let out = builder.into_inner().map_err(|source| BundleError::Write {
        entry: "end-of-archive blocks".to_string(),
        source,
    })?;
    Ok((out, summary))
}

/// The README, first in the archive.
fn readme(sources: &Sources, facts: &NodeFacts) -> String {
    let mut node = String::new();
    if let Some(v) = &facts.kubernetes_version {
        node.push_str(&format!("\nKubernetes (the kube-apiserver image): {v}\n"));
    }
    if let Some(i) = &facts.etcd_image {
        node.push_str(&format!("etcd image: {i}\n"));
    }
    if let Some((host, archive)) = &facts.encryption_config {
        node.push_str(&format!(
            "\nThe kube-apiserver's --encryption-provider-config ({}) is {archive}: without\n\
             its keys, Secrets encrypted at rest cannot be read after a restore.\n",
            host.display()
        ));
    }
    format!(
        "etcd-backup disaster-recovery bundle
====================================

Written by etcd-backup {version} (`save --with-pki`) beside the etcd snapshot of the same
name. It holds what a kubeadm control-plane node needs to be rebuilt from scratch, besides
etcd's data:

  etc/kubernetes/    from {kube}: pki/ (the cluster's CAs and keys, etcd/,
                     sa.key, front-proxy), manifests/ (static pods), the *.conf
                     kubeconfigs, kubeadm config files; all of it except tmp/
                     and etcd-backup's own restore journal and staging dirs
  var/lib/kubelet/   from {kubelet}: config.yaml, instance-config.yaml,
                     kubeadm-flags.env, pki/ (the kubelet's certificates)

It contains the cluster's private keys: keep it encrypted, readable by root only.
{node}
Paths are relative to / as kubeadm lays them out. Modes, numeric owners and mtimes are
kept; symlinks are stored as symlinks.

To put it back on a rebuilt node with the same hostname and IP, as root, with the kubelet
stopped:

    tar -C / --exclude={readme} -xpf NAME-pki.tar

A .zst or .age bundle is decompressed or decrypted on the way:

    age -d -i key.txt NAME-pki.tar.zst.age | zstd -d | tar -C / --exclude={readme} -xpf -

Then restore etcd from the snapshot with `etcd-backup restore` (node mode). The whole
procedure, and the one with `kubeadm init` / `kubeadm join` for a node with a new identity,
is in etcd-backup's docs/restore.md: \"Rebuilding a control-plane node from scratch with
the DR bundle\".
",
        version = env!("CARGO_PKG_VERSION"),
        kube = sources.kubernetes_dir.display(),
        kubelet = sources.kubelet_dir.display(),
        readme = README_NAME,
    )
}

/// Seconds since the epoch, for the README's mtime.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn header(kind: EntryType, mode: u32, uid: u32, gid: u32, mtime: u64, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode & 0o7777);
    h.set_uid(uid.into());
    h.set_gid(gid.into());
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// A header with the metadata of `m`. No user or group names: tar then restores numeric ids,
/// which is what the rebuilt node's files need (kubeadm's are root's, or its own system users').
fn header_of(kind: EntryType, m: &Metadata, size: u64) -> Header {
    header(
        kind,
        m.mode(),
        m.uid(),
        m.gid(),
        m.mtime().max(0) as u64,
        size,
    )
}

/// Finds everything to archive, in archive order, without following any symlink below the two
/// source dirs.
fn collect(sources: &Sources, skipped: &mut Vec<String>) -> Result<Vec<Item>> {
    let kube = &sources.kubernetes_dir;
    let pki = kube.join("pki");
    match fs::symlink_metadata(&pki) {
        Ok(m) if m.is_dir() => {}
        Ok(m) if m.file_type().is_symlink() => {
            return Err(BundleError::NoPki {
                path: pki,
                why: "is a symlink; the bundle stores symlinks as links and would hold no keys",
            })
        }
        Ok(_) => {
            return Err(BundleError::NoPki {
                path: pki,
                why: NOT_KUBEADM_NOT_DIR,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BundleError::NoPki {
                path: pki,
                why: NOT_KUBEADM_MISSING,
            })
        }
        Err(source) => return Err(BundleError::Read { path: pki, source }),
    }

    let mut items = Vec::new();
    let kube_meta = fs::metadata(kube).map_err(|source| BundleError::Read {
        path: kube.clone(),
        source,
    })?;
    items.push(Item {
        source: kube.clone(),
        archive: dir_path(Path::new(KUBERNETES_ARCHIVE)),
        meta: kube_meta,
        kind: Kind::Dir,
    });
    for name in sorted_names(kube)? {
        let b = name.as_bytes();
        if b == b"tmp" || b.starts_with(b"etcd-backup-") {
            continue;
        }
        let archive = Path::new(KUBERNETES_ARCHIVE).join(&name);
        add(&kube.join(&name), &archive, 0, &mut items, skipped)?;
    }

    let kubelet = &sources.kubelet_dir;
    let mut kubelet_items = Vec::new();
    for name in KUBELET_ITEMS {
        let path = kubelet.join(name);
        match fs::symlink_metadata(&path) {
            Ok(_) => {
                let archive = Path::new(KUBELET_ARCHIVE).join(name);
                add(&path, &archive, 0, &mut kubelet_items, skipped)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(BundleError::Read { path, source }),
        }
    }
    if !kubelet_items.is_empty() {
        let meta = fs::metadata(kubelet).map_err(|source| BundleError::Read {
            path: kubelet.clone(),
            source,
        })?;
        items.push(Item {
            source: kubelet.clone(),
            archive: dir_path(Path::new(KUBELET_ARCHIVE)),
            meta,
            kind: Kind::Dir,
        });
        items.append(&mut kubelet_items);
    }
    Ok(items)
}

/// Adds `source` (not followed if a symlink) and, for a directory, everything below it.
fn add(
    source: &Path,
    archive: &Path,
    depth: usize,
    items: &mut Vec<Item>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(BundleError::TooDeep {
            path: source.to_path_buf(),
        });
    }
    let read_err = |source_err| BundleError::Read {
        path: source.to_path_buf(),
        source: source_err,
    };
    let meta = fs::symlink_metadata(source).map_err(read_err)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(source).map_err(read_err)?;
        items.push(Item {
            source: source.to_path_buf(),
            archive: archive.to_path_buf(),
            meta,
            kind: Kind::Symlink(target),
        });
    } else if ft.is_file() {
        items.push(Item {
            source: source.to_path_buf(),
            archive: archive.to_path_buf(),
            meta,
            kind: Kind::File,
        });
    } else if ft.is_dir() {
        items.push(Item {
            source: source.to_path_buf(),
            archive: dir_path(archive),
            meta,
            kind: Kind::Dir,
        });
        for name in sorted_names(source)? {
            add(
                &source.join(&name),
                &archive.join(&name),
                depth + 1,
                items,
                skipped,
            )?;
        }
    } else {
        skipped.push(format!("{} ({})", source.display(), special_kind(&meta)));
    }
    Ok(())
}

/// What a non-file, non-directory, non-symlink is, for the skipped list.
fn special_kind(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let ft = meta.file_type();
    if ft.is_socket() {
        "socket"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "unknown file type"
    }
}

/// The names in `dir`, sorted bytewise.
fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let read_err = |source| BundleError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        names.push(entry.map_err(read_err)?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// `path` with a trailing `/`, as tar names directories.
fn dir_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

/// Opens a regular file without following a symlink (it may have been swapped for one since the
/// walk) and without blocking on a FIFO; returns its metadata as now open.
fn open_file(path: &Path) -> Result<(File, Metadata)> {
    let flags = (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32;
    let read_err = |source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                BundleError::Changed {
                    path: path.to_path_buf(),
                    what: "it became a symlink".to_string(),
                }
            } else {
                read_err(e)
            }
        })?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(BundleError::Changed {
            path: path.to_path_buf(),
            what: "it is no longer a regular file".to_string(),
        });
    }
    Ok((file, meta))
}

/// Why [`Exact`] stopped.
enum Failure {
    Read(io::Error),
    Changed(String),
}

/// Yields exactly `left` bytes of `file`, or fails: a tar entry's size is written before its
/// data, so a file that shrinks or grows meanwhile must not give a short or long entry.
struct Exact {
    file: File,
    left: u64,
    failed: Option<Failure>,
}

impl Exact {
    fn fail(&mut self, why: Failure) -> io::Error {
        self.failed = Some(why);
        io::Error::other("source file could not be read")
    }
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Past the size: the file must end here.
            let mut probe = [0u8; 1];
            return match self.file.read(&mut probe) {
                Ok(0) => Ok(0),
                Ok(_) => Err(self.fail(Failure::Changed("it grew".to_string()))),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
                Err(e) => Err(self.fail(Failure::Read(e))),
            };
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        match self.file.read(&mut buf[..want]) {
            Ok(0) => {
                let what = format!("it shrank ({} bytes short)", self.left);
                Err(self.fail(Failure::Changed(what)))
            }
            Ok(n) => {
                self.left -= n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.fail(Failure::Read(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::process::Command;

    /// What an entry holds, as compared between the source tree, the tar crate's reading and
    /// GNU tar's extraction.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Content {
        Dir,
        File(Vec<u8>),
        Link(PathBuf),
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Seen {
        content: Content,
        mode: u32,
        uid: u32,
        gid: u32,
        mtime: u64,
    }

    const LONG_DIR: &str = "a-directory-name-long-enough-that-the-archive-path-is-over-one-hundred\
                            -bytes-and-needs-a-gnu-long-name";

    fn put(path: &Path, body: &[u8], mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A node laid out as kubeadm does, under `root`.
    fn kubeadm_node(root: &Path) -> Sources {
        let k = root.join("etc/kubernetes");
        let l = root.join("var/lib/kubelet");
        for (p, mode) in [
            ("pki/ca.crt", 0o644),
            ("pki/ca.key", 0o600),
            ("pki/apiserver.crt", 0o644),
            ("pki/apiserver.key", 0o600),
            ("pki/apiserver-etcd-client.crt", 0o644),
            ("pki/apiserver-etcd-client.key", 0o600),
            ("pki/sa.key", 0o600),
            ("pki/sa.pub", 0o644),
            ("pki/front-proxy-ca.crt", 0o644),
            ("pki/front-proxy-ca.key", 0o600),
            ("pki/etcd/ca.crt", 0o644),
            ("pki/etcd/ca.key", 0o600),
            ("pki/etcd/server.key", 0o600),
            ("pki/etcd/peer.key", 0o600),
            ("pki/etcd/healthcheck-client.key", 0o600),
            ("manifests/etcd.yaml", 0o600),
            ("manifests/kube-apiserver.yaml", 0o600),
            ("admin.conf", 0o600),
            ("super-admin.conf", 0o600),
            ("controller-manager.conf", 0o600),
            ("scheduler.conf", 0o600),
            ("kubelet.conf", 0o600),
            ("kubeadm-config.yaml", 0o644),
            ("enc/encryption-config.yaml", 0o600),
            // Left out: kubeadm's scratch and a restore's staging dir.
            ("tmp/kubeadm-backup-etcd-2026/etcd/member/snap/db", 0o600),
            ("etcd-backup-staging-20260101T000000.000Z/etcd.yaml", 0o600),
            ("etcd-backup-restore-journal.json", 0o600),
        ] {
            put(&k.join(p), format!("body of {p}\n").as_bytes(), mode);
        }
        put(
            &k.join("pki").join(LONG_DIR).join("extra.crt"),
            b"long path\n",
            0o640,
        );
        // An empty file and a file bigger than one tar block.
        put(&k.join("pki/empty"), b"", 0o644);
        put(&k.join("pki/etcd/server.crt"), &vec![b'x'; 5000], 0o644);
        let pem = l.join("pki/kubelet-client-2026-01-01-00-00-00.pem");
        for (p, mode) in [
            ("config.yaml", 0o644),
            ("kubeadm-flags.env", 0o644),
            ("pki/kubelet.crt", 0o644),
            ("pki/kubelet.key", 0o600),
            ("pki/kubelet-client-2026-01-01-00-00-00.pem", 0o600),
            // Left out: the kubelet's runtime state.
            ("pods/uid/volumes/secret", 0o600),
            ("cpu_manager_state", 0o644),
        ] {
            put(&l.join(p), format!("kubelet {p}\n").as_bytes(), mode);
        }
        // kubelet.conf points at this symlink; its absolute target is stored as it is.
        symlink(&pem, l.join("pki/kubelet-client-current.pem")).unwrap();
        // A relative symlink with a target over 100 bytes (GNU long link name).
        let long_target = format!("../{LONG_DIR}/{LONG_DIR}/nowhere");
        symlink(&long_target, k.join("manifests/dangling-long-link")).unwrap();
        // A socket: skipped, noted.
        let sock = k.join("manifests/a.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        // Owners and a fixed mtime, to see them preserved.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(k.join("pki/sa.key"), Some(1234), Some(5678)).unwrap();
        }
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        File::options()
            .write(true)
            .open(k.join("pki/ca.key"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        fs::set_permissions(k.join("pki/etcd"), fs::Permissions::from_mode(0o700)).unwrap();
        Sources {
            kubernetes_dir: k,
            kubelet_dir: l,
        }
    }

    /// The source entry behind archive path `name`.
    fn source_of(sources: &Sources, name: &str) -> PathBuf {
        let name = name.trim_end_matches('/');
        if let Some(rest) = name.strip_prefix(KUBERNETES_ARCHIVE) {
            sources.kubernetes_dir.join(rest.trim_start_matches('/'))
        } else if let Some(rest) = name.strip_prefix(KUBELET_ARCHIVE) {
            sources.kubelet_dir.join(rest.trim_start_matches('/'))
        } else {
            panic!("unexpected archive path {name}")
        }
    }

    /// What is on disk at `path` (not following a symlink).
    fn seen_on_disk(path: &Path) -> Seen {
        let m = fs::symlink_metadata(path).unwrap();
        let content = if m.file_type().is_symlink() {
            Content::Link(fs::read_link(path).unwrap())
        } else if m.is_dir() {
            Content::Dir
        } else {
            Content::File(fs::read(path).unwrap())
        };
        Seen {
            content,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime() as u64,
        }
    }

    /// Reads the archive with the tar crate: entries by path, in order.
    fn read_with_tar_crate(bytes: &[u8]) -> Vec<(String, Seen)> {
        let mut ar = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let content = match h.entry_type() {
                EntryType::Directory => Content::Dir,
                EntryType::Symlink => Content::Link(e.link_name().unwrap().unwrap().into_owned()),
                EntryType::Regular => {
                    let mut v = Vec::new();
                    e.read_to_end(&mut v).unwrap();
                    Content::File(v)
                }
                other => panic!("{name}: unexpected entry type {other:?}"),
            };
            let seen = Seen {
                content,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap() as u32,
                gid: h.gid().unwrap() as u32,
                mtime: h.mtime().unwrap(),
            };
            out.push((name, seen));
        }
        out
    }

    fn gnu_tar(args: &[&str]) -> (String, String) {
        let out = Command::new("tar").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "tar {args:?} failed: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    }

    #[test]
    fn a_kubeadm_node_round_trips_through_the_tar_crate_and_gnu_tar() {
        let d = tempfile::tempdir().unwrap();
        let sources = kubeadm_node(&d.path().join("node"));
        let (bytes, summary) = write(&sources, Vec::new()).unwrap();
        assert_eq!(bytes.len() % 512, 0);

        // The tar crate: every entry, in order, matches the source.
        let entries = read_with_tar_crate(&bytes);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            summary.files.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(names[0], README_NAME);
        check_readme(&entries[0].1, &sources);
        let mut content_bytes = match &entries[0].1.content {
            Content::File(readme) => readme.len() as u64,
            _ => unreachable!("checked above"),
        };
        for (name, seen) in &entries[1..] {
            let expected = seen_on_disk(&source_of(&sources, name));
            assert_eq!(seen, &expected, "{name}");
            if let Content::File(b) = &seen.content {
                content_bytes += b.len() as u64;
            }
        }
        assert_eq!(summary.bytes, content_bytes);

        // Exactly the expected paths, in sorted walk order, each directory before its contents.
        assert_eq!(names, expected_kubeadm_node_paths());
        assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
        assert!(summary.skipped[0].ends_with("manifests/a.sock (socket)"));

        check_modes_and_owners(&entries);
        extracts_with_gnu_tar(d.path(), &bytes, &entries);
    }

    /// The README entry: a file that names the version, the source dir and how to extract.
    fn check_readme(readme: &Seen, sources: &Sources) {
        let Content::File(readme) = &readme.content else {
            panic!("README is not a file")
        };
        let readme = String::from_utf8(readme.clone()).unwrap();
        assert!(readme.contains(env!("CARGO_PKG_VERSION")));
        assert!(readme.contains(&sources.kubernetes_dir.display().to_string()));
        assert!(readme.contains("tar -C / --exclude=etcd-backup-bundle.txt -xpf"));
    }

    /// The archive paths of [`kubeadm_node`]'s bundle, in order.
    fn expected_kubeadm_node_paths() -> Vec<String> {
        let long_dir = format!("etc/kubernetes/pki/{LONG_DIR}/");
        let long_file = format!("{long_dir}extra.crt");
        [
            README_NAME,
            "etc/kubernetes/",
            "etc/kubernetes/admin.conf",
            "etc/kubernetes/controller-manager.conf",
            "etc/kubernetes/enc/",
            "etc/kubernetes/enc/encryption-config.yaml",
            "etc/kubernetes/kubeadm-config.yaml",
            "etc/kubernetes/kubelet.conf",
            "etc/kubernetes/manifests/",
            "etc/kubernetes/manifests/dangling-long-link",
            "etc/kubernetes/manifests/etcd.yaml",
            "etc/kubernetes/manifests/kube-apiserver.yaml",
            "etc/kubernetes/pki/",
            &long_dir,
            &long_file,
            "etc/kubernetes/pki/apiserver-etcd-client.crt",
            "etc/kubernetes/pki/apiserver-etcd-client.key",
            "etc/kubernetes/pki/apiserver.crt",
            "etc/kubernetes/pki/apiserver.key",
            "etc/kubernetes/pki/ca.crt",
            "etc/kubernetes/pki/ca.key",
            "etc/kubernetes/pki/empty",
            "etc/kubernetes/pki/etcd/",
            "etc/kubernetes/pki/etcd/ca.crt",
            "etc/kubernetes/pki/etcd/ca.key",
            "etc/kubernetes/pki/etcd/healthcheck-client.key",
            "etc/kubernetes/pki/etcd/peer.key",
            "etc/kubernetes/pki/etcd/server.crt",
            "etc/kubernetes/pki/etcd/server.key",
            "etc/kubernetes/pki/front-proxy-ca.crt",
            "etc/kubernetes/pki/front-proxy-ca.key",
            "etc/kubernetes/pki/sa.key",
            "etc/kubernetes/pki/sa.pub",
            "etc/kubernetes/scheduler.conf",
            "etc/kubernetes/super-admin.conf",
            "var/lib/kubelet/",
            "var/lib/kubelet/config.yaml",
            "var/lib/kubelet/kubeadm-flags.env",
            "var/lib/kubelet/pki/",
            "var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem",
            "var/lib/kubelet/pki/kubelet-client-current.pem",
            "var/lib/kubelet/pki/kubelet.crt",
            "var/lib/kubelet/pki/kubelet.key",
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// The kube-apiserver's encryption config is bundled where it is, also outside the
    /// Kubernetes dir, and the versions are recorded; a config that is not there is a warning.
    #[test]
    fn the_encryption_config_and_the_versions_come_along() {
        let tmp = tempfile::tempdir().unwrap();
        let sources = kubeadm_node(tmp.path());
        let enc_dir = tmp.path().join("srv/k8s-enc");
        put(
            &enc_dir.join("config.yaml"),
            b"kind: EncryptionConfiguration\n",
            0o600,
        );
        let apiserver = |enc_host: &Path| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  \
                 containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.31.2\n    \
                 command:\n    - kube-apiserver\n    \
                 - --encryption-provider-config=/etc/kubernetes/enc/config.yaml\n    \
                 volumeMounts:\n    - mountPath: /etc/kubernetes/enc\n      name: enc\n  \
                 volumes:\n  - hostPath:\n      path: {}\n    name: enc\n",
                enc_host.display()
            )
        };
        let manifests = sources.kubernetes_dir.join("manifests");
        put(
            &manifests.join("kube-apiserver.yaml"),
            apiserver(&enc_dir).as_bytes(),
            0o600,
        );
        put(
            &manifests.join("etcd.yaml"),
            b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    \
              image: registry.k8s.io/etcd:3.5.15-0\n    command:\n    - etcd\n    - --name=cp1\n",
            0o600,
        );
        let (bytes, summary) = write(&sources, Vec::new()).unwrap();
        assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
        assert_eq!(summary.facts.kubernetes_version.as_deref(), Some("v1.31.2"));
        assert_eq!(
            summary.facts.etcd_image.as_deref(),
            Some("registry.k8s.io/etcd:3.5.15-0")
        );
        let archive = enc_dir
            .join("config.yaml")
            .strip_prefix("/")
            .unwrap()
            .to_path_buf();
        let archive = archive.to_string_lossy().into_owned();
        let entries = read_with_tar_crate(&bytes);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&archive.as_str()), "{names:?}");
        // Between the two trees when its path sorts there, as GNU tar lists it.
        let mut sorted_roots = names.clone();
        sorted_roots
            .retain(|n| *n == archive || *n == "etc/kubernetes/" || *n == "var/lib/kubelet/");
        let mut want = sorted_roots.clone();
        want.sort();
        assert_eq!(sorted_roots, want);
        let Content::File(body) = &entries[0].1.content else {
            panic!("the README is not a file")
        };
        let readme = String::from_utf8_lossy(body).into_owned();
        assert!(
            readme.contains("v1.31.2") && readme.contains(&archive),
            "{readme}"
        );

        // Pointing at a file that is not there: bundled without it, and said.
        put(
            &manifests.join("kube-apiserver.yaml"),
            apiserver(&tmp.path().join("nowhere")).as_bytes(),
            0o600,
        );
        let (_, summary) = write(&sources, Vec::new()).unwrap();
        assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
        assert!(
            summary.warnings[0].contains("encrypted at rest"),
            "{:?}",
            summary.warnings
        );
    }

    /// Modes and owners as [`kubeadm_node`] set them.
    fn check_modes_and_owners(entries: &[(String, Seen)]) {
        let by_name: BTreeMap<&str, &Seen> = entries.iter().map(|(n, s)| (n.as_str(), s)).collect();
        assert_eq!(by_name["etc/kubernetes/pki/ca.key"].mode, 0o600);
        assert_eq!(by_name["etc/kubernetes/pki/ca.key"].mtime, 1_700_000_000);
        assert_eq!(by_name["etc/kubernetes/pki/etcd/"].mode, 0o700);
        if rustix::process::geteuid().is_root() {
            let sa = by_name["etc/kubernetes/pki/sa.key"];
            assert_eq!((sa.uid, sa.gid), (1234, 5678));
        }
    }

    /// GNU tar lists and extracts the archive `bytes` (written under `dir`) without a word on
    /// stderr, and every entry comes out as the tar crate read it.
    fn extracts_with_gnu_tar(dir: &Path, bytes: &[u8], entries: &[(String, Seen)]) {
        let file = dir.join("b-pki.tar");
        fs::write(&file, bytes).unwrap();
        let file_s = file.to_str().unwrap();
        let (listing, stderr) = gnu_tar(&["-tvf", file_s]);
        assert_eq!(stderr, "");
        assert_eq!(listing.lines().count(), entries.len(), "{listing}");
        assert!(listing.lines().next().unwrap().ends_with(README_NAME));
        let into = dir.join("restored");
        fs::create_dir(&into).unwrap();
        let into_s = into.to_str().unwrap();
        let (_, stderr) = gnu_tar(&[
            "-C",
            into_s,
            "--exclude=etcd-backup-bundle.txt",
            "-xpf",
            file_s,
        ]);
        assert_eq!(stderr, "");
        assert!(!into.join(README_NAME).exists(), "--exclude keeps / clean");
        for (name, seen) in &entries[1..] {
            let on_disk = seen_on_disk(&into.join(name.trim_end_matches('/')));
            let mut expected = seen.clone();
            if !rustix::process::geteuid().is_root() {
                // Only root gets the archived owners back.
                expected.uid = on_disk.uid;
                expected.gid = on_disk.gid;
            }
            if matches!(seen.content, Content::Link(_)) {
                // Symlink mtimes are not restored by tar; their mode is always 0777.
                expected.mtime = on_disk.mtime;
            }
            assert_eq!(on_disk, expected, "{name}");
        }
    }

    #[test]
    fn a_missing_pki_dir_is_a_clear_error_and_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("kubernetes");
        put(&k.join("admin.conf"), b"x", 0o600);
        let sources = Sources {
            kubernetes_dir: k.clone(),
            kubelet_dir: d.path().join("kubelet"),
        };
        let mut out = Vec::new();
        let err = write(&sources, &mut out).expect_err("must fail");
        assert!(matches!(err, BundleError::NoPki { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{} does not exist", k.join("pki").display())),
            "{msg}"
        );
        assert!(msg.contains("not a kubeadm control-plane node"), "{msg}");
        assert!(err.hint().unwrap().contains("--with-pki"));
        assert!(out.is_empty());

        // A whole missing dir says the same; a symlinked pki dir is refused, not followed.
        let sources = Sources {
            kubernetes_dir: d.path().join("nowhere"),
            ..Sources::default()
        };
        assert!(matches!(
            write(&sources, Vec::new()),
            Err(BundleError::NoPki { .. })
        ));
        fs::create_dir(d.path().join("real-pki")).unwrap();
        symlink(d.path().join("real-pki"), k.join("pki")).unwrap();
        let sources = Sources {
            kubernetes_dir: k,
            kubelet_dir: d.path().join("kubelet"),
        };
        let err = write(&sources, Vec::new()).expect_err("must fail");
        assert!(err.to_string().contains("is a symlink"), "{err}");
    }

    #[test]
    fn a_file_that_changes_size_while_read_fails_the_run() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"0123456789").unwrap();
        for (expected_len, what) in [(12, "shrank"), (8, "grew")] {
            let (file, _) = open_file(&p).unwrap();
            let mut r = Exact {
                file,
                left: expected_len,
                failed: None,
            };
            let mut sink = Vec::new();
            assert!(io::copy(&mut r, &mut sink).is_err());
            match r.failed {
                Some(Failure::Changed(w)) => assert!(w.contains(what), "{w}"),
                _ => panic!("expected a change to be detected"),
            }
        }
        // Opening never follows a symlink.
        symlink(&p, d.path().join("link")).unwrap();
        assert!(matches!(
            open_file(&d.path().join("link")),
            Err(BundleError::Changed { .. })
        ));
    }

    #[test]
    fn defaults_are_kubeadms_paths() {
        let s = Sources::default();
        assert_eq!(s.kubernetes_dir, Path::new("/etc/kubernetes"));
        assert_eq!(s.kubelet_dir, Path::new("/var/lib/kubelet"));
    }
}
