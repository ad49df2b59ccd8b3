//! The command line. `///` comments are the help text.
//!
//! These doc comments are written for `--help`, not rustdoc, so its markup lints are off here.
#![allow(
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls
)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Help headings shared by global and subcommand flags, so that each group is shown together.
pub const CONNECTION: &str = "Connection";
pub const BACKUP_SET: &str = "Backup set";
pub const RETENTION: &str = "Retention (a backup is kept when any rule keeps it)";
pub const OFF_SITE: &str = "Off-site copies";
pub const OUTPUT: &str = "Output";
pub const REPAIR: &str = "Automated repair";

/// The exit codes, as `--help` ends and the man pages' EXIT STATUS lists them.
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0    success
  1    the answer is \"no\" (a check found a problem, or a prompt was declined)
  2    error: nothing was changed, or what was half-written was removed
  3    done part-way: save saved the backup but could not prune or write --metrics-file,
       or a restore stopped part-way (the journal path is printed)
  130  interrupted (SIGINT or SIGTERM)"
    };
}

/// `--help` of a command after its options: its examples, then the exit codes. The man pages
/// show the same examples under EXAMPLES (see [`examples`]).
macro_rules! after_help {
    ($examples:expr) => {
        concat!("Examples:\n", $examples, "\n\n", exit_codes!())
    };
}

macro_rules! examples_top {
    () => {
        "  Take a backup now (on a kubeadm control-plane node no flag is needed):
    etcd-backup save
  Take a backup, then keep 7 daily and 4 weekly ones:
    etcd-backup save --prune --keep-daily 7 --keep-weekly 4
  List the backups, newest first:
    etcd-backup ls
  Check that the newest backup is intact and restorable:
    etcd-backup verify --latest
  Show the settings a command would use, and where each comes from:
    etcd-backup --show-settings save"
    };
}

macro_rules! examples_save {
    () => {
        "  Take a backup into --backup-dir and print its path:
    etcd-backup save
  Take a backup before an upgrade, kept until deleted by hand:
    etcd-backup save --label pre-upgrade-1.31
  Take a backup, then prune to 24 hourly and 7 daily ones:
    etcd-backup save --prune --keep-hourly 24 --keep-daily 7
  Compress, encrypt and copy off-site:
    etcd-backup save --compress zstd --encrypt-to /root/age.pub --remote s3://acme/etcd/
  Save on every control-plane node's timer, but only the leader's run saves:
    etcd-backup save --skip-unless-leader"
    };
}

macro_rules! examples_status {
    () => {
        "  List the backup set, newest first:
    etcd-backup ls
  Alert when the newest verified backup is older than 5 hours (exit 1):
    etcd-backup status --max-age 5h
  What etcdutl snapshot status prints for one file:
    etcd-backup status /var/lib/etcd-backups/etcd-snapshot-2026-11-21_04-00-00.db"
    };
}

macro_rules! examples_verify {
    () => {
        "  Verify the newest backup:
    etcd-backup verify --latest
  Verify every backup, as JSON:
    etcd-backup verify --all -w json
  Verify a copy of member/snap/db, which has no SHA-256 trailer:
    etcd-backup verify --allow-no-hash /tmp/db"
    };
}

macro_rules! examples_drill {
    () => {
        "  Rehearse a restore of the newest backup with the etcd on PATH:
    etcd-backup drill --latest
  The newest off-site backup, encrypted, with a given etcd binary:
    etcd-backup drill --latest --remote s3://b/p/ -i key.txt --etcd-binary /opt/etcd/etcd"
    };
}

macro_rules! examples_prune {
    () => {
        "  Show what the rules would delete, and why each file stays:
    etcd-backup prune --dry-run --keep-daily 7 --keep-weekly 4
  Keep the 10 newest backups:
    etcd-backup prune --keep-last 10"
    };
}

macro_rules! examples_restore {
    () => {
        "  Show the plan for restoring this kubeadm node, changing nothing:
    etcd-backup restore --dry-run /var/lib/etcd-backups/etcd-snapshot-2026-11-21_04-00-00.db
  Restore this kubeadm node's etcd:
    etcd-backup restore /var/lib/etcd-backups/etcd-snapshot-2026-11-21_04-00-00.db
  Build a new data dir, as etcdutl snapshot restore --data-dir does:
    etcd-backup restore --output-dir /var/lib/etcd-new snapshot.db
  Finish, or undo, a restore that was interrupted:
    etcd-backup restore --resume"
    };
}

macro_rules! examples_delete {
    () => {
        "  Show what would be deleted:
    etcd-backup delete --dry-run etcd-snapshot-2026-11-21_04-00-00.db
  Delete a backup with its sidecar and bundle, without asking:
    etcd-backup delete --yes etcd-snapshot-2026-11-21_04-00-00.db"
    };
}

macro_rules! examples_health {
    () => {
        "  Check the cluster from a control-plane node (no flag needed on a kubeadm node):
    etcd-backup health
  The same as JSON:
    etcd-backup health -w json
  Per-member gauges for node-exporter's textfile collector (a file of its own):
    etcd-backup health --metrics-file /var/lib/node_exporter/etcd_health.prom
  From a timer on every control-plane node: rejoin this node's member after 3 failed checks:
    etcd-backup health --repair --remote s3://acme/etcd/"
    };
}

macro_rules! examples_rejoin {
    () => {
        "  See what a rejoin of this node's member would do:
    etcd-backup member rejoin --dry-run
  Rejoin it without asking, then check the cluster:
    etcd-backup member rejoin --yes && etcd-backup health
  Finish or undo a rejoin that was interrupted:
    etcd-backup member rejoin --resume --yes"
    };
}

macro_rules! examples_completions {
    () => {
        "  bash, for every user:
    etcd-backup completions bash > /etc/bash_completion.d/etcd-backup
  zsh, in a directory of $fpath:
    etcd-backup completions zsh > /usr/local/share/zsh/site-functions/_etcd-backup
  fish, for this user:
    etcd-backup completions fish > ~/.config/fish/completions/etcd-backup.fish"
    };
}

