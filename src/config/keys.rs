//! The config file's keys, derived from the clap definitions in `cli.rs`.
//!
//! Top-level keys are the global flags, `[save]`, `[status]`, `[verify]`, `[prune]` and
//! `[restore]` hold each subcommand's own flags; a key is the flag's long name (`backup-dir`,
//! `keep-last`). A new flag is a new key without any change here, unless it is one of the
//! per-invocation switches listed in [`REFUSED`]. The retention flags that `save` shares with
//! `prune` (`KeepArgs`) are set once, in `[prune]`, and `save --prune` applies them.

use std::any::TypeId;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::cli::Cli;

/// Arguments that have no config key, and why. `""` is the top level.
pub(crate) const REFUSED: &[(&str, &str, &str)] = &[
    (
        "",
        "config",
        "the file cannot name another file: use --config or ETCD_BACKUP_CONFIG",
    ),
    ("", "no-config", "it would switch off the file that sets it"),
    ("", "show-settings", PER_RUN),
    (
        "save",
        "label",
        "a label names one backup, and prune keeps labeled backups forever unless \
         --prune-labeled; give --label to the run that takes that backup",
    ),
    (
        "verify",
        "latest",
        "it chooses the files of one run, as FILE does",
    ),
    (
        "verify",
        "all",
        "it chooses the files of one run, as FILE does",
    ),
    (
        "verify",
        "allow-no-hash",
        "it lowers the check for the file at hand; give it to the run that needs it",
    ),
    (
        "drill",
        "latest",
        "it chooses the backup of one run, as BACKUP does",
    ),
    ("prune", "dry-run", PER_RUN),
    ("inspect", "revision", PER_RUN),
    ("export", "revision", PER_RUN),
    ("export", "prefix", PER_RUN),
    ("export", "decode", PER_RUN),
    ("export", "manifests", PER_RUN),
    ("export", "namespace", PER_RUN),
    ("export", "resource", PER_RUN),
    ("export", "name", PER_RUN),
    ("diff", "prefix", PER_RUN),
    ("diff", "live", PER_RUN),
    ("restore", "dry-run", PER_RUN),
    ("delete", "dry-run", PER_RUN),
    (
        "delete",
        "yes",
        "the confirmation must come from whoever runs that delete",
    ),
    (
        "restore",
        "yes",
        "the confirmation must come from whoever runs that restore",
    ),
    (
        "restore",
        "resume",
        "it acts on the journal of one interrupted restore",
    ),
    (
        "restore",
        "rollback",
        "it acts on the journal of one interrupted restore",
    ),
    (
        "restore",
        "output-dir",
        "it chooses the mode and the target of one restore (a dir that must not exist yet)",
    ),
    (
        "restore",
        "wal-dir",
        "it is a target of one data-dir restore (a dir that must not exist yet)",
    ),
    (
        "restore",
        "skip-hash-check",
        "it lowers the check for the file at hand; give it to the run that needs it",
    ),
    (
        "restore",
        "skip-version-check",
        "it lowers the check for the file at hand; give it to the run that needs it",
    ),
];

const PER_RUN: &str = "a per-invocation switch: give it on the command line";

/// The subcommand whose table holds the retention keys, and the clap group (the `KeepArgs`
/// struct) of those flags.
pub(crate) const RETENTION_TABLE: &str = "prune";
const RETENTION_GROUP: &str = "KeepArgs";

/// What a TOML value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    /// `-v`: how many times the flag was given.
    Count,
    Integer,
    Duration,
    /// One of the flag's possible values, as a string.
    Enum,
    Path,
    String,
}

/// How an argument appears in the config file.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// A key of its own table.
    Key,
    /// Not settable from the file, for this reason.
    Refused(String),
    /// Set in another table (the retention flags of `save`, set in `[prune]`).
    SharedFrom(&'static str),
}

/// One argument of one table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The clap id (`backup_dir`).
    pub id: String,
    /// The key (`backup-dir`): the long name, or the id in kebab-case for positionals.
    pub key: String,
    pub arg: Arg,
    pub kind: Kind,
    /// A TOML array: repeatable or comma-delimited flags.
    pub list: bool,
    pub slot: Slot,
}

/// The keys of the top level (`name` is `""`) or of one subcommand's table.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    pub entries: Vec<Entry>,
    /// The built clap command of this table (the root for the top level), for conflicts.
    pub cmd: Command,
}

impl Table {
    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// `[save]`, or "the top level".
    pub(crate) fn describe(&self) -> String {
        if self.name.is_empty() {
            "the top level".to_string()
        } else {
            format!("[{}]", self.name)
        }
    }

    /// Whether clap declares that `a` and `b` exclude each other (declared on either side).
    pub(crate) fn conflict(&self, a: &Arg, b: &Arg) -> bool {
        let declared = |x: &Arg, y: &Arg| {
            self.cmd
                .get_arg_conflicts_with(x)
                .iter()
                .any(|c| c.get_id() == y.get_id())
        };
        declared(a, b) || declared(b, a)
    }

