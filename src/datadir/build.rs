//! The data-dir build engine behind `restore`: a new etcd data dir built natively from a snapshot
//! (`restore --output-dir`, and the build step of a node restore).
//!
//! Order of work, chosen so that a failure at any point leaves nothing behind:
//! 1. the new cluster from flags, the kubeadm manifest or etcdutl's defaults, validated as
//!    etcdutl validates it (docs/formats.md §5.2);
//! 2. the snapshot opened read-only; the output dir must not exist or be empty, the WAL dir must
//!    not exist, and there must be room for the db and the 64 MB WAL;
//! 3. in `.<dir>.restoring` beside the target (0700): the db rewritten (`datadir::db`) while
//!    another thread checks the SHA-256 trailer, then the `.snap` and the WAL;
//! 4. fsync everything, rename the WAL dir (if separate) and then the data dir into place, fsync
//!    the parents. Until then, any failure removes the temp dirs, and so does SIGINT/SIGTERM
//!    (exit 130): the build checks for one between phases and while it rewrites the db.
//!
//! An output dir that is an existing, empty mount point (a dedicated etcd disk) cannot be renamed
//! onto, and a tree built beside it would be on the parent's file system: there the tree is built
//! in `<dir>/.etcd-backup-restoring` and `member/` is renamed into `<dir>` at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::backup::layers::{self, Layers};
use crate::backup::named::Named;
use crate::backup::verify::{self, SpillError, Trailer};
use crate::bbolt::Db;
use crate::datadir::{db, member, snap, wal};
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::node::manifest::EtcdManifest;
use crate::output::human_bytes;

/// The bump etcd's disaster-recovery guide suggests: about a week of writes at 1,500/s.
pub(crate) const DEFAULT_BUMP: u64 = 1_000_000_000;

/// Room left free beyond the db and the WAL.
const FREE_SPACE_RESERVE: u64 = 64 << 20;

/// What the build tells the operator as it goes; the command prints it (`Printer` implements
/// this in `commands/restore.rs`).
pub(crate) trait Progress {
    /// A phase begins (shown at the normal level).
    fn phase(&self, msg: String);
    /// A detail (shown with `-v`).
    fn detail(&self, msg: String);
    /// Something the operator must know; the work goes on.
    fn warn(&self, msg: String);
}

/// The member and cluster flags of `restore`, as given (`None`: not given).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterFlags {
    pub name: Option<String>,
    pub initial_cluster: Option<String>,
    pub initial_advertise_peer_urls: Option<String>,
    pub initial_cluster_token: Option<String>,
}

/// The revision flags of `restore`, as given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BumpFlags {
    pub bump_revision: Option<u64>,
    pub mark_compacted: bool,
    pub no_bump_revision: bool,
}

/// How the tree reaches the output dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Built in `.<dir>.restoring` beside it and renamed to `<dir>` (which does not exist).
    Create,
    /// Built in `.<dir>.restoring` beside it and renamed over the empty `<dir>`.
    ReplaceEmpty,
    /// `<dir>` is an empty mount point: built in `<dir>/.etcd-backup-restoring` on its file
    /// system, `member/` renamed into `<dir>`.
    IntoMount,
}

/// Name of the temp dir inside a mount point.
const MOUNT_TEMP: &str = ".etcd-backup-restoring";

/// The way `out_dir` will be committed, and the temp dir the tree is built in; both refused (as
/// the build would refuse them) when a crashed restore left a temp dir or the target is in use.
pub(crate) fn commit_of(out_dir: &Path) -> anyhow::Result<(Commit, PathBuf)> {
    if fsutil::is_mount_point(out_dir)? {
        let tmp = out_dir.join(MOUNT_TEMP);
        if tmp.symlink_metadata().is_ok() {
            return Err(anyhow!(
                "{} exists: an earlier restore into {} did not finish",
                tmp.display(),
                out_dir.display()
            ))
            .hint(format!(
                "no etcd uses it; remove it (rm -r {}) and run restore again",
                tmp.display()
            ));
        }
        check_target_in_mount(out_dir)?;
        return Ok((Commit::IntoMount, tmp));
    }
    check_target(out_dir, true)?;
    let commit = if out_dir.symlink_metadata().is_ok() {
        Commit::ReplaceEmpty
    } else {
        Commit::Create
    };
    Ok((commit, temp_dir_for(out_dir)?))
}

