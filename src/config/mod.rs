//! The config file, `/etc/etcd-backup/config.toml`, and how it joins the command line.
//!
//! Precedence: flags > environment > config file > kubeadm manifest > built-in defaults.
//!
//! A first, error-tolerant parse of the command line finds `--config`/`--no-config` (and their
//! environment variables). The file's values then become clap *defaults* of their flags, so
//! clap's own order (flag, then environment, then default) does the rest, and what is still
//! unset afterwards is filled from the manifest by `settings.rs` and the commands. Keys are the
//! flags' long names ([`keys`]); every value is checked by its flag's own value parser before
//! anything runs ([`file`]).
//!
//! Defaults do not take part in clap's conflict checks. So a value from the file that conflicts
//! with a flag or variable given for this run (`[prune] keep-days` and `--keep-within`,
//! `quiet = true` and `-v`) gives way to it, and the retention keys of `[prune]` apply to
//! `save` only when it prunes.

mod example;
mod file;
pub(crate) mod keys;
mod show;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgMatches, Command, CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::diagnostics::{self, ExitStatus};
use crate::output;

pub use example::example_file;
pub use file::{ConfigError, Problem};
use keys::{Table, RETENTION_TABLE};

/// Read when neither `--config` nor `--no-config` is given; a missing file is fine.
pub(crate) const DEFAULT_PATH: &str = "/etc/etcd-backup/config.toml";

/// Which file was considered, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Read; its values are in effect.
    Read(PathBuf),
    /// The default file does not exist.
    Absent(PathBuf),
    /// The default file exists but this user may not read it (a warning was printed).
    Unreadable(PathBuf),
    /// `--no-config` or ETCD_BACKUP_NO_CONFIG.
    Disabled,
}

/// One value of the file, set as the default of one flag of one command.
#[derive(Debug, Clone)]
struct Applied {
    /// The subcommand (`""` for a global flag).
    scope: String,
    value: file::Value,
}

/// A value of the file that gave way to a flag or variable of this run.
#[derive(Debug, Clone)]
struct Dropped {
    applied: Applied,
    because: String,
}

/// The parsed command line, and where each setting came from (for `--show-settings`).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub cli: Cli,
    state: State,
    matches: ArgMatches,
    applied: Vec<Applied>,
    dropped: Vec<Dropped>,
    tables: Vec<Table>,
}

/// Parses `argv` with the config file's values. Prints help, version, usage and config errors
/// itself and returns the exit code in `Err`.
pub(crate) fn parse_args(argv: Vec<OsString>) -> Result<Parsed, ExitStatus> {
    let first = match Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
    {
        Ok(m) => m,
        Err(e) => return Err(clap_exit(&short_help(e, &argv))),
    };
    let tables = keys::tables();
    let (state, config) = match locate(&first) {
        None => (State::Disabled, None),
        Some((path, required)) => match file::load(&path, required, &tables) {
            Ok(Some(f)) => (State::Read(path), Some(f)),
            Ok(None) => (State::Absent(path), None),
            // Root's 0600 file, and someone else runs `etcd-backup verify FILE`: go on without
            // it, but say so.
            Err(ConfigError::Io { path, source })
                if required.is_none() && source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                output::early_printer(&argv).warn(format!(
                    "cannot read config file {} ({source}); going on without it (--no-config \
                     skips it quietly)",
                    path.display()
                ));
                (State::Unreadable(path), None)
            }
            Err(e) => {
                let hint = e.hint();
                output::early_printer(&argv).error(&diagnostics::with_hint(e, hint));
                return Err(ExitStatus::Error);
            }
        },
    };
    let mut applied = config.map(|f| plan(&f, &tables)).unwrap_or_default();
    let mut dropped: Vec<Dropped> = Vec::new();
    // Twice at most: giving way never makes another value give way.
    let matches = loop {
        let cmd = apply(Cli::command(), &applied);
        let matches = match cmd.try_get_matches_from(&argv) {
            Ok(m) => m,
            Err(e) => return Err(clap_exit(&e)),
        };
        let now = give_way(&applied, &matches, &tables);
        if now.is_empty() {
            break matches;
        }
        applied.retain(|a| {
            !now.iter()
                .any(|d| d.applied.scope == a.scope && d.applied.value.id == a.value.id)
        });
        dropped.extend(now);
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return Err(clap_exit(&e)),
    };
    Ok(Parsed {
        cli,
        state,
        matches,
        applied,
        dropped,
        tables,
    })
}

