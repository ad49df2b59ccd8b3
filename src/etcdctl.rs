//! etcdctl and etcdutl habits, met before the command line is parsed.
//!
//! - `etcd-backup snapshot save|status …` runs `save`/`status` (with a one-line note), as
//!   `etcdctl snapshot save FILE` and `etcdutl snapshot status FILE` would.
//!   `snapshot restore` is refused with the command to use: etcdutl's `--data-dir` is the new
//!   data dir, ours is the live one of this node, so the same words would mean another thing.
//! - `ETCDCTL_DIAL_TIMEOUT` is `save --dial-timeout` (both bound connecting to an endpoint), when
//!   `ETCD_BACKUP_DIAL_TIMEOUT` is not set.
//! - `ETCDCTL_COMMAND_TIMEOUT` bounds one request in etcdctl; a save is bounded by `--timeout`
//!   (the whole run) and `--stall-timeout` (etcd sending nothing) instead, so it is not used,
//!   and `save` says so.

use std::ffi::{OsStr, OsString};

use clap::CommandFactory;

use crate::cli::Cli;
use crate::diagnostics::ExitStatus;
use crate::output::early_printer;

/// `argv` with etcdctl's habits mapped to ours; `Err` is the exit code after a refusal (the
/// message is printed).
pub(crate) fn habits(mut argv: Vec<OsString>) -> Result<Vec<OsString>, ExitStatus> {
    let at = subcommand_index(&argv);
    let quiet = argv
        .iter()
        .take(at.unwrap_or(argv.len()))
        .chain(argv.iter().skip(at.map_or(argv.len(), |i| i + 1)))
        .any(|a| a == "-q" || a == "--quiet");
    let printer = early_printer(&argv);
    let mut command = at.and_then(|i| argv[i].to_str()).map(str::to_string);
    if let (Some(i), Some("snapshot")) = (at, command.as_deref()) {
        let next = argv.get(i + 1).and_then(|a| a.to_str()).map(str::to_string);
        match next.as_deref() {
            Some(sub @ ("save" | "status")) => {
                if !quiet {
                    printer.phase(format!(
                        "note: `snapshot {sub}` is `etcd-backup {sub}` here; running that"
                    ));
                }
                argv.remove(i);
                command = Some(sub.to_string());
            }
            other => {
                let what = other.map_or(String::new(), |o| format!(" {o}"));
                let tip = match other {
                    Some("restore") => {
                        "`etcd-backup restore FILE --output-dir DIR` builds a new data dir as \
                         `etcdutl snapshot restore FILE --data-dir DIR` does (without \
                         --output-dir it restores this kubeadm node's etcd in place)"
                    }
                    _ => {
                        "etcdctl's `snapshot save` is `etcd-backup save [FILE]`, `snapshot \
                         status` is `etcd-backup status FILE`, `snapshot restore` is \
                         `etcd-backup restore FILE --output-dir DIR`"
                    }
                };
                printer.error(&crate::diagnostics::with_hint(
                    anyhow::anyhow!("`etcd-backup snapshot{what}` is not a command"),
                    tip,
                ));
                return Err(ExitStatus::Error);
            }
        }
    }
    if command.as_deref() == Some("save") {
        dial_timeout_from_etcdctl(&printer);
        if std::env::var_os("ETCDCTL_COMMAND_TIMEOUT").is_some() && !quiet {
            printer.phase(
                "note: ETCDCTL_COMMAND_TIMEOUT is not used: a save is bounded by --timeout \
                 (ETCD_BACKUP_TIMEOUT, the whole run) and --stall-timeout \
                 (ETCD_BACKUP_STALL_TIMEOUT, etcd sending nothing)",
            );
        }
    }
    Ok(argv)
}

/// `ETCDCTL_DIAL_TIMEOUT` as `ETCD_BACKUP_DIAL_TIMEOUT`, which wins when both are set.
fn dial_timeout_from_etcdctl(printer: &crate::output::Printer) {
    let Some(v) = std::env::var_os("ETCDCTL_DIAL_TIMEOUT") else {
        return;
    };
    if std::env::var_os("ETCD_BACKUP_DIAL_TIMEOUT").is_some() {
        return;
    }
    printer.detail(format!(
        "ETCDCTL_DIAL_TIMEOUT={} is used as --dial-timeout (ETCD_BACKUP_DIAL_TIMEOUT)",
        v.to_string_lossy()
    ));
    // Still single-threaded: nothing else reads the environment yet.
    std::env::set_var("ETCD_BACKUP_DIAL_TIMEOUT", v);
}

/// Where the subcommand is in `argv`: the first word that is neither an option nor the value
/// of one of the global options before it.
pub(crate) fn subcommand_index(argv: &[OsString]) -> Option<usize> {
    let cmd = Cli::command();
    let takes_value = |a: &clap::Arg| a.get_action().takes_values();
    let long_takes = |name: &str| {
        cmd.get_arguments()
            .any(|a| a.get_long() == Some(name) && takes_value(a))
    };
    let short_takes = |c: char| {
        cmd.get_arguments()
            .any(|a| a.get_short() == Some(c) && takes_value(a))
    };
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].to_string_lossy();
        if a == "--" {
            return (i + 1 < argv.len()).then_some(i + 1);
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && long_takes(long) {
                i += 1;
            }
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            // `-w json`, `-qw json`; `-wjson` carries its value.
            let chars: Vec<char> = shorts.chars().collect();
            if let Some(pos) = chars.iter().position(|c| short_takes(*c)) {
                if pos + 1 == chars.len() {
                    i += 1;
                }
            }
        } else {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether `argv` runs `name` (the subcommand as typed, aliases included).
pub(crate) fn runs(argv: &[OsString], name: &str) -> bool {
    subcommand_index(argv).is_some_and(|i| argv[i] == OsStr::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_subcommand_is_found_past_global_options_and_their_values() {
        let cases = [
            ("etcd-backup save", Some(1)),
            (
                "etcd-backup --endpoints https://a:2379 snapshot save",
                Some(3),
            ),
            ("etcd-backup -w json status", Some(3)),
            ("etcd-backup -wjson status", Some(2)),
            ("etcd-backup -qw json status", Some(3)),
            ("etcd-backup --backup-dir=/x -v ls", Some(3)),
            ("etcd-backup --no-manifest", None),
        ];
        for (line, want) in cases {
            assert_eq!(subcommand_index(&argv(line)), want, "{line}");
        }
        assert!(runs(&argv("etcd-backup -v snapshot save"), "snapshot"));
    }

    #[test]
    fn snapshot_save_and_status_become_ours() {
        let out = habits(argv("etcd-backup --endpoints x snapshot save /tmp/a.db")).unwrap();
        assert_eq!(out, argv("etcd-backup --endpoints x save /tmp/a.db"));
        let out = habits(argv("etcd-backup -q snapshot status a.db")).unwrap();
        assert_eq!(out, argv("etcd-backup -q status a.db"));
        assert_eq!(
            habits(argv("etcd-backup snapshot restore a.db")),
            Err(ExitStatus::Error)
        );
    }
}