macro_rules! examples_inspect {
    () => {
        "  What a backup holds, per Kubernetes resource:
    etcd-backup inspect /var/lib/etcd-backups/etcd-snapshot-2026-11-21_04-00-00.db
  The same for an encrypted object, as JSON:
    etcd-backup inspect s3://acme/etcd/cp1/etcd-snapshot-….db.zst.age -i key.txt -w json"
    };
}

macro_rules! examples_export {
    () => {
        "  Every key as etcdctl get -w json prints it, one JSON object per line:
    etcd-backup export etcd-snapshot-2026-11-21_04-00-00.db > keys.jsonl
  The secrets of one namespace, as of an older revision kept in the file:
    etcd-backup export snap.db --prefix /registry/secrets/prod/ --revision 48000
  The objects as kubectl get -o json shows them:
    etcd-backup export snap.db --decode --resource deployments.apps | jq .decoded.object
  One namespace back through the API server (never by writing etcd):
    etcd-backup export snap.db --manifests /root/prod --namespace prod
    kubectl apply -R -f /root/prod"
    };
}

macro_rules! examples_diff {
    () => {
        "  What changed between two backups, per resource:
    etcd-backup diff etcd-snapshot-2026-11-20_04-00-00.db etcd-snapshot-2026-11-21_04-00-00.db
  What restoring this backup would revert on the live cluster, one change per entry:
    etcd-backup diff etcd-snapshot-2026-11-21_04-00-00.db --live -w json"
    };
}

pub const EXIT_CODES: &str = exit_codes!();

/// The examples of a command (`""` for `etcd-backup` itself), as `--help` shows them: a
/// description line ending in `:`, indented 2, then its command lines, indented 4.
pub fn examples(command: &str) -> Option<&'static str> {
    Some(match command {
        "" => examples_top!(),
        "save" => examples_save!(),
        "status" => examples_status!(),
        "verify" => examples_verify!(),
        "drill" => examples_drill!(),
        "prune" => examples_prune!(),
        "restore" => examples_restore!(),
        "delete" => examples_delete!(),
        "health" => examples_health!(),
        "inspect" => examples_inspect!(),
        "export" => examples_export!(),
        "diff" => examples_diff!(),
        "member" | "member rejoin" | "rejoin" => examples_rejoin!(),
        "completions" => examples_completions!(),
        _ => return None,
    })
}

/// Variables read besides the flags' own (which each flag's help names), for the man pages'
/// ENVIRONMENT: (variable, command it matters to or `""` for all, what it does).
pub const OTHER_ENVIRONMENT: &[(&str, &str, &str)] = &[
    (
        "RUST_LOG",
        "",
        "Log filter for the libraries' logs on stderr (e.g. debug); overrides -v and -q",
    ),
    (
        "ETCDCTL_DIAL_TIMEOUT",
        "save",
        "Used as --dial-timeout when ETCD_BACKUP_DIAL_TIMEOUT is not set",
    ),
    (
        "ETCDCTL_COMMAND_TIMEOUT",
        "save",
        "Not used (a note says so): a save is bounded by --timeout and --stall-timeout",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL",
        "remote",
        "S3 credentials, region and endpoint for --remote s3://",
    ),
    (
        "GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_BASE_URL",
        "remote",
        "GCS credentials and endpoint for --remote gs://",
    ),
    (
        "AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_ENDPOINT",
        "remote",
        "Azure credentials and endpoint for --remote az://",
    ),
];

/// Back up the etcd database of a kubeadm control plane, safely.
///
/// On a kubeadm node no flag is needed: endpoint and certificates are read from the etcd static
/// pod manifest. Flags beat environment variables, which beat /etc/etcd-backup/config.toml,
/// which beats what the manifest says.
#[derive(Debug, Parser)]
// A repeated flag takes its last value, as with etcdctl; list flags (--endpoints) add up, as
// etcdctl's string slices do.
#[command(name = "etcd-backup", version, after_long_help = after_help!(examples_top!()),
          args_override_self = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub config: ConfigArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// etcd client URLs, comma-separated [default: from the manifest, else https://127.0.0.1:2379]
    #[arg(
        long,
        help_heading = CONNECTION,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        global = true,
        value_name = "URL[,URL..]"
    )]
    pub endpoints: Option<Vec<String>>,

    /// CA bundle that signed etcd's serving certificate
    /// [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]
    #[arg(long, env = "ETCDCTL_CACERT", global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub cacert: Option<PathBuf>,

    /// Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]
    #[arg(long, env = "ETCDCTL_CERT", global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub cert: Option<PathBuf>,

    /// Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]
    #[arg(long, env = "ETCDCTL_KEY", global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub key: Option<PathBuf>,

    /// Directory holding the backups
    #[arg(
        long,
        help_heading = BACKUP_SET,
        env = "ETCD_BACKUP_DIR",
        global = true,
        value_name = "DIR",
        default_value = "/var/lib/etcd-backups"
    )]
    pub backup_dir: PathBuf,

    /// kubeadm's etcd static pod manifest: the default is read where it exists, a path you name
    /// must exist
    #[arg(
        long,
        help_heading = CONNECTION,
        hide_short_help = true,
        env = "ETCD_BACKUP_MANIFEST",
        global = true,
        value_name = "FILE",
        default_value = "/etc/kubernetes/manifests/etcd.yaml"
    )]
    pub manifest: PathBuf,

    /// Do not read the kubeadm manifest, even where it exists
    #[arg(long, env = "ETCD_BACKUP_NO_MANIFEST", global = true, action = ArgAction::SetTrue,
          help_heading = CONNECTION, hide_short_help = true,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub no_manifest: bool,

    /// Output format on stdout
    #[arg(
        short = 'w',
        long = "write-out",
        help_heading = OUTPUT,
        value_name = "FORMAT",
        env = "ETCD_BACKUP_WRITE_OUT",
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table
    )]
    pub write_out: OutputFormat,

    /// Only print errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = OUTPUT)]
    pub quiet: bool,

    /// More detail on stderr (-vv for debug logs; RUST_LOG overrides)
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = OUTPUT)]
    pub verbose: u8,

    /// Messages on stderr: text, or JSON lines for log shippers
    ///
    /// Human text, or one JSON object per line for log shippers. stdout is not affected.
    #[arg(
        long,
        help_heading = OUTPUT,
        hide_short_help = true,
        env = "ETCD_BACKUP_LOG_FORMAT",
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// Write metrics of every save run here, for node-exporter's textfile collector
    ///
    /// Written after every `save` run (success, failure or skip), e.g. to
    /// /var/lib/node_exporter/textfile_collector/etcd_backup.prom. Replaced atomically, mode 0644.
    /// `health` writes its gauges beside it (etcd_backup_health.prom), or to the file given with
    /// `health --metrics-file`
    #[arg(
        long,
        help_heading = OUTPUT,
        hide_short_help = true,
        env = "ETCD_BACKUP_METRICS_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub metrics_file: Option<PathBuf>,
}