/// Whether two paths name the same directory: canonically where they exist, else as written
/// with `.`/`..` and trailing slashes resolved.
pub(crate) fn same_dir(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| -> PathBuf {
        if let Ok(c) = std::fs::canonicalize(p) {
            return c;
        }
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out = PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    };
    norm(a) == norm(b)
}

/// `ETCD_BACKUP_FAILPOINT=output-commit:hang` (tests): the build waits before its commit until a
/// signal comes.
fn hang_before_commit() {
    if std::env::var("ETCD_BACKUP_FAILPOINT").as_deref() == Ok("output-commit:hang") {
        let t = Instant::now();
        while interrupt::received().is_none() && t.elapsed() < Duration::from_secs(3600) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The snapshot to restore as a plain file: the file named, or a plain copy taken out of its
/// layers (decrypted, decompressed) into the directory where the restored data will live anyway.
/// A copy is removed when dropped, unless [`Input::keep`] was called.
pub(crate) struct Input {
    pub path: PathBuf,
    /// Set when `path` is our copy.
    fetched: bool,
}

impl Input {
    /// The snapshot named on the command line, opened; `identities` are the age identity files
    /// for an encrypted one; `work_dir` takes the copy when one is needed.
    pub(crate) fn resolve(
        named: Named,
        identities: &[PathBuf],
        work_dir: &Path,
        progress: &dyn Progress,
    ) -> anyhow::Result<Input> {
        let layers = named.layers();
        if let (Named::Local(path), true) = (&named, layers.is_plain()) {
            return Ok(Input {
                path: path.clone(),
                fetched: false,
            });
        }
        let identities = layers::load_identities(identities)
            .hint("pass the age identity the backup was encrypted to (mode 0600)")?;
        let mut stored = named.reader()?;
        Input::fetch(
            &mut stored,
            &named.shown(),
            layers,
            &identities,
            work_dir,
            progress,
        )
    }

    /// Undoes the layers of `stored` into a 0600 file in `work_dir`.
    fn fetch(
        stored: &mut (dyn std::io::Read + Send),
        name: &str,
        layers: Layers,
        identities: &[age::x25519::Identity],
        work_dir: &Path,
        progress: &dyn Progress,
    ) -> anyhow::Result<Input> {
        fsutil::create_private_dir(work_dir)?;
        let plain_name = Layers::strip(name.rsplit('/').next().unwrap_or("snapshot.db"))
            .0
            .to_string();
        let path = work_dir.join(format!(
            ".etcd-backup-restore-{}-{plain_name}",
            std::process::id()
        ));
        progress.phase(if layers.is_plain() {
            format!("copying {name} into {}", path.display())
        } else {
            format!(
                "taking {name} out of its {} layers into {}",
                layers.describe(),
                path.display()
            )
        });
        let file = fsutil::create_new_private(&path)?;
        // From here on, `input` removes the copy on every early return.
        let input = Input {
            path: path.clone(),
            fetched: true,
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let u =
            verify::unlayer(stored, name, layers, identities, &mut out, work_dir).map_err(|e| {
                let hint = match &e {
                    SpillError::Keys(_) => {
                        "pass the age identity it was encrypted to with --identity FILE (the \
                         backup's sidecar lists its recipients)"
                    }
                    SpillError::Damaged(_) => {
                        "the backup is damaged; restore an older one (`etcd-backup verify \
                         --all` lists the good ones)"
                    }
                    SpillError::Write { .. } => "free space there, or choose another directory",
                    SpillError::Read { .. } => "check the path or the connection and try again",
                };
                with_hint(e, hint)
            })?;
        let file = out
            .into_inner()
            .map_err(|e| FsError::io("cannot write", &path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| FsError::io("cannot fsync", &path, e))?;
        progress.detail(format!(
            "{name}: {} stored, {} of snapshot (SHA-256 {})",
            human_bytes(u.stored_size),
            human_bytes(u.snapshot_size),
            hex::encode(u.snapshot_sha256)
        ));
        Ok(input)
    }

    /// Leaves the copy in place (a node restore that stopped part-way needs it to resume).
    pub(crate) fn keep(mut self) -> PathBuf {
        self.fetched = false;
        std::mem::take(&mut self.path)
    }

    /// Whether `path` is a copy this run made.
    pub(crate) fn is_copy(&self) -> bool {
        self.fetched
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        if self.fetched {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What to build where.
pub(crate) struct Build<'a> {
    pub snapshot: &'a Path,
    pub out_dir: &'a Path,
    pub wal_dir: Option<&'a Path>,
    pub cluster: &'a member::Cluster,
    pub bump: Option<u64>,
    pub keep_alarms: bool,
    pub skip_hash_check: bool,
}

/// Builds a complete data dir at `spec.out_dir` (and the WAL at `spec.wal_dir`), or nothing.
pub(crate) fn build(spec: &Build<'_>, progress: &dyn Progress) -> anyhow::Result<db::Rewritten> {
    let cluster = spec.cluster;
    let local = &cluster.members[cluster.local];
    let src = spec.snapshot;
    let out_dir = spec.out_dir;
    let source = Db::open(src).hint(format!(
        "check the path; `etcd-backup verify {}` says what is wrong with a damaged file",
        src.display()
    ))?;
    let (commit, tmp) = commit_of(out_dir)?;
    let wal_dir = separate_wal_dir(spec)?;
    let parent = fsutil::parent_dir(out_dir);
    check_room(out_dir, commit, &parent, source.file_len())?;

    interrupt::check()?;
    let mut temps = TempDirs::default();
    temps.create(&tmp)?;
    let snap_dir = tmp.join("member").join("snap");
    for d in [tmp.join("member"), snap_dir.clone()] {
        temps.mkdir(&d)?;
    }
    let db_path = snap_dir.join("db");
    let db_file = fsutil::create_new_private(&db_path)?;

    progress.phase(format!(
        "restoring {} ({}) as member {} ({:x}) of {} into {}",
        src.display(),
        human_bytes(source.file_len()),
        local.name,
        local.id,
        cluster_words(cluster),
        out_dir.display()
    ));
    let rewritten = rewrite_db(spec, &source, db_file, &db_path, progress)?;

    snap::write_snap(&snap_dir, cluster)?;
    let wal_build = match &wal_dir {
        Some(w) => {
            let t = temp_dir_for(w)?;
            fsutil::create_private_dir(&fsutil::parent_dir(w))?;
            temps.track(&t);
            t
        }
        None => tmp.join("member").join("wal"),
    };
    interrupt::check()?;
    wal::write_wal(&wal_build, cluster)?;
    for d in [&snap_dir, &tmp.join("member"), &tmp] {
        fsutil::fsync_dir(d)?;
    }
    hang_before_commit();
    interrupt::check()?;

    // The commit: the WAL dir first (if separate), then the data dir.
    if let Some(w) = &wal_dir {
        fsutil::rename_noreplace(&wal_build, w)?;
        fsutil::fsync_dir(&fsutil::parent_dir(w))?;
        temps.untrack(&wal_build);
        temps.track_committed(w);
    }
    commit_tree(commit, &tmp, out_dir, &mut temps, progress)?;
    Ok(rewritten)
}

/// `spec.wal_dir` when it is not the default `<out_dir>/member/wal`: checked, it must not be
/// inside the data dir.
fn separate_wal_dir(spec: &Build<'_>) -> anyhow::Result<Option<PathBuf>> {
    let out_dir = spec.out_dir;
    match spec.wal_dir {
        Some(w) if w != out_dir.join("member").join("wal") => {
            if w.starts_with(out_dir) {
                return Err(anyhow!(
                    "--wal-dir {} is inside --output-dir {}",
                    w.display(),
                    out_dir.display()
                ))
                .hint(
                    "leave --wal-dir out (the WAL goes to <output-dir>/member/wal) or put it \
                       outside the data dir",
                );
            }
            check_target(w, false)?;
            Ok(Some(w.to_path_buf()))
        }
        _ => Ok(None),
    }
}

/// Room for a db of `db_len` bytes and the WAL where the tree is built: beside the target
/// (`parent`, created if need be), or inside it for a mount point.
fn check_room(out_dir: &Path, commit: Commit, parent: &Path, db_len: u64) -> anyhow::Result<()> {
    let room = if commit == Commit::IntoMount {
        out_dir.to_path_buf()
    } else {
        fsutil::create_private_dir(parent)
            .hint("make the parent directory writable, or choose another --output-dir")?;
        parent.to_path_buf()
    };
    let need = db_len + wal::SEGMENT_SIZE + FREE_SPACE_RESERVE;
    let free = fsutil::available_space(&room)?;
    if free < need {
        return Err(anyhow!(
            "not enough free space in {}: {} available, need {} (snapshot {} + 64 MB WAL + {} \
             reserve)",
            room.display(),
            human_bytes(free),
            human_bytes(need),
            human_bytes(db_len),
            human_bytes(FREE_SPACE_RESERVE)
        ))
        .hint("free space there, or choose another --output-dir");
    }
    Ok(())
}

/// The db rewritten into `db_file` while another thread checks the snapshot's SHA-256 trailer;
/// a missing trailer is accepted only with `skip_hash_check`.
fn rewrite_db(
    spec: &Build<'_>,
    source: &Db,
    db_file: std::fs::File,
    db_path: &Path,
    progress: &dyn Progress,
) -> anyhow::Result<db::Rewritten> {
    let src = spec.snapshot;
    let opts = db::Options {
        members: &spec.cluster.members,
        bump: spec.bump,
        keep_alarms: spec.keep_alarms,
        stop: || interrupt::check().is_err(),
    };
    let (trailer, rewritten) = std::thread::scope(|s| {
        let hashing = s.spawn(|| verify::check_trailer(src));
        let rewritten = db::rewrite(source, db_file, &opts);
        let trailer = hashing
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("hash thread panicked")));
        (trailer, rewritten)
    });
    interrupt::check()?;
    match trailer.map_err(|e| FsError::io("cannot read", src, e))? {
        Trailer::Matches { .. } => {}
        Trailer::Missing { .. } if spec.skip_hash_check => progress.warn(format!(
            "{} has no SHA-256 trailer; restoring without a hash check (--skip-hash-check)",
            src.display()
        )),
        Trailer::Missing { size } => {
            return Err(anyhow!(
                "{} has no SHA-256 trailer (size {size} is not 32 past a multiple of 512), so \
                 it is not a complete snapshot",
                src.display()
            ))
            .hint(
                "restore a file written by `etcd-backup save` or `etcdctl snapshot save`; a raw \
                 member/snap/db copy can be restored with --skip-hash-check",
            )
        }
        Trailer::Mismatch { stored, computed } => {
            return Err(anyhow!(
                "{} is damaged: its SHA-256 trailer says {}, its data hashes to {}",
                src.display(),
                hex::encode(stored),
                hex::encode(computed)
            ))
            .hint("restore an older backup (`etcd-backup verify --all` lists the good ones)")
        }
    }
    rewritten
        .map_err(|e| match e {
            db::RewriteError::Write(io) => {
                anyhow::Error::from(FsError::io("cannot write", db_path, io))
            }
            other => anyhow::Error::from(other),
        })
        .hint("restore an older backup (`etcd-backup verify --all` lists the good ones)")
}

/// The finished tree in `tmp` renamed into `out_dir` (or its `member/` into a mount point), the
/// parent fsynced; from then on nothing is removed on drop.
fn commit_tree(
    commit: Commit,
    tmp: &Path,
    out_dir: &Path,
    temps: &mut TempDirs,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    if commit == Commit::IntoMount {
        let member = out_dir.join("member");
        fsutil::rename_noreplace(&tmp.join("member"), &member)?;
        fsutil::fsync_dir(out_dir)?;
        temps.disarm();
        // Empty now; a failure to remove it leaves only an empty hidden dir.
        if let Err(e) = std::fs::remove_dir(tmp).map_err(|e| FsError::io("cannot remove", tmp, e)) {
            progress.warn(format!("{e}; remove it by hand"));
        }
        fsutil::fsync_dir(out_dir)?;
    } else {
        move_into_place(tmp, out_dir)?;
        fsutil::fsync_dir(&fsutil::parent_dir(out_dir))?;
        temps.disarm();
    }
    Ok(())
}

/// `--bump-revision N --mark-compacted` together, neither (the default bump), or
/// `--no-bump-revision`; one of the pair alone is refused, as etcdutl refuses it.
pub(crate) fn bump_of(flags: &BumpFlags) -> anyhow::Result<Option<u64>> {
    match (
        flags.bump_revision,
        flags.mark_compacted,
        flags.no_bump_revision,
    ) {
        (_, _, true) => Ok(None),
        (Some(n), true, _) => Ok(Some(n)),
        (None, false, _) => Ok(Some(DEFAULT_BUMP)),
        (Some(_), false, _) => Err(anyhow!("--mark-compacted required if --bump-revision > 0"))
            .hint("add --mark-compacted (or leave both out for the default bump of 1000000000)"),
        (None, true, _) => Err(anyhow!("--mark-compacted needs --bump-revision N"))
            .hint("leave both out for the default bump of 1000000000 with compaction"),
    }
}

/// The new cluster: each setting from its flag, else the kubeadm manifest, else etcdutl's default.
pub(crate) fn cluster_of(
    flags: &ClusterFlags,
    manifest: Option<&EtcdManifest>,
    progress: &dyn Progress,
) -> anyhow::Result<member::Cluster> {
    let from = |flag: &Option<String>, name: &str| -> Option<(String, String)> {
        if let Some(v) = flag {
            return Some((v.clone(), format!("--{name}")));
        }
        let m = manifest?;
        m.flag(name)
            .map(|v| (v.to_string(), format!("manifest {}", m.path.display())))
    };
    let (name, name_src) =
        from(&flags.name, "name").unwrap_or_else(|| ("default".into(), "default".into()));
    let (advertise, adv_src) = from(
        &flags.initial_advertise_peer_urls,
        "initial-advertise-peer-urls",
    )
    .unwrap_or_else(|| ("http://localhost:2380".into(), "default".into()));
    let (initial, init_src) =
        from(&flags.initial_cluster, "initial-cluster").unwrap_or_else(|| {
            // etcdutl's default is default=http://localhost:2380 whatever --name says, which makes
            // `--name X` alone fail; X=<advertise URLs> is what such a user means.
            let items: Vec<String> = advertise
                .split(',')
                .map(|u| format!("{name}={}", u.trim()))
                .collect();
            (items.join(","), "--name and the advertise URLs".into())
        });
    let (token, token_src) = from(&flags.initial_cluster_token, "initial-cluster-token")
        .unwrap_or_else(|| ("etcd-cluster".into(), "default".into()));
    progress.detail(format!(
        "--name {name} ({name_src}), --initial-cluster {initial} ({init_src}), \
         --initial-advertise-peer-urls {advertise} ({adv_src}), --initial-cluster-token \
         {token} ({token_src})"
    ));
    member::build_cluster(&name, &initial, &advertise, &token)
        .map_err(|e| anyhow!("invalid cluster: {e}"))
        .hint(format!(
            "--name must be one of the --initial-cluster names, with the same URLs as \
             --initial-advertise-peer-urls (here: --name from {name_src}, --initial-cluster from \
             {init_src}, --initial-advertise-peer-urls from {adv_src})"
        ))
}

pub(crate) fn cluster_words(c: &member::Cluster) -> String {
    match c.members.len() {
        1 => format!("a new 1-member cluster {:x}", c.cluster_id),
        n => format!("a new {n}-member cluster {:x}", c.cluster_id),
    }
}

/// The data dir may not exist or be an empty directory (`empty_ok`, as etcdutl 3.5 allows); the
/// WAL dir may not exist.
pub(crate) fn check_target(dir: &Path, empty_ok: bool) -> anyhow::Result<()> {
    let what = if empty_ok { "data dir" } else { "WAL dir" };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::io("cannot check", dir, e).into()),
        Ok(m) if empty_ok && m.is_dir() => {
            let mut entries =
                std::fs::read_dir(dir).map_err(|e| FsError::io("cannot read", dir, e))?;
            if entries.next().is_none() {
                Ok(())
            } else {
                Err(anyhow!("{what} {} exists and is not empty", dir.display())).hint(
                    "restore into a new directory; an old data dir is never overwritten (move \
                     it aside first if it must be replaced)",
                )
            }
        }
        Ok(_) => Err(anyhow!("{what} {} exists", dir.display()))
            .hint("restore into a new directory; an existing one is never overwritten"),
    }
}

/// A mount point must be empty but for `lost+found` (which mkfs.ext4 puts on every new disk and
/// etcd ignores, with a warning).
fn check_target_in_mount(dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| FsError::io("cannot read", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| FsError::io("cannot read", dir, e))?;
        if e.file_name() != "lost+found" {
            return Err(anyhow!(
                "data dir {} (a mount point) is not empty: it holds {}",
                dir.display(),
                e.file_name().to_string_lossy()
            ))
            .hint(
                "restore into an empty directory; an old data dir is never overwritten (on a \
                 kubeadm node, `etcd-backup restore` without --output-dir replaces it and keeps \
                 the old data)",
            );
        }
    }
    Ok(())
}

/// `<parent>/.<name>.restoring`, refused when a crashed restore left one behind.
fn temp_dir_for(target: &Path) -> anyhow::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| anyhow!("{} has no directory name", target.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".restoring");
    let tmp = fsutil::parent_dir(target).join(tmp_name);
    if tmp.symlink_metadata().is_ok() {
        return Err(anyhow!(
            "{} exists: an earlier restore into {} did not finish",
            tmp.display(),
            target.display()
        ))
        .hint(format!(
            "no etcd uses it; remove it (rm -r {}) and run restore again",
            tmp.display()
        ));
    }
    Ok(tmp)
}

