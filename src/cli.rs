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

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the answer is \"no\" (a check found a problem)
  2    error: nothing was changed, or what was half-written was removed
  3    done part-way: save saved the backup but could not prune or write --metrics-file,
       or a restore stopped part-way (the journal path is printed)
  130  interrupted (SIGINT or SIGTERM)";

/// Back up the etcd database of a kubeadm control plane, safely.
///
/// On a kubeadm node no flag is needed: endpoint and certificates are read from the etcd static
/// pod manifest. Flags beat environment variables, which beat /etc/etcd-backup/config.toml,
/// which beats what the manifest says.
#[derive(Debug, Parser)]
// A repeated flag takes its last value, as with etcdctl.
#[command(name = "etcd-backup", version, after_long_help = EXIT_CODES, args_override_self = true)]
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
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        global = true,
        value_name = "URL[,URL..]"
    )]
    pub endpoints: Option<Vec<String>>,

    /// CA bundle that signed etcd's serving certificate
    /// [default: from the manifest, else /etc/kubernetes/pki/etcd/ca.crt]
    #[arg(long, env = "ETCDCTL_CACERT", global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Client certificate [default: from the manifest, else /etc/kubernetes/pki/etcd/server.crt]
    #[arg(long, env = "ETCDCTL_CERT", global = true, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Client private key [default: from the manifest, else /etc/kubernetes/pki/etcd/server.key]
    #[arg(long, env = "ETCDCTL_KEY", global = true, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Directory holding the backups
    #[arg(
        long,
        env = "ETCD_BACKUP_DIR",
        global = true,
        value_name = "DIR",
        default_value = "/var/lib/etcd-backups"
    )]
    pub backup_dir: PathBuf,

    /// kubeadm's etcd static pod manifest, read when it exists
    #[arg(
        long,
        env = "ETCD_BACKUP_MANIFEST",
        global = true,
        value_name = "FILE",
        default_value = "/etc/kubernetes/manifests/etcd.yaml"
    )]
    pub manifest: PathBuf,

    /// Do not read the kubeadm manifest, even where it exists
    #[arg(long, env = "ETCD_BACKUP_NO_MANIFEST", global = true, action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub no_manifest: bool,

    /// Output format on stdout
    #[arg(
        short = 'w',
        long = "write-out",
        value_name = "FORMAT",
        env = "ETCD_BACKUP_WRITE_OUT",
        global = true,
        value_enum,
        default_value_t = OutputFormat::Table
    )]
    pub write_out: OutputFormat,

    /// Only print errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (-vv for debug logs; RUST_LOG overrides)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Messages on stderr: human text, or one JSON object per line for log shippers (stdout is
    /// not affected)
    #[arg(
        long,
        env = "ETCD_BACKUP_LOG_FORMAT",
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    /// After every `save` run (success, failure or skip), write its metrics to this file for
    /// node-exporter's textfile collector, e.g.
    /// /var/lib/node_exporter/textfile_collector/etcd_backup.prom. Replaced atomically, mode 0644
    #[arg(
        long,
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
    Status(StatusArgs),

    /// Prove snapshot files intact and restorable
    ///
    /// For each file: the SHA-256 trailer is present and matches, the full bbolt integrity check
    /// passes, the etcd data is sane (revision keys, KeyValue values, consistent index), and the
    /// sidecar .json, when present, agrees on size, SHA-256 and revision. One line per file, then
    /// a summary. Exit 0 when all are good, 1 when any is bad, 2 on a usage or I/O error.
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
    Restore(RestoreArgs),
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
        value_name = "DIR",
        env = "ETCD_BACKUP_MANIFESTS_DIR",
        default_value = "/etc/kubernetes/manifests"
    )]
    pub manifests_dir: PathBuf,

    /// Node mode: the kubelet's systemd unit
    #[arg(long, value_name = "UNIT", default_value = "kubelet")]
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

    /// Node mode: how long to wait for the old etcd to let go of its data dir
    #[arg(long, value_name = "D", default_value = "2m", value_parser = parse_duration)]
    pub stop_timeout: Duration,

    /// Node mode: how long to wait for the restored etcd to become healthy
    #[arg(long, value_name = "D", default_value = "5m", value_parser = parse_duration)]
    pub start_timeout: Duration,

    /// This member's name [default: from the manifest, else "default"]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Every member of the new cluster, NAME=URL[,NAME=URL..]
    /// [default: from the manifest, else NAME=<advertise URLs>]
    #[arg(long, value_name = "N=URL,..")]
    pub initial_cluster: Option<String>,

    /// This member's peer URLs [default: from the manifest, else http://localhost:2380]
    #[arg(long, value_name = "URL[,URL..]")]
    pub initial_advertise_peer_urls: Option<String>,

    /// The new cluster's token [default: from the manifest, else etcd-cluster]
    #[arg(long, value_name = "TOKEN")]
    pub initial_cluster_token: Option<String>,

    /// Put the WAL here instead of <output-dir>/member/wal (start etcd with the same --wal-dir)
    #[arg(long, value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,

    /// Accept a file without a SHA-256 trailer (a raw member/snap/db copy); a trailer that is
    /// present is still checked
    #[arg(long)]
    pub skip_hash_check: bool,

    /// Bump the revision by N instead of 1,000,000,000 (needs --mark-compacted, as with etcdutl)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with = "no_bump_revision")]
    pub bump_revision: Option<u64>,

    /// Mark every revision up to the bumped one compacted (goes with --bump-revision)
    #[arg(long, conflicts_with = "no_bump_revision")]
    pub mark_compacted: bool,

    /// Keep the snapshot's revision (clients with newer cached revisions may misbehave)
    #[arg(long)]
    pub no_bump_revision: bool,

    /// Keep alarms stored in the snapshot (a NOSPACE alarm blocks writes until disarmed)
    #[arg(long)]
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
#[command(next_help_heading = "Retention (a backup is kept when any rule keeps it)")]
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
    #[arg(long, env = "ETCD_BACKUP_KEEP_WITHIN", value_name = "D", value_parser = parse_duration)]
    pub keep_within: Option<Duration>,

    /// Keep the newest backup of each of the last N hours (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_HOURLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_hourly: Option<u32>,

    /// Keep the newest backup of each of the last N days (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_DAILY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_daily: Option<u32>,

    /// Keep the newest backup of each of the last N ISO weeks (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_WEEKLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_weekly: Option<u32>,

    /// Keep the newest backup of each of the last N months (UTC) that have one
    #[arg(long, env = "ETCD_BACKUP_KEEP_MONTHLY", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_monthly: Option<u32>,

    /// Keep every labeled backup (save --label), whatever the rules say [the default]
    #[arg(long, conflicts_with = "prune_labeled")]
    pub keep_labeled: bool,

    /// Apply the rules to labeled backups too
    #[arg(long, env = "ETCD_BACKUP_PRUNE_LABELED", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub prune_labeled: bool,
}