/// How messages on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `etcd-backup: …`, `warning: …`, `error: …` lines for people and cron mails
    Text,
    /// One JSON object per line: ts (RFC 3339, UTC), level (error, warn, info, debug), msg, and
    /// hint, causes and target where they apply
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    /// One line, comma-separated (etcdutl's `simple`)
    Simple,
    /// One `"Name" : value` line per field (etcdutl's `fields`)
    Fields,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream a snapshot from etcd into a new, checked backup file
    ///
    /// Writes <backup-dir>/etcd-snapshot-YYYY-MM-DD_HH-MM-SS[_LABEL].db (UTC) and a sidecar
    /// <file>.json, atomically, and prints the path on stdout.
    #[command(after_long_help = after_help!(examples_save!()))]
    Save(SaveArgs),

    /// Show a snapshot's hash, revision, keys and size, or the state of the backup set
    ///
    /// With FILE: exactly what `etcdutl snapshot status` prints for it. The file is opened
    /// read-only and checked as bbolt's tx.Check() does first; a damaged file is an error (exit
    /// 2), as with etcdutl. The SHA-256 trailer is not checked here (use `verify`).
    ///
    /// Without FILE: every backup in --backup-dir, newest first, with its age, label, size,
    /// revision and when it was last verified, and totals. With --max-age, exits 1 when the
    /// newest verified backup is older than that (or there is none), for monitoring.
    ///
    /// `ls` and `list` are the same command: `etcd-backup ls` lists the backup set.
    #[command(visible_aliases = ["ls", "list"], after_long_help = after_help!(examples_status!()))]
    Status(StatusArgs),

    /// Prove snapshot files intact and restorable
    ///
    /// For each file: the SHA-256 trailer is present and matches, the full bbolt integrity check
    /// passes, the etcd data is sane (revision keys, KeyValue values, consistent index), and the
    /// sidecar .json, when present, agrees on size, SHA-256, revision and the HashKV of the key
    /// space recorded at save time (so a changed value is caught even under a recomputed
    /// trailer or --allow-no-hash). One line per file, then
    /// a summary. Exit 0 when all are good, 1 when any is bad, 2 on a usage or I/O error.
    #[command(after_long_help = after_help!(examples_verify!()))]
    Verify(VerifyArgs),

    /// Delete old backups by retention rules; never the newest good one
    ///
    /// A backup is kept when any rule keeps it. With no keep flag, --keep-days 7 (what the old
    /// `find -mtime +7 -delete` did). Times come from the file names (UTC), not from mtimes.
    /// Labeled backups are kept unless --prune-labeled. Whatever the rules say, the newest
    /// backup that passes `verify` is kept; when none passes, nothing is deleted (exit 1).
    ///
    /// Only etcd-snapshot-*.db files, their .json sidecars, orphaned sidecars and temp files of
    /// interrupted saves older than an hour are ever deleted; symlinks and every other file are
    /// left alone and listed. Holds the same lock as `save`. Prints one line per file on stdout.
    #[command(after_long_help = after_help!(examples_prune!()))]
    Prune(PruneArgs),

    /// Restore a snapshot: this kubeadm node's etcd, or a new data dir (--output-dir)
    ///
    /// Node mode (no --output-dir): on a kubeadm control-plane node, builds the new data dir
    /// beside the live one, stops etcd and kube-apiserver by moving their manifests out (and
    /// waits until etcd has really let go of its data), stops the kubelet, moves the old data
    /// dir aside to <data-dir>.before-restore-<time> (never deleted), puts the new one in place
    /// with the old owner and mode, starts everything again and waits until etcd is healthy with
    /// the restored data. Every step is journaled beside the data dir; a failure rolls back, and
    /// --resume / --rollback finish or undo an interrupted run. Membership defaults to the
    /// members recorded in the snapshot, so every node of an HA cluster restored from the same
    /// file agrees. Asks for the node name on a terminal; needs --yes otherwise.
    ///
    /// Data-dir mode does what `etcdutl snapshot restore` does, into --output-dir (which must
    /// not exist or be empty): checks the SHA-256 trailer and the bbolt structure, rewrites the db as a fresh
    /// compact file with the new cluster's membership, and writes the WAL and .snap files for
    /// the new member. Everything is built in a temp dir beside the target (inside it, for an
    /// empty mount point) and renamed into place at the end, so a failed or interrupted restore
    /// leaves nothing behind. It prints the etcd flags that run the restored dir.
    ///
    /// A node's data dir that is a mount point (a dedicated disk) cannot be renamed: node mode
    /// then swaps its member/ inside it, keeping the old one as member.before-restore-<time>.
    ///
    /// By default the revision is bumped by 1,000,000,000 and marked compacted, so that
    /// Kubernetes clients relist instead of trusting caches newer than the snapshot. Stored
    /// alarms (e.g. NOSPACE), which would block writes after the restore, are cleared.
    ///
    /// On a kubeadm node, --name, --initial-cluster, --initial-advertise-peer-urls and
    /// --initial-cluster-token default to the etcd manifest's values; elsewhere to etcdutl's
    /// defaults, except that --name X alone means --initial-cluster X=<advertise URLs>.
    #[command(after_long_help = after_help!(examples_restore!()))]
    Restore(RestoreArgs),

    /// Rehearse a restore: build the backup's data dir in a scratch dir, read it back, start etcd
    ///
    /// Builds a 1-member data dir from BACKUP (or the newest trusted one, --latest; local,
    /// --remote, encrypted with --identity) with the code of `restore`, without the revision
    /// bump, in a scratch dir beside the backups. Reads it back: the bbolt check, the WAL and
    /// .snap written as planned, the member in the db, and etcd's HashKV of the restored key
    /// space against the one the sidecar recorded at save time. Then starts --etcd-binary (or
    /// the etcd on PATH) on loopback ports on the restored dir, waits until it is healthy,
    /// compares its HashKV and key count with the sidecar's, stops it and removes the scratch
    /// dir. The result goes into the sidecar (`drill`) and, with --metrics-file, into a textfile
    /// of its own. Exit 0 passed, 1 failed (the reason is printed), 2 on a usage or I/O error.
    #[command(after_long_help = after_help!(examples_drill!()))]
    Drill(DrillArgs),

    /// Delete the named backups, with the same safety rules as prune
    ///
    /// Each FILE is a backup in --backup-dir, by name or path (`etcd-backup ls` lists them). Its
    /// sidecar .json and DR bundle go with it. Refused: names we did not generate, symlinks,
    /// files outside --backup-dir, and the newest backup that passes `verify` (when none passes,
    /// nothing is deleted, exit 1). Holds the same lock as `save` and `prune`. Asks on a
    /// terminal; needs --yes otherwise.
    #[command(after_long_help = after_help!(examples_delete!()))]
    Delete(DeleteArgs),

    /// Check every member of the cluster, whether they agree on the data, and what to do
    ///
    /// Asks the endpoints for the member list, then every member (through the client URL it
    /// advertises, with the same certificates) for its status: reachable or not, version,
    /// leader, raft term and index, revision, db size against the quota and in use, alarms.
    /// Every member that answers is asked for `HashKV` at the lowest revision any of them has
    /// applied (etcd's own corruption check): a member whose hash differs from the majority's
    /// holds other data. The verdict is healthy, degraded (which member, and `etcd-backup member
    /// rejoin` on which node) or quorum lost (restore every node from which backup). Exit 0
    /// healthy, 1 not, 2 when the check itself failed. With --metrics-file, writes per-member
    /// gauges for node-exporter's textfile collector (a file of its own, not save's).
    #[command(after_long_help = after_help!(examples_health!()))]
    Health(HealthArgs),

    /// What a backup holds: revisions, keys, members, leases, and per Kubernetes resource
    ///
    /// Reads the file (or object; .zst/.age with --identity) without etcd and never writes to
    /// it: revision, compacted revision, keys live and with history, members, leases, db size
    /// and free pages; then per resource (group and resource from the key path) the objects,
    /// namespaces, bytes of the latest versions and of every version kept, the largest objects
    /// and how values are stored (protobuf, JSON, or encrypted per provider and key name).
    #[command(after_long_help = after_help!(examples_inspect!()))]
    Inspect(InspectArgs),

    /// Print a backup's keys as `etcdctl get -w json` would, one JSON object per line
    ///
    /// Each line has exactly the fields and encodings of an element of `kvs` in `etcdctl get
    /// "" --prefix -w json` (base64 key and value, create_revision, mod_revision, version, lease
    /// when set), in key order, at the backup's revision or at --revision.
    #[command(after_long_help = after_help!(examples_export!()))]
    Export(ExportArgs),

    /// What changed between two backups, or between a backup and the live etcd (--live)
    ///
    /// Keys added, removed and changed from A to B, per Kubernetes resource, with summary
    /// counts; `-w json` gives one entry per change. With --live, B is the live etcd, read at
    /// one revision in pages: what restoring A would revert.
    #[command(after_long_help = after_help!(examples_diff!()))]
    Diff(DiffArgs),

    /// Replace this node's broken etcd member: remove it, re-add it, let it copy the data
    ///
    /// `member rejoin`, on the control-plane node whose member is broken (data dir lost or
    /// corrupt, data that differs from the others', an etcd that will not start) while a quorum
    /// of the other members is healthy: through a healthy peer it removes this member, moves the
    /// data dir aside (never deleted), adds the member again as a learner, starts etcd with
    /// --initial-cluster-state=existing, promotes it once it has caught up, waits until it
    /// serves, votes and its HashKV equals the others', and puts the original manifest back.
    /// Journaled beside the manifests dir; a failure rolls back, and --resume / --rollback
    /// finish or undo an interrupted run. Refused for a healthy member, a learner, a removal that
    /// would break the quorum, and peers that disagree about the membership.
    #[command(subcommand, after_long_help = after_help!(examples_rejoin!()))]
    Member(MemberCommand),

    /// Print the shell completion script for bash, zsh or fish on stdout
    ///
    /// The same script the .deb installs (bash-completion, zsh's vendor-completions and fish's
    /// vendor_completions.d find it there); no config file is read.
    #[command(after_long_help = after_help!(examples_completions!()))]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Backups to delete: file names in --backup-dir (or paths to them)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Change nothing; list what would be deleted
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Do not ask (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The backup: a file (also .zst/.age), or an object URL (s3://BUCKET/KEY, gs://, az://,
    /// file://)
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,

    /// The state as of this revision (after the compacted one); default the newest
    #[arg(long, value_name = "R")]
    pub revision: Option<i64>,

    /// Largest objects listed per resource
    #[arg(
        long,
        value_name = "N",
        default_value = "3",
        env = "ETCD_BACKUP_INSPECT_TOP"
    )]
    pub top: usize,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteConnArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The backup: a file (also .zst/.age), or an object URL
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,

    /// Only keys that start with this (as `etcdctl get P --prefix`)
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,

    /// The state as of this revision (after the compacted one), as `etcdctl get --rev R`
    #[arg(long, value_name = "R")]
    pub revision: Option<i64>,

    /// Add the Kubernetes object to each line ("decoded": kubectl's JSON; encrypted values
    /// named by provider and key, never decoded)
    #[arg(long)]
    pub decode: bool,

    /// Write kind/namespace/name.yaml files ready for `kubectl apply` into DIR (new or empty),
    /// server-set fields and status stripped, instead of lines on stdout
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,

    /// Only objects in this namespace (and the Namespace itself)
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Only objects of this resource: pods, deployments.apps, or the kind
    #[arg(long, value_name = "RESOURCE")]
    pub resource: Option<String>,

    /// Only objects of this name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteConnArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older side: a backup file or object URL
    #[arg(value_name = "A")]
    pub a: PathBuf,

    /// The newer side: a backup file or object URL (or --live)
    #[arg(
        value_name = "B",
        required_unless_present = "live",
        conflicts_with = "live"
    )]
    pub b: Option<PathBuf>,

    /// Compare with the live etcd (--endpoints, --cacert, --cert, --key)
    #[arg(long)]
    pub live: bool,

    /// Only keys that start with this
    #[arg(long, value_name = "P", default_value = "")]
    pub prefix: String,

    /// Give up connecting to etcd after this long (--live)
    #[arg(long, env = "ETCD_BACKUP_DIAL_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub dial_timeout: Duration,

    /// Give up on etcd when it sends nothing for this long (--live)
    #[arg(long, env = "ETCD_BACKUP_STALL_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub stall_timeout: Duration,

    /// Give up when the live read takes longer than this (--live)
    #[arg(long, env = "ETCD_BACKUP_DIFF_TIMEOUT", value_name = "D", default_value = "10m",
          value_parser = parse_duration, help_heading = CONNECTION)]
    pub timeout: Duration,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteConnArgs,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Replace this node's broken member with a fresh copy of the cluster's data
    ///
    /// Run on the control-plane node whose member is broken, while a quorum of the others is
    /// healthy (`etcd-backup health` says which member and where). Removes the member through a
    /// healthy peer, moves the data dir aside (kept as <data-dir>.before-rejoin-<time>), adds
    /// the member again as a learner, starts etcd with --initial-cluster-state=existing and the
    /// current --initial-cluster, promotes it once it has caught up, waits until it serves,
    /// votes and agrees with the others (HashKV), then puts the original manifest back. Every
    /// step is journaled in etcd-backup-rejoin-journal.json beside the manifests dir; a failure
    /// rolls back. Asks on a terminal; needs --yes otherwise.
    #[command(after_long_help = after_help!(examples_rejoin!()))]
    Rejoin(RejoinArgs),
}