/// `-h` without the `[env: …]` of each flag, which `--help` shows: a short page for a quick look.
fn short_help(e: clap::Error, argv: &[OsString]) -> clap::Error {
    if e.kind() != clap::error::ErrorKind::DisplayHelp || argv.iter().any(|a| a == "--help") {
        return e;
    }
    match crate::cli::short_help_command().try_get_matches_from(argv) {
        Err(short) if short.kind() == clap::error::ErrorKind::DisplayHelp => short,
        _ => e,
    }
}

/// Prints a clap error (or help, or the version) and returns the exit code.
fn clap_exit(e: &clap::Error) -> ExitStatus {
    crate::output::print_parse_error(e);
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
            ExitStatus::Success
        }
        _ => ExitStatus::Error,
    }
}

/// The file to read and, when it must exist, what named it; `None` with `--no-config`.
fn locate(first: &ArgMatches) -> Option<(PathBuf, Option<&'static str>)> {
    let no_config = first
        .try_get_one::<bool>("no_config")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    if no_config {
        return None;
    }
    let given = first.try_get_one::<PathBuf>("config").ok().flatten();
    match given {
        Some(path) => {
            let by = match first.value_source("config") {
                Some(ValueSource::EnvVariable) => "ETCD_BACKUP_CONFIG",
                _ => "--config",
            };
            Some((path.clone(), Some(by)))
        }
        None => Some((PathBuf::from(DEFAULT_PATH), None)),
    }
}

/// Which flag of which command each value of the file sets. The retention keys of `[prune]`
/// also set `save`'s retention flags.
fn plan(f: &file::ConfigFile, tables: &[Table]) -> Vec<Applied> {
    let mut out = Vec::new();
    for v in &f.values {
        out.push(Applied {
            scope: v.table.clone(),
            value: v.clone(),
        });
        if v.table == RETENTION_TABLE {
            for t in tables.iter().filter(|t| t.name != RETENTION_TABLE) {
                let shared = t.entries.iter().any(|e| {
                    e.id == v.id && matches!(e.slot, keys::Slot::SharedFrom(RETENTION_TABLE))
                });
                if shared {
                    out.push(Applied {
                        scope: t.name.clone(),
                        value: v.clone(),
                    });
                }
            }
        }
    }
    out
}

/// `cmd` with each value as the default of its flag.
fn apply(mut cmd: Command, applied: &[Applied]) -> Command {
    for a in applied {
        let raw = a.value.raw.clone();
        let id = a.value.id.clone();
        if a.scope.is_empty() {
            cmd = cmd.mut_arg(&id, |arg| arg.default_values(raw));
        } else {
            cmd = cmd.mut_subcommand(&a.scope, |sub| {
                sub.mut_arg(&id, |arg| arg.default_values(raw))
            });
        }
    }
    cmd
}

