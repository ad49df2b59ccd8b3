//! `etcd-backup restore SNAPSHOT --output-dir DIR`: build a new etcd data dir natively
//! (`datadir::build`), and print how to start etcd on it. Without `--output-dir` the node restore
//! (`node::restore`) runs instead.
//!
//! `--dry-run` prints which way the build will go (beside the target, or inside it for a mount
//! point) and touches nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::anyhow;

use crate::bbolt::Db;
use crate::cli::{LogFormat, OutputFormat, RestoreArgs};
use crate::datadir::build::{
    build, bump_of, check_target, cluster_of, cluster_words, commit_of, same_dir, Build, BumpFlags,
    ClusterFlags, Commit, Input, Progress, DEFAULT_BUMP,
};
use crate::datadir::{db, member};
use crate::diagnostics::{exit, ExitStatus, HintExt};
use crate::etcd::TlsFiles;
use crate::fsutil;
use crate::node::interrupt;
use crate::node::restore::{self as node_restore, Plan};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &RestoreArgs,
) -> anyhow::Result<ExitStatus> {
    let Some(out_dir) = &args.output_dir else {
        return node(settings, printer, args);
    };
    let Some(snapshot) = &args.snapshot else {
        return Err(anyhow!("no snapshot file given")).hint("name the snapshot to restore");
    };
    let bump = bump_of(&bump_flags(args))?;
    let cluster = cluster_of(&cluster_flags(args), settings.manifest.as_ref(), printer)?;
    if args.dry_run {
        return dry_run(settings, printer, args, snapshot, out_dir, &cluster, bump);
    }
    // From here on a signal stops the build at its next check, which removes the temp dirs.
    interrupt::install_for_build(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    let parent = fsutil::parent_dir(out_dir);
    let named = super::Named::open(snapshot, &settings.remote_options)?;
    let input = Input::resolve(named, &args.identity.identity, &parent, printer)?;
    let spec = Build {
        snapshot: &input.path,
        out_dir,
        wal_dir: args.wal_dir.as_deref(),
        cluster: &cluster,
        bump,
        keep_alarms: args.keep_alarms,
        skip_hash_check: args.skip_hash_check,
    };
    let rewritten = build(&spec, printer).map_err(|e| match interrupt::received() {
        Some(sig) => anyhow::Error::new(crate::etcd::EtcdError::Interrupted(sig)).context(format!(
            "the restore into {} stopped; nothing was left behind",
            out_dir.display()
        )),
        None => e,
    })?;
    let wal_target = args
        .wal_dir
        .clone()
        .unwrap_or_else(|| out_dir.join("member").join("wal"));
    report(
        settings,
        printer,
        args,
        &cluster,
        &rewritten,
        out_dir,
        &wal_target,
    );
    Ok(exit::SUCCESS)
}

/// Node mode (no `--output-dir`): the node restore, asked with this command's flags and settings.
fn node(settings: &Settings, printer: &Printer, args: &RestoreArgs) -> anyhow::Result<ExitStatus> {
    let open = |spec: &Path| super::Named::open(spec, &settings.remote_options);
    let ask = |plan: &Plan| confirm(plan, args.yes);
    let opts = node_restore::Options {
        snapshot: args.snapshot.clone(),
        data_dir: args.data_dir.clone(),
        manifests_dir: args.manifests_dir.clone(),
        kubelet_service: args.kubelet_service.clone(),
        dry_run: args.dry_run,
        resume: args.resume,
        rollback: args.rollback,
        stop_timeout: args.stop_timeout,
        start_timeout: args.start_timeout,
        cluster: cluster_flags(args),
        bump: bump_flags(args),
        keep_alarms: args.keep_alarms,
        skip_hash_check: args.skip_hash_check,
        skip_version_check: args.skip_version_check,
        identities: args.identity.identity.clone(),
        manifest: settings.manifest.as_ref(),
        manifest_path: settings.manifest_path.clone(),
        manifest_data_dir: settings.data_dir(),
        tls: TlsFiles {
            cacert: settings.cacert.value.clone(),
            cert: settings.cert.value.clone(),
            key: settings.key.value.clone(),
        },
        open_snapshot: &open,
        confirm: &ask,
    };
    node_restore::run(&opts, printer)
}

/// On a terminal, the operator types the node name; without one, `--yes` is required.
fn confirm(p: &Plan, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "refusing to restore node {} without confirmation",
            p.node_name
        ))
        .hint("add --yes (there is no terminal to ask on); --dry-run shows the plan");
    }
    eprint!(
        "This stops etcd and kube-apiserver on this node and replaces {}.\nType the node name \
         ({}) to go on: ",
        p.data_dir.display(),
        p.node_name
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == p.node_name)
}