#[derive(Debug, Args)]
pub struct RejoinArgs {
    /// The kubeadm manifests dir the kubelet watches
    #[arg(
        long,
        value_name = "DIR",
        env = "ETCD_BACKUP_MANIFESTS_DIR",
        default_value = "/etc/kubernetes/manifests",
        hide_short_help = true
    )]
    pub manifests_dir: PathBuf,

    /// Print the plan, change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Do not ask (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Continue an interrupted rejoin from its journal
    #[arg(long, conflicts_with = "rollback")]
    pub resume: bool,

    /// Undo an interrupted rejoin from its journal (old data dir and manifest back)
    #[arg(long)]
    pub rollback: bool,

    /// Give up connecting to a member after this long
    #[arg(long, env = "ETCD_BACKUP_DIAL_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub dial_timeout: Duration,

    /// How long to wait for this node's etcd to let go of its data dir (also on --resume)
    #[arg(long, value_name = "D", default_value = "2m", value_parser = parse_duration,
          hide_short_help = true)]
    pub stop_timeout: Duration,

    /// How long to wait for the member to catch up, be promoted and agree with the others (also
    /// on --resume)
    #[arg(long, value_name = "D", default_value = "10m", value_parser = parse_duration,
          hide_short_help = true)]
    pub start_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Give up connecting to a member after this long (a member that does not answer in time
    /// counts as unreachable)
    #[arg(long, env = "ETCD_BACKUP_DIAL_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub dial_timeout: Duration,

    /// Give up on a member that sends nothing for this long
    #[arg(long, env = "ETCD_BACKUP_STALL_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub stall_timeout: Duration,

    /// Give up when the whole check takes longer than this
    #[arg(long, env = "ETCD_BACKUP_HEALTH_TIMEOUT", value_name = "D", default_value = "5m",
          value_parser = parse_duration, help_heading = CONNECTION)]
    pub timeout: Duration,

    /// Act on the verdict for this node (opt-in; for a timer on every control-plane node)
    ///
    /// When this node's member failed --repair-after checks in a row while a healthy quorum
    /// serves elsewhere: `member rejoin` of this node, without asking. Never acts while this
    /// node's member serves with a leader, nor while a peer is unreachable from here and this
    /// member knows no leader (a network partition looks the same). When quorum is lost
    /// everywhere (every member answers without a leader or refuses connections, none is
    /// cut off) for as many checks: restores this node from the backup of --remote that every
    /// node picks alike (docs/dr.md)
    #[arg(long, env = "ETCD_BACKUP_REPAIR", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), help_heading = REPAIR)]
    pub repair: bool,

    /// How many failed checks in a row --repair waits for before it acts
    #[arg(long, env = "ETCD_BACKUP_REPAIR_AFTER", value_name = "K", default_value = "3",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = REPAIR)]
    pub repair_after: u32,

    /// Where --repair keeps its count of failed checks (health-repair.json, 0600)
    #[arg(long, env = "ETCD_BACKUP_STATE_DIR", value_name = "DIR",
          default_value = "/var/lib/etcd-backup", help_heading = REPAIR)]
    pub state_dir: PathBuf,

    /// The kubeadm manifests dir the kubelet watches (for the rejoin of --repair)
    #[arg(
        long,
        value_name = "DIR",
        env = "ETCD_BACKUP_MANIFESTS_DIR",
        default_value = "/etc/kubernetes/manifests",
        help_heading = REPAIR,
        hide_short_help = true
    )]
    pub manifests_dir: PathBuf,

    /// The shared store --repair restores from when quorum is lost
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionShell,
}