impl KeepArgs {
    /// True when any retention flag was given (for `save`, where they need `--prune`).
    pub fn any_given(&self) -> bool {
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

    /// The retention policy, with `--keep-days 7` when no keep rule was given.
    pub fn policy(&self) -> crate::retention::Policy {
        crate::retention::Policy {
            last: self.keep_last,
            within: self.keep_within.or_else(|| {
                self.keep_days
                    .map(|d| Duration::from_secs(u64::from(d) * 86_400))
            }),
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            prune_labeled: self.prune_labeled,
        }
        .or_default()
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
    /// Label appended to the file name, e.g. pre-upgrade-1.31 ([A-Za-z0-9._-])
    #[arg(long, env = "ETCD_BACKUP_LABEL", value_name = "NAME")]
    pub label: Option<String>,

    /// Give up connecting to an endpoint after this long
    #[arg(long, env = "ETCD_BACKUP_DIAL_TIMEOUT", value_name = "D", default_value = "5s",
          value_parser = parse_duration)]
    pub dial_timeout: Duration,

    /// Give up when etcd sends nothing for this long
    #[arg(long, env = "ETCD_BACKUP_STALL_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration)]
    pub stall_timeout: Duration,

    /// Give up when the whole run takes longer than this
    #[arg(long, env = "ETCD_BACKUP_TIMEOUT", value_name = "D", default_value = "30m",
          value_parser = parse_duration)]
    pub timeout: Duration,

    /// After a successful save, prune the backup dir by the retention flags below
    #[arg(long, env = "ETCD_BACKUP_PRUNE", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub prune: bool,

    #[command(flatten)]
    pub keep: KeepArgs,

    /// Compress the snapshot as it arrives (file name gets .zst)
    #[arg(long, env = "ETCD_BACKUP_COMPRESS", value_enum, value_name = "ALGO",
          default_value_t = Compression::None, help_heading = "Protection at rest")]
    pub compress: Compression,

    /// Encrypt to this age recipient (age1…) or to every key in this recipients file;
    /// repeatable. The snapshot is encrypted as it arrives: no plaintext copy is written
    /// (file name gets .age)
    #[arg(
        long,
        env = "ETCD_BACKUP_ENCRYPT_TO",
        value_name = "RECIPIENT|FILE",
        value_delimiter = ',',
        help_heading = "Protection at rest"
    )]
    pub encrypt_to: Vec<String>,

    /// Also save the kubeadm DR bundle <name>-pki.tar[.zst][.age]: /etc/kubernetes/pki, the
    /// static pod manifests, kubeconfigs and the kubeadm/kubelet config found on the node
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
        help_heading = "Protection at rest"
    )]
    pub kubernetes_dir: PathBuf,

    /// Where --with-pki reads the kubelet's config.yaml and kubeadm-flags.env
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/kubelet",
        env = "ETCD_BACKUP_KUBELET_DIR",
        help_heading = "Protection at rest"
    )]
    pub kubelet_dir: PathBuf,

    #[command(flatten)]
    pub remote: RemoteArgs,

    /// After uploading, read the object back and check its SHA-256
    #[arg(long, env = "ETCD_BACKUP_VERIFY_UPLOAD", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new(), requires = "remote",
          help_heading = "Remote storage")]
    pub verify_upload: bool,

    /// Save only when the member we would snapshot from is the raft leader (exit 0 otherwise),
    /// so every control-plane node can share one schedule; with no leader, save anyway
    #[arg(long, env = "ETCD_BACKUP_SKIP_UNLESS_LEADER", action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub skip_unless_leader: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Zstd,
}