fn cluster_flags(args: &RestoreArgs) -> ClusterFlags {
    ClusterFlags {
        name: args.name.clone(),
        initial_cluster: args.initial_cluster.clone(),
        initial_advertise_peer_urls: args.initial_advertise_peer_urls.clone(),
        initial_cluster_token: args.initial_cluster_token.clone(),
    }
}

fn bump_flags(args: &RestoreArgs) -> BumpFlags {
    BumpFlags {
        bump_revision: args.bump_revision,
        mark_compacted: args.mark_compacted,
        no_bump_revision: args.no_bump_revision,
    }
}

/// The engines' progress, printed.
impl Progress for Printer {
    fn phase(&self, msg: String) {
        Printer::phase(self, msg);
    }

    fn detail(&self, msg: String) {
        Printer::detail(self, msg);
    }

    fn warn(&self, msg: String) {
        Printer::warn(self, msg);
    }
}

/// `--output-dir DIR --dry-run`: what would be built where, checked as the build checks it;
/// nothing is created, fetched or changed.
fn dry_run(
    settings: &Settings,
    printer: &Printer,
    args: &RestoreArgs,
    snapshot: &Path,
    out_dir: &Path,
    cluster: &member::Cluster,
    bump: Option<u64>,
) -> anyhow::Result<ExitStatus> {
    let local = &cluster.members[cluster.local];
    let source = source_words(snapshot, out_dir, &settings.remote_options)?;
    let how = commit_words(out_dir)?;
    let wal = match &args.wal_dir {
        Some(w) if *w != out_dir.join("member").join("wal") => {
            check_target(w, false)?;
            format!("the WAL in {} (built beside it first)", w.display())
        }
        _ => format!(
            "the WAL in {}",
            out_dir.join("member").join("wal").display()
        ),
    };
    let bump_words = match bump {
        Some(b) => format!("revision bumped by {b} and marked compacted"),
        None => "revision kept (--no-bump-revision)".to_string(),
    };
    let members: Vec<String> = cluster
        .members
        .iter()
        .map(|m| format!("{}={}", m.name, m.peer_urls.join(",")))
        .collect();
    let lines = [
        format!("restore plan (dry run) into {}:", out_dir.display()),
        format!("  snapshot  {source}"),
        format!(
            "  cluster   member {} ({:x}) of {}: {} (token {})",
            local.name,
            local.id,
            cluster_words(cluster),
            members.join(","),
            cluster.token
        ),
        format!("  data      {bump_words}; {how}"),
        format!("  wal       {wal}"),
        format!(
            "  then      start etcd with {}",
            etcd_flags(cluster, out_dir, args.wal_dir.as_deref()).join(" ")
        ),
    ];
    for l in lines {
        printer.result(l);
    }
    if let Some(edit) = manifest_edit(settings, out_dir) {
        printer.result(format!("            {edit}"));
    }
    printer.result("dry run: nothing was changed");
    Ok(exit::SUCCESS)
}

/// The snapshot as the dry run describes it: a plain local file is opened and measured, a
/// layered or stored one is described.
fn source_words(
    snapshot: &Path,
    out_dir: &Path,
    options: &crate::remote::RemoteOptions,
) -> anyhow::Result<String> {
    let named = super::Named::open(snapshot, options)?;
    let layers = named.layers();
    Ok(match (&named, layers.is_plain()) {
        (super::Named::Local(path), true) => {
            let db = Db::open(path).hint(format!(
                "check the path; `etcd-backup verify {}` says what is wrong with a damaged file",
                path.display()
            ))?;
            format!(
                "{} ({}), its SHA-256 trailer and bbolt structure checked while building",
                path.display(),
                human_bytes(db.file_len())
            )
        }
        _ => format!(
            "{} taken out of its {} layers into a 0600 file in {} first (removed afterwards)",
            named.shown(),
            layers.describe(),
            fsutil::parent_dir(out_dir).display()
        ),
    })
}

/// How the tree will reach `out_dir`, checked as the build checks it.
fn commit_words(out_dir: &Path) -> anyhow::Result<String> {
    let (commit, tmp) = commit_of(out_dir)?;
    Ok(match commit {
        Commit::Create => format!(
            "built in {} and renamed to {} (which does not exist yet)",
            tmp.display(),
            out_dir.display()
        ),
        Commit::ReplaceEmpty => format!(
            "built in {} and renamed over the empty directory {}",
            tmp.display(),
            out_dir.display()
        ),
        Commit::IntoMount => format!(
            "{} is a mount point, which cannot be renamed: built in {} on its file system, then              {} renamed into place ({} itself stays)",
            out_dir.display(),
            tmp.display(),
            tmp.join("member").display(),
            out_dir.display()
        ),
    })
}