    /// The keys that can be set here, in definition order.
    pub(crate) fn settable(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| matches!(e.slot, Slot::Key))
    }
}

/// The whole key layout: the top level first, then one table per subcommand.
pub(crate) fn tables() -> Vec<Table> {
    let mut root = Cli::command();
    root.build();
    let mut out = vec![Table {
        name: String::new(),
        entries: entries(&root, "", true),
        cmd: root.clone(),
    }];
    for sub in root.get_subcommands().filter(|s| s.get_name() != "help") {
        out.push(Table {
            name: sub.get_name().to_string(),
            entries: entries(sub, sub.get_name(), false),
            cmd: sub.clone(),
        });
    }
    out
}

fn entries(cmd: &Command, table: &str, top: bool) -> Vec<Entry> {
    let retention: Vec<String> = if table == RETENTION_TABLE {
        Vec::new()
    } else {
        cmd.get_groups()
            .filter(|g| g.get_id() == RETENTION_GROUP)
            .flat_map(|g| g.get_args().map(|a| a.to_string()))
            .collect()
    };
    cmd.get_arguments()
        // Globals are keys of the top level only (clap copies them into every subcommand).
        .filter(|a| top == a.is_global_set())
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .map(|a| {
            let id = a.get_id().to_string();
            let key = a
                .get_long()
                .map(str::to_string)
                .unwrap_or_else(|| id.replace('_', "-"));
            let slot = if a.is_positional() {
                Slot::Refused(format!(
                    "{} is an argument of one run: give it on the command line",
                    key.to_uppercase()
                ))
            } else if let Some((_, _, why)) =
                REFUSED.iter().find(|(t, k, _)| *t == table && *k == key)
            {
                Slot::Refused(why.to_string())
            } else if retention.contains(&id) {
                Slot::SharedFrom(RETENTION_TABLE)
            } else {
                Slot::Key
            };
            Entry {
                kind: kind(a),
                list: is_list(a),
                id,
                key,
                arg: a.clone(),
                slot,
            }
        })
        .collect()
}

fn kind(arg: &Arg) -> Kind {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => return Kind::Bool,
        ArgAction::Count => return Kind::Count,
        _ => {}
    }
    let parser = arg.get_value_parser();
    let t = parser.type_id();
    let integers = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i8>(),
        TypeId::of::<i16>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
    ];
    if integers.iter().any(|i| t == *i) {
        Kind::Integer
    } else if t == TypeId::of::<bool>() {
        Kind::Bool
    } else if t == TypeId::of::<Duration>() {
        Kind::Duration
    } else if t == TypeId::of::<PathBuf>() {
        Kind::Path
    } else if parser.possible_values().is_some() {
        Kind::Enum
    } else {
        Kind::String
    }
}

fn is_list(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
        || arg.get_value_delimiter().is_some()
        || arg.get_num_args().is_some_and(|r| r.max_values() > 1)
}

impl Entry {
    /// What a value of this key must look like, for error messages.
    pub(crate) fn expected(&self) -> String {
        let one = match self.kind {
            Kind::Bool => "true or false".to_string(),
            Kind::Count => "an integer (0 for none)".to_string(),
            Kind::Integer => format!("an integer ({})", self.value_name()),
            Kind::Duration => "a duration string such as \"5s\", \"1m30s\" or \"2h\"".to_string(),
            Kind::Enum => format!("one of {}", self.possible_values().join(", ")),
            Kind::Path => "a path string".to_string(),
            Kind::String => format!("a string ({})", self.value_name()),
        };
        if self.list {
            format!("an array of {}", plural(&one))
        } else {
            one
        }
    }

    fn value_name(&self) -> String {
        self.arg
            .get_value_names()
            .and_then(|v| v.first())
            .map(|s| s.to_string())
            .unwrap_or_else(|| self.key.to_uppercase())
    }

    /// The possible values of an enum, quoted as TOML strings.
    pub(crate) fn possible_values(&self) -> Vec<String> {
        self.arg
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| format!("\"{}\"", p.get_name()))
            .collect()
    }

    /// Runs one value through the flag's own clap value parser; `Err` says why it is invalid.
    pub(crate) fn check(&self, value: &str) -> Result<(), String> {
        let probe = Arg::new("value")
            .long("value")
            .action(ArgAction::Set)
            .num_args(1)
            .allow_hyphen_values(true)
            .value_parser(self.arg.get_value_parser().clone());
        let cmd = Command::new("etcd-backup")
            .no_binary_name(true)
            .disable_help_flag(true)
            .arg(probe);
        match cmd.try_get_matches_from([format!("--value={value}")]) {
            Ok(_) => Ok(()),
            Err(e) => Err(reason(&e)),
        }
    }
}

/// "a string" → "strings", for "an array of …".
fn plural(one: &str) -> String {
    let rest = one
        .strip_prefix("an ")
        .or_else(|| one.strip_prefix("a "))
        .unwrap_or(one);
    match rest.split_once(' ') {
        Some((word, tail)) => format!("{word}s {tail}"),
        None => format!("{rest}s"),
    }
}