/// The shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot: a file (as written by save or etcdctl snapshot save, also .zst/.age), or
    /// an object URL (s3://BUCKET/KEY, gs://, az://, file://) streamed from the store
    #[arg(value_name = "SNAPSHOT", required_unless_present_any = ["resume", "rollback"])]
    pub snapshot: Option<PathBuf>,

    /// Data-dir mode: the data dir to create; must not exist, or be an empty directory.
    /// Without it, the node mode replaces the data dir of this kubeadm node's etcd
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Node mode: the live data dir to replace; must be the one the manifest's etcd uses
    /// [default: from the manifest]
    #[arg(long, value_name = "DIR", conflicts_with = "output_dir")]
    pub data_dir: Option<PathBuf>,

    /// Node mode: the static pod manifests dir
    #[arg(
        long,
        hide_short_help = true,
        value_name = "DIR",
        env = "ETCD_BACKUP_MANIFESTS_DIR",
        default_value = "/etc/kubernetes/manifests"
    )]
    pub manifests_dir: PathBuf,

    /// Node mode: the kubelet's systemd unit
    #[arg(
        long,
        value_name = "UNIT",
        default_value = "kubelet",
        hide_short_help = true
    )]
    pub kubelet_service: String,

    /// Print the plan with every path and value (for --output-dir: what would be built where,
    /// and how a mount point is filled), change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Node mode: do not ask (required without a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Node mode: continue an interrupted restore from its journal
    #[arg(long, conflicts_with_all = ["rollback", "output_dir"])]
    pub resume: bool,

    /// Node mode: undo an interrupted restore from its journal (the old data dir back in place)
    #[arg(long, conflicts_with = "output_dir")]
    pub rollback: bool,

    /// Node mode: how long to wait for the old etcd to let go of its data dir (also on --resume)
    #[arg(long, value_name = "D", default_value = "2m", value_parser = parse_duration, hide_short_help = true)]
    pub stop_timeout: Duration,

    /// Node mode: how long to wait for the restored etcd to become healthy (also on --resume)
    #[arg(long, value_name = "D", default_value = "5m", value_parser = parse_duration, hide_short_help = true)]
    pub start_timeout: Duration,

    /// This member's name [default: from the manifest, else "default"]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Every member of the new cluster, NAME=URL[,NAME=URL..]
    /// [default: from the manifest, else NAME=<advertise URLs>]
    #[arg(long, value_name = "N=URL,..")]
    pub initial_cluster: Option<String>,

    /// This member's peer URLs [default: from the manifest, else http://localhost:2380]
    #[arg(long, value_name = "URL[,URL..]", hide_short_help = true)]
    pub initial_advertise_peer_urls: Option<String>,

    /// The new cluster's token [default: from the manifest, else etcd-cluster]
    #[arg(long, value_name = "TOKEN", hide_short_help = true)]
    pub initial_cluster_token: Option<String>,

    /// Put the WAL here instead of <output-dir>/member/wal (start etcd with the same --wal-dir)
    #[arg(long, value_name = "DIR", hide_short_help = true)]
    pub wal_dir: Option<PathBuf>,

    /// Accept a file without a SHA-256 trailer (a raw member/snap/db copy); a trailer that is
    /// present is still checked
    #[arg(long)]
    pub skip_hash_check: bool,

    /// Node mode: restore even when the snapshot's etcd storage version (3.6+) is newer than the
    /// etcd of the manifest's image, which etcd refuses to start on
    #[arg(long, hide_short_help = true)]
    pub skip_version_check: bool,

    /// Bump the revision by N instead of 1,000,000,000 (needs --mark-compacted, as with etcdutl)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with = "no_bump_revision", hide_short_help = true)]
    pub bump_revision: Option<u64>,

    /// Mark every revision up to the bumped one compacted (goes with --bump-revision)
    #[arg(long, conflicts_with = "no_bump_revision", hide_short_help = true)]
    pub mark_compacted: bool,

    /// Keep the snapshot's revision (clients with newer cached revisions may misbehave)
    #[arg(long)]
    pub no_bump_revision: bool,

    /// Keep alarms stored in the snapshot (a NOSPACE alarm blocks writes until disarmed)
    #[arg(long, hide_short_help = true)]
    pub keep_alarms: bool,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteConnArgs,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub keep: KeepArgs,

    /// Change nothing; list every file with "keep (rule)" or "delete"
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Retention rules, shared by `prune` and `save --prune`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = RETENTION)]
pub struct KeepArgs {
    /// Keep the N newest backups
    #[arg(long, env = "ETCD_BACKUP_KEEP_LAST", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,