/// Object storage for off-site copies, shared by save, prune, status and verify.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Remote storage")]
pub struct RemoteArgs {
    /// Off-site copies: s3://BUCKET/PREFIX/, gs://BUCKET/PREFIX/, az://CONTAINER/PREFIX/ or
    /// file:///DIR. Objects are PREFIX/<node>/<file>. Credentials come from the standard
    /// places (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles; Google's
    /// and Azure's own variables)
    #[arg(long, env = "ETCD_BACKUP_REMOTE", value_name = "URL")]
    pub remote: Option<String>,

    #[command(flatten)]
    pub conn: RemoteConnArgs,
}

/// How to reach the object store.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Remote storage")]
pub struct RemoteConnArgs {
    /// Endpoint of the store: an S3-compatible one (path-style addressing), a GCS base URL, or
    /// an Azure account's blob endpoint [default: AWS_ENDPOINT_URL, GOOGLE_BASE_URL,
    /// AZURE_STORAGE_ENDPOINT]
    #[arg(long, env = "ETCD_BACKUP_REMOTE_ENDPOINT", value_name = "URL")]
    pub remote_endpoint: Option<String>,

    /// Region [default: AWS_REGION, the profile's, else us-east-1]
    #[arg(long, env = "ETCD_BACKUP_REMOTE_REGION", value_name = "REGION")]
    pub remote_region: Option<String>,

    /// Give up on one request to the store after this long
    #[arg(long, env = "ETCD_BACKUP_REMOTE_TIMEOUT", value_name = "D", default_value = "60s",
          value_parser = parse_duration)]
    pub remote_timeout: Duration,

    /// Retries of a failed request to the store
    #[arg(
        long,
        env = "ETCD_BACKUP_REMOTE_RETRIES",
        value_name = "N",
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
    #[arg(long, env = "ETCD_BACKUP_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read no config file, whatever --config says
    #[arg(long, env = "ETCD_BACKUP_NO_CONFIG", global = true, action = ArgAction::SetTrue,
          value_parser = clap::builder::FalseyValueParser::new())]
    pub no_config: bool,

    /// Print the resolved settings and where each comes from, then exit without doing anything
    #[arg(long, global = true, hide = true)]
    pub show_settings: bool,
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