/// The values of the file in effect for this run that must give way: those that conflict with
/// a flag or variable given for this run, and `[prune]`'s retention keys in a `save` that does
/// not prune.
fn give_way(applied: &[Applied], matches: &ArgMatches, tables: &[Table]) -> Vec<Dropped> {
    let mut out = Vec::new();
    let sub = matches.subcommand();
    for a in applied {
        let (scope_matches, table) = if a.scope.is_empty() {
            (matches, &tables[0])
        } else {
            match sub {
                Some((name, m)) if name == a.scope => {
                    match tables.iter().find(|t| t.name == a.scope) {
                        Some(t) => (m, t),
                        None => continue,
                    }
                }
                _ => continue,
            }
        };
        if scope_matches.value_source(&a.value.id) != Some(ValueSource::DefaultValue) {
            continue;
        }
        if a.scope == "save" && a.value.table == RETENTION_TABLE {
            let prunes = scope_matches
                .try_get_one::<bool>("prune")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(false);
            if !prunes {
                out.push(Dropped {
                    applied: a.clone(),
                    because: "save runs without --prune".to_string(),
                });
                continue;
            }
        }
        if !a.value.present {
            continue;
        }
        let Some(arg) = table
            .entries
            .iter()
            .find(|e| e.id == a.value.id)
            .map(|e| &e.arg)
        else {
            continue;
        };
        let others = table.entries.iter().map(|e| &e.arg);
        for other in others.filter(|o| table.conflict(arg, o)) {
            let id = other.get_id().as_str();
            let explicit = matches!(
                scope_matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            let on = match other.get_action() {
                clap::ArgAction::SetTrue | clap::ArgAction::SetFalse => scope_matches
                    .try_get_one::<bool>(id)
                    .ok()
                    .flatten()
                    .copied()
                    .unwrap_or(false),
                clap::ArgAction::Count => scope_matches
                    .try_get_one::<u8>(id)
                    .ok()
                    .flatten()
                    .is_some_and(|n| *n > 0),
                _ => true,
            };
            if explicit && on {
                let name = other
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .unwrap_or_else(|| id.to_uppercase());
                let how = match scope_matches.value_source(id) {
                    Some(ValueSource::EnvVariable) => other
                        .get_env()
                        .map(|e| format!(" ({})", e.to_string_lossy()))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                out.push(Dropped {
                    applied: a.clone(),
                    because: format!("conflicts with {name}{how} given for this run"),
                });
                break;
            }
        }
    }
    out
}

/// The directory of `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command as Sub;

    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn run(path: &Path, args: &[&str]) -> Parsed {
        let mut argv: Vec<OsString> = vec!["etcd-backup".into(), "--config".into()];
        argv.push(path.into());
        argv.extend(args.iter().map(OsString::from));
        parse_args(argv).unwrap_or_else(|code| panic!("exit {code:?}"))
    }

    #[test]
    fn the_file_fills_what_the_command_line_leaves_unset() {
        let (_d, path) = config(
            "backup-dir = \"/srv/b\"\nendpoints = [\"https://a:2379\"]\nverbose = 2\n\
             [save]\nprune = true\ndial-timeout = \"2s\"\n[prune]\nkeep-daily = 7\n",
        );
        let p = run(&path, &["save"]);
        assert_eq!(p.cli.global.backup_dir, Path::new("/srv/b"));
        assert_eq!(
            p.cli.global.endpoints,
            Some(vec!["https://a:2379".to_string()])
        );
        assert_eq!(p.cli.global.verbose, 2);
        let Sub::Save(save) = &p.cli.command else {
            panic!("not save")
        };
        assert!(save.prune);
        assert_eq!(save.dial_timeout, std::time::Duration::from_secs(2));
        assert_eq!(
            save.keep.keep_daily,
            Some(7),
            "[prune] retention applies to save --prune"
        );

        let p = run(
            &path,
            &["--backup-dir", "/x", "save", "-v", "--dial-timeout", "9s"],
        );
        assert_eq!(p.cli.global.backup_dir, Path::new("/x"));
        assert_eq!(p.cli.global.verbose, 1);
        let Sub::Save(save) = &p.cli.command else {
            panic!("not save")
        };
        assert_eq!(save.dial_timeout, std::time::Duration::from_secs(9));
    }

    #[test]
    fn file_values_give_way_to_conflicting_flags() {
        let (_d, path) =
            config("quiet = true\n[prune]\nkeep-days = 3\n[status]\nmax-age = \"5h\"\n");
        let p = run(&path, &["-v", "prune", "--keep-within", "2d"]);
        assert!(!p.cli.global.quiet);
        let Sub::Prune(prune) = &p.cli.command else {
            panic!("not prune")
        };
        assert_eq!(prune.keep.keep_days, None);
        assert!(prune.keep.keep_within.is_some());
        assert_eq!(p.dropped.len(), 2, "{:?}", p.dropped);
        let p = run(&path, &["status", "some.db"]);
        let Sub::Status(status) = &p.cli.command else {
            panic!("not status")
        };
        assert_eq!(status.max_age, None, "FILE and max-age exclude each other");
        let p = run(&path, &["status"]);
        let Sub::Status(status) = &p.cli.command else {
            panic!("not status")
        };
        assert!(status.max_age.is_some());
    }

    #[test]
    fn retention_reaches_save_only_when_it_prunes() {
        let (_d, path) = config("[prune]\nkeep-last = 4\n");
        let p = run(&path, &["save"]);
        let Sub::Save(save) = &p.cli.command else {
            panic!("not save")
        };
        assert!(
            !save.keep.any_given(),
            "save without --prune must not see retention"
        );
        let p = run(&path, &["save", "--prune"]);
        let Sub::Save(save) = &p.cli.command else {
            panic!("not save")
        };
        assert_eq!(save.keep.keep_last, Some(4));
    }
}