    /// Keep backups taken in the last N days (N×24h) [default when no keep flag is given: 7]
    #[arg(long, env = "ETCD_BACKUP_KEEP_DAYS", value_name = "N", conflicts_with = "keep_within",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_days: Option<u32>,

    /// Keep backups taken within this long before now, e.g. 36h or 2w
    #[arg(long, env = "ETCD_BACKUP_KEEP_WITHIN", value_name = "D", value_parser = parse_duration,
          hide_short_help = true)]
    pub keep_within: Option<Duration>,

    /// Keep the newest backup of each of the last N hours (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_HOURLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), hide_short_help = true)]
    pub keep_hourly: Option<u32>,

    /// Keep the newest backup of each of the last N days (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_DAILY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,

    /// Keep the newest backup of each of the last N ISO weeks (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_WEEKLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), hide_short_help = true)]
    pub keep_weekly: Option<u32>,

    /// Keep the newest backup of each of the last N months (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_MONTHLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), hide_short_help = true)]
    pub keep_monthly: Option<u32>,

    /// Keep every labeled backup (save --label), whatever the rules say [the default]
    #[arg(long, conflicts_with = "prune_labeled", hide_short_help = true)]
    pub keep_labeled: bool,

    /// Apply the rules to labeled backups too
    #[arg(long, env = "ETCD_BACKUP_PRUNE_LABELED", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), hide_short_help = true)]
    pub prune_labeled: bool,
}