/// The part of a clap error that says what is wrong with the value.
fn reason(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::InvalidValue {
        if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
            return format!("expected one of {}", valid.join(", "));
        }
    }
    if let Some(source) = std::error::Error::source(e) {
        return source.to_string();
    }
    let text = e.to_string();
    text.lines()
        .next()
        .unwrap_or("invalid value")
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'t>(tables: &'t [Table], table: &str, key: &str) -> &'t Entry {
        tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.entry(key))
            .unwrap_or_else(|| panic!("no {key} in [{table}]"))
    }

    /// Every argument of every command is a key, shared from another table, or refused with a
    /// reason; and every refusal names an argument that exists.
    #[test]
    fn every_argument_has_a_key_or_a_reason() {
        let tables = tables();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "",
                "save",
                "status",
                "verify",
                "prune",
                "restore",
                "drill",
                "delete",
                "health",
                "inspect",
                "export",
                "diff",
                "member",
                "completions"
            ]
        );
        let mut root = Cli::command();
        root.build();
        let mut commands = vec![("", &root)];
        commands.extend(root.get_subcommands().map(|s| (s.get_name(), s)));
        for (name, cmd) in commands.into_iter().filter(|(n, _)| *n != "help") {
            let table = tables.iter().find(|t| t.name == name).unwrap();
            for arg in cmd.get_arguments() {
                if arg.is_global_set() != name.is_empty()
                    || matches!(arg.get_action(), ArgAction::Help | ArgAction::Version)
                {
                    continue;
                }
                let entry = table
                    .entries
                    .iter()
                    .find(|e| e.id == arg.get_id().as_str())
                    .unwrap_or_else(|| panic!("{} has no entry in {name:?}", arg.get_id()));
                match &entry.slot {
                    Slot::Key => {}
                    Slot::Refused(why) => assert!(!why.is_empty()),
                    Slot::SharedFrom(from) => {
                        let other = tables.iter().find(|t| t.name == *from).unwrap();
                        let shared = other.entry(&entry.key).unwrap();
                        assert!(matches!(shared.slot, Slot::Key), "{}", entry.key);
                        assert_eq!(shared.kind, entry.kind);
                    }
                }
            }
        }
        for (table, key, _) in REFUSED {
            let t = tables.iter().find(|t| t.name == *table).unwrap();
            assert!(
                t.entry(key).is_some(),
                "REFUSED names {key} in {table:?}, not a flag"
            );
        }
    }

    #[test]
    fn kinds_follow_the_clap_definitions() {
        let t = tables();
        let cases = [
            ("", "endpoints", Kind::String, true),
            ("", "backup-dir", Kind::Path, false),
            ("", "write-out", Kind::Enum, false),
            ("", "no-manifest", Kind::Bool, false),
            ("", "verbose", Kind::Count, false),
            ("save", "prune", Kind::Bool, false),
            ("save", "dial-timeout", Kind::Duration, false),
            ("save", "encrypt-to", Kind::String, true),
            ("save", "remote-retries", Kind::Integer, false),
            ("prune", "keep-last", Kind::Integer, false),
            ("prune", "identity", Kind::Path, true),
            ("restore", "bump-revision", Kind::Integer, false),
        ];
        for (table, key, kind, list) in cases {
            let e = entry(&t, table, key);
            assert_eq!((e.kind, e.list), (kind, list), "{table}.{key}");
        }
        assert!(matches!(
            entry(&t, "save", "keep-daily").slot,
            Slot::SharedFrom("prune")
        ));
        assert!(matches!(
            entry(&t, "save", "prune-labeled").slot,
            Slot::SharedFrom("prune")
        ));
        assert!(matches!(
            entry(&t, "prune", "dry-run").slot,
            Slot::Refused(_)
        ));
        assert!(matches!(
            entry(&t, "restore", "snapshot").slot,
            Slot::Refused(_)
        ));
        assert_eq!(
            entry(&t, "", "write-out").expected(),
            "one of \"table\", \"json\", \"simple\", \"fields\""
        );
        assert_eq!(
            entry(&t, "", "endpoints").expected(),
            "an array of strings (URL[,URL..])"
        );
    }

    #[test]
    fn values_go_through_the_flags_own_parsers() {
        let t = tables();
        assert!(entry(&t, "prune", "keep-last").check("3").is_ok());
        let zero = entry(&t, "prune", "keep-last").check("0").unwrap_err();
        assert!(zero.contains("0 is not in 1.."), "{zero}");
        let soon = entry(&t, "save", "timeout").check("soon").unwrap_err();
        assert!(soon.contains("write durations like 5s"), "{soon}");
        let fmt = entry(&t, "", "write-out").check("yaml").unwrap_err();
        assert!(fmt.contains("table"), "{fmt}");
        assert!(entry(&t, "save", "label").check("-x").is_ok());
    }
}