/// Renames the finished tree onto `target`, which does not exist or is an empty directory
/// (rename(2) replaces an empty directory atomically and fails on a non-empty one).
fn move_into_place(tmp: &Path, target: &Path) -> anyhow::Result<()> {
    if target.symlink_metadata().is_ok() {
        std::fs::rename(tmp, target).map_err(|e| FsError::io("cannot rename into", target, e))?;
        Ok(())
    } else {
        Ok(fsutil::rename_noreplace(tmp, target)?)
    }
}

/// Directories this run created, removed on drop unless the restore finished.
#[derive(Default)]
struct TempDirs {
    dirs: Vec<PathBuf>,
    armed: bool,
}

impl TempDirs {
    fn create(&mut self, dir: &Path) -> anyhow::Result<()> {
        self.mkdir(dir)?;
        self.track(dir);
        Ok(())
    }

    fn mkdir(&mut self, dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| FsError::io("cannot create directory", dir, e))?;
        Ok(())
    }

    fn track(&mut self, dir: &Path) {
        self.dirs.push(dir.to_path_buf());
        self.armed = true;
    }

    fn untrack(&mut self, dir: &Path) {
        self.dirs.retain(|d| d != dir);
    }

    /// A WAL dir already renamed into place: removed too if the data dir cannot follow, since
    /// nothing else uses it yet.
    fn track_committed(&mut self, dir: &Path) {
        self.dirs.push(dir.to_path_buf());
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TempDirs {
    fn drop(&mut self) {
        if self.armed {
            for d in &self.dirs {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}