impl KeepArgs {
    /// True when any retention flag was given (for `save`, where they need `--prune`).
    pub(crate) fn any_given(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_days.is_some()
            || self.keep_within.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_labeled
            || self.prune_labeled
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Snapshot files to verify
    #[arg(value_name = "FILE", required_unless_present_any = ["latest", "all"])]
    pub files: Vec<PathBuf>,

    /// Verify the newest backup in --backup-dir
    #[arg(long, conflicts_with_all = ["files", "all"])]
    pub latest: bool,

    /// Verify every backup in --backup-dir
    #[arg(long, conflicts_with = "files")]
    pub all: bool,

    /// Accept files without the SHA-256 trailer (raw member/snap/db copies)
    #[arg(long)]
    pub allow_no_hash: bool,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The backup to rehearse: a file, or an object of --remote
    #[arg(value_name = "BACKUP", required_unless_present = "latest")]
    pub backup: Option<PathBuf>,

    /// Rehearse the newest trusted backup of --backup-dir (or of --remote)
    #[arg(long, conflicts_with = "backup")]
    pub latest: bool,

    /// etcd binary to start on the restored dir [default: `etcd` on PATH; without one, the
    /// start is skipped and said so]
    #[arg(long, env = "ETCD_BACKUP_ETCD_BINARY", value_name = "PATH")]
    pub etcd_binary: Option<PathBuf>,

    /// How long the started etcd may take to answer
    #[arg(long, env = "ETCD_BACKUP_DRILL_TIMEOUT", value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub drill_timeout: std::time::Duration,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Snapshot file (or a raw member/snap/db); without it, report on --backup-dir
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Exit 1 when the newest verified backup is older than this (e.g. 5h)
    #[arg(long, value_name = "D", value_parser = parse_duration, conflicts_with = "file",
          env = "ETCD_BACKUP_MAX_AGE")]
    pub max_age: Option<Duration>,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write the snapshot to this file instead (as `etcdctl snapshot save FILE` does), with its
    /// sidecar FILE.json beside it; checked like every backup, never replaced, never pruned
    #[arg(value_name = "FILE", conflicts_with_all = ["label", "prune", "with_pki", "remote"])]
    pub file: Option<PathBuf>,

    /// Label appended to the file name, e.g. pre-upgrade-1.31 ([A-Za-z0-9._-])
    #[arg(long, env = "ETCD_BACKUP_LABEL", value_name = "NAME")]
    pub label: Option<String>,

    /// Give up connecting to an endpoint after this long (ETCDCTL_DIAL_TIMEOUT is used when
    /// ETCD_BACKUP_DIAL_TIMEOUT is not set)
    #[arg(long, env = "ETCD_BACKUP_DIAL_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub dial_timeout: Duration,

    /// Give up when etcd sends nothing for this long
    #[arg(long, env = "ETCD_BACKUP_STALL_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration, help_heading = CONNECTION, hide_short_help = true)]
    pub stall_timeout: Duration,

    /// Give up when the whole run takes longer than this
    #[arg(long, env = "ETCD_BACKUP_TIMEOUT", value_name = "D", default_value = "30m",
          value_parser = parse_duration, help_heading = CONNECTION)]
    pub timeout: Duration,

    /// After a successful save, prune the backup dir by the retention flags
    #[arg(long, env = "ETCD_BACKUP_PRUNE", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), help_heading = RETENTION)]
    pub prune: bool,

    #[command(flatten)]
    pub keep: KeepArgs,

    /// Compress the snapshot as it arrives (file name gets .zst)
    #[arg(long, env = "ETCD_BACKUP_COMPRESS", value_enum, value_name = "ALGO",
          default_value_t = Compression::None, help_heading = "Protection at rest")]
    pub compress: Compression,

    /// Encrypt to this age recipient (age1…) or recipients file; repeatable
    ///
    /// A recipients file encrypts to every key in it. The snapshot is encrypted as it arrives:
    /// no plaintext copy is written (file name gets .age)
    #[arg(
        long,
        env = "ETCD_BACKUP_ENCRYPT_TO",
        value_name = "RECIPIENT|FILE",
        value_delimiter = ',',
        help_heading = "Protection at rest"
    )]
    pub encrypt_to: Vec<String>,

    /// Also save the kubeadm DR bundle (PKI, manifests, kubeconfigs) beside the backup
    ///
    /// The bundle is <name>-pki.tar[.zst][.age]: /etc/kubernetes/pki, the static pod manifests,
    /// kubeconfigs and the kubeadm/kubelet config found on the node
    #[arg(long, env = "ETCD_BACKUP_WITH_PKI", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(),
          help_heading = "Protection at rest")]
    pub with_pki: bool,

    /// Where --with-pki reads kubeadm's files
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/kubernetes",
        env = "ETCD_BACKUP_KUBERNETES_DIR",
        help_heading = "Protection at rest",
        hide_short_help = true
    )]
    pub kubernetes_dir: PathBuf,

    /// Where --with-pki reads the kubelet's config.yaml and kubeadm-flags.env
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/kubelet",
        env = "ETCD_BACKUP_KUBELET_DIR",
        help_heading = "Protection at rest",
        hide_short_help = true
    )]
    pub kubelet_dir: PathBuf,

    #[command(flatten)]
    pub remote: RemoteArgs,

    /// After uploading, read the object back and check its SHA-256
    #[arg(long, env = "ETCD_BACKUP_VERIFY_UPLOAD", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), requires = "remote",
          help_heading = OFF_SITE, hide_short_help = true)]
    pub verify_upload: bool,

    /// Save only on the raft leader's node (exit 0 elsewhere)
    ///
    /// The member we would snapshot from must be the raft leader, so that every control-plane
    /// node can share one schedule; with no leader, save anyway
    #[arg(long, env = "ETCD_BACKUP_SKIP_UNLESS_LEADER", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), help_heading = None::<&str>)]
    pub skip_unless_leader: bool,

    /// Save without first checking that the members agree on the data
    ///
    /// By default, when the cluster has more than one voting member, save asks each for HashKV
    /// at one revision and refuses to snapshot a member whose data differs from the majority's
    /// (or when no majority agrees). The check reads each member's whole db once; skip it only
    /// when a backup is needed whatever the members hold
    #[arg(long, env = "ETCD_BACKUP_SKIP_HASH_CHECK", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), help_heading = None::<&str>,
          hide_short_help = true)]
    pub skip_hash_check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Zstd,
}