/// The flags etcd needs to run on a restored dir. The membership is in the dir, so
/// `--initial-cluster*` are ignored (an etcd with a WAL never reads them); the name and the
/// advertised peer URLs must be the restored member's.
fn etcd_flags(cluster: &member::Cluster, out_dir: &Path, wal_dir: Option<&Path>) -> Vec<String> {
    let local = &cluster.members[cluster.local];
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut flags = vec![
        format!("--data-dir={}", abs(out_dir).display()),
        format!("--name={}", local.name),
        format!(
            "--initial-advertise-peer-urls={}",
            local.peer_urls.join(",")
        ),
    ];
    if let Some(w) = wal_dir.filter(|w| *w != out_dir.join("member").join("wal")) {
        flags.push(format!("--wal-dir={}", abs(w).display()));
    }
    flags
}

/// On a kubeadm node whose etcd uses another data dir: the lines of its manifest to change so
/// that it runs on `out_dir`.
fn manifest_edit(settings: &Settings, out_dir: &Path) -> Option<String> {
    let m = settings.manifest.as_ref()?;
    let inside = m.flag("data-dir")?;
    let host = m.host_path_flag("data-dir")?;
    let abs = std::path::absolute(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
    if same_dir(&host, &abs) {
        return None;
    }
    Some(format!(
        "for this node's etcd, in {}: `- --data-dir={inside}` becomes `- --data-dir={new}`, and \
         the etcd-data volume's `mountPath: {inside}` and hostPath `path: {}` both become `{new}`",
        m.path.display(),
        host.display(),
        new = abs.display()
    ))
}

fn report(
    settings: &Settings,
    printer: &Printer,
    args: &RestoreArgs,
    cluster: &member::Cluster,
    r: &db::Rewritten,
    out_dir: &Path,
    wal_dir: &Path,
) {
    let local = &cluster.members[cluster.local];
    match r.bumped_to {
        Some(to) => printer.phase(format!(
            "revision {} bumped by {} to {to} and marked compacted: clients holding newer revisions \
             relist instead of trusting stale caches (--no-bump-revision keeps {})",
            r.revision.max(r.compacted),
            args.bump_revision.unwrap_or(DEFAULT_BUMP),
            r.revision.max(r.compacted)
        )),
        None => printer.warn(format!(
            "the revision stays at {}: Kubernetes clients that saw newer revisions may serve \
             stale data until restarted",
            r.revision.max(r.compacted)
        )),
    }
    for a in &r.alarms {
        if r.alarms_cleared {
            printer.warn(format!(
                "the snapshot held a {} alarm (member {:x}); it was cleared (--keep-alarms \
                 keeps it)",
                a.kind, a.member_id
            ));
        } else {
            printer.warn(format!(
                "the snapshot holds a {} alarm (member {:x}); the restored cluster keeps it: \
                 `etcdctl alarm disarm` once resolved",
                a.kind, a.member_id
            ));
        }
    }
    let flags = etcd_flags(cluster, out_dir, args.wal_dir.as_deref());
    printer.phase(format!(
        "restored {} (db {}); start etcd on it with these flags (and your listen URLs, TLS and \
         other flags as before; --initial-cluster* are not needed: the dir holds the membership):\n    {}",
        out_dir.display(),
        human_bytes(r.size),
        flags.join(" \\\n    ")
    ));
    if let Some(edit) = manifest_edit(settings, out_dir) {
        printer.phase(edit);
    }
    match printer.format {
        OutputFormat::Json => printer.json(&serde_json::json!({
            "data_dir": out_dir.display().to_string(),
            "wal_dir": wal_dir.display().to_string(),
            "snapshot": args.snapshot.as_ref().map(|p| p.display().to_string()),
            "name": local.name,
            "member_id": format!("{:x}", local.id),
            "cluster_id": format!("{:x}", cluster.cluster_id),
            "initial_cluster_token": cluster.token,
            "members": cluster.members.iter().map(|m| serde_json::json!({
                "name": m.name, "id": format!("{:x}", m.id), "peer_urls": m.peer_urls,
            })).collect::<Vec<_>>(),
            "revision": r.revision,
            "bumped_to": r.bumped_to,
            "alarms": r.alarms.iter().map(|a| serde_json::json!({
                "member_id": format!("{:x}", a.member_id), "alarm": a.kind,
            })).collect::<Vec<_>>(),
            "alarms_cleared": r.alarms_cleared,
            "db_size": r.size,
            "etcd_flags": flags,
        })),
        _ => printer.result(out_dir.display().to_string()),
    }
}