/// Object storage for off-site copies, shared by save, prune, status and verify.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = OFF_SITE)]
pub struct RemoteArgs {
    /// Off-site copies: s3://, gs://, az:// or file:// URL of a prefix
    ///
    /// s3://BUCKET/PREFIX/, gs://BUCKET/PREFIX/, az://CONTAINER/PREFIX/ or file:///DIR. Objects are PREFIX/<node>/<file>. Credentials come from the standard
    /// places (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles; Google's
    /// and Azure's own variables)
    #[arg(long, env = "ETCD_BACKUP_REMOTE", value_name = "URL")]
    pub remote: Option<String>,

    #[command(flatten)]
    pub conn: RemoteConnArgs,
}

/// How to reach the object store.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = OFF_SITE)]
pub struct RemoteConnArgs {
    /// Endpoint of the store (S3-compatible, GCS or Azure)
    ///
    /// An S3-compatible endpoint (path-style addressing), a GCS base URL, or an Azure account's
    /// blob endpoint [default: AWS_ENDPOINT_URL, GOOGLE_BASE_URL,
    /// AZURE_STORAGE_ENDPOINT]
    #[arg(
        long,
        env = "ETCD_BACKUP_REMOTE_ENDPOINT",
        value_name = "URL",
        hide_short_help = true
    )]
    pub remote_endpoint: Option<String>,

    /// Region [default: AWS_REGION, the profile's, else us-east-1]
    #[arg(
        long,
        env = "ETCD_BACKUP_REMOTE_REGION",
        value_name = "REGION",
        hide_short_help = true
    )]
    pub remote_region: Option<String>,

    /// Give up on one request to the store after this long
    #[arg(long, env = "ETCD_BACKUP_REMOTE_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration, hide_short_help = true)]
    pub remote_timeout: Duration,

    /// Retries of a failed request to the store
    #[arg(
        long,
        env = "ETCD_BACKUP_REMOTE_RETRIES",
        value_name = "N",
        hide_short_help = true,
        default_value_t = 5
    )]
    pub remote_retries: usize,
}

/// Keys to open encrypted backups (verify, status, restore, prune --remote).
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// age identity file (AGE-SECRET-KEY-1…, as age-keygen writes it, mode 0600) to decrypt
    /// encrypted backups; repeatable
    #[arg(
        long,
        short = 'i',
        env = "ETCD_BACKUP_IDENTITY",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub identity: Vec<PathBuf>,
}

/// Which config file to read (see `crate::config`). Not settable from the file itself.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration file")]
pub struct ConfigArgs {
    /// Read settings from this TOML file (it must exist) [default: /etc/etcd-backup/config.toml,
    /// when it exists]
    #[arg(
        long,
        env = "ETCD_BACKUP_CONFIG",
        global = true,
        value_name = "FILE",
        hide_short_help = true
    )]
    pub config: Option<PathBuf>,

    /// Read no config file, whatever --config says
    #[arg(long, env = "ETCD_BACKUP_NO_CONFIG", global = true, action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), hide_short_help = true)]
    pub no_config: bool,

    /// Print the resolved settings and where each comes from, then exit without doing anything
    #[arg(long, global = true)]
    pub show_settings: bool,
}

/// The command that renders `-h`: `Cli::command()` without each flag's `[env: …]`, which
/// `--help` and the man pages show (the man pages also list them under ENVIRONMENT).
pub(crate) fn short_help_command() -> clap::Command {
    fn strip(cmd: clap::Command) -> clap::Command {
        let cmd = cmd.mut_args(|a| a.hide_env(true));
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        subs.into_iter()
            .fold(cmd, |c, name| c.mut_subcommand(name, strip))
    }
    strip(<Cli as clap::CommandFactory>::command())
}

/// Durations as etcdctl and systemd users write them: `5s`, `1m30s`, `2h`, `500ms`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{e} (write durations like 5s, 1m30s, 2h)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".to_string());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Example lines fit a 100-column `--help` without wrapping, and every command has some.
    #[test]
    fn examples_fit() {
        let mut root = Cli::command();
        root.build();
        let names = std::iter::once("").chain(
            root.get_subcommands()
                .map(|s| s.get_name())
                .filter(|n| *n != "help"),
        );
        for name in names {
            let text = examples(name).unwrap_or_else(|| panic!("no examples for {name:?}"));
            for line in text.lines() {
                assert!(line.chars().count() <= 96, "{name}: {line}");
            }
        }
    }

    #[test]
    fn durations_parse_like_etcdctl() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn endpoints_split_on_commas() {
        let cli = Cli::try_parse_from([
            "etcd-backup",
            "--endpoints",
            "https://127.0.0.1:2379,https://127.0.0.2:2379",
            "save",
        ])
        .unwrap();
        assert_eq!(cli.global.endpoints.unwrap().len(), 2);
    }
}
