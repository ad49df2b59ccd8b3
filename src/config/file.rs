//! Reading and checking one config file: ownership and mode, TOML, keys, types and values.
//!
//! Every problem is reported with the file, line and column, the key and what is expected;
//! values go through the flag's own clap value parser, so `keep-last = 0` is reported against
//! its line in the file rather than as a command-line error.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::keys::{Entry, Kind, Slot, Table};

/// One value from the file, ready to become a clap default.
#[derive(Debug, Clone)]
pub(super) struct Value {
    /// The table it was written in (`""` for the top level).
    pub table: String,
    pub key: String,
    /// The clap id of the argument.
    pub id: String,
    /// The values as the command line would give them (`"true"`, `"5s"`, `"3"`).
    pub raw: Vec<String>,
    /// False for `false` and `0`: such a value cannot conflict with another.
    pub present: bool,
    pub line: usize,
    pub column: usize,
}

/// A parsed and checked config file.
#[derive(Debug, Clone)]
pub(super) struct ConfigFile {
    pub values: Vec<Value>,
}

/// One problem, at a line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist (given by {by})", path.display())]
    Missing { path: PathBuf, by: String },
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing config file {}: {why}", path.display())]
    Unsafe { path: PathBuf, why: String },
    #[error("{}", Problems(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

struct Problems<'a>(&'a Path, &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n  ")?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.0.display(),
                p.line,
                p.column,
                p.message
            )?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            ConfigError::Missing { .. } => {
                "fix the path, or pass --no-config to read no config file".to_string()
            }
            ConfigError::Io { .. } => {
                "make the file readable, or pass --no-config to read no config file".to_string()
            }
            ConfigError::Unsafe { path, .. } => format!(
                "the file decides where backups go and which are deleted: `chown root: {0}` and \
                 `chmod go-w {0}` (and the same for its directory)",
                path.display()
            ),
            ConfigError::Invalid { .. } => {
                "the README's \"Configuration file\" section lists every key; --show-settings \
                 shows what is in effect; --no-config reads no config file"
                    .to_string()
            }
        }
    }
}

/// Reads, checks and parses `path`. A missing file is `Ok(None)` unless `required`.
pub(super) fn load(
    path: &Path,
    required: Option<&str>,
    tables: &[Table],
) -> Result<Option<ConfigFile>, ConfigError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match required {
                Some(by) => Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                    by: by.to_string(),
                }),
                None => Ok(None),
            };
        }
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    check_safe(path, &meta)?;
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems: vec![Problem {
            line: 1,
            column: 1,
            message: "not UTF-8 text (TOML files are UTF-8)".to_string(),
        }],
    })?;
    parse(path, &text, tables, true).map(Some)
}

/// Refuses a file that others than its owner could have written: it decides where backups go
/// and which ones are deleted. The owner must be root or the user running etcd-backup; the file
/// and its directory must not be world-writable (a sticky directory is fine); when root runs
/// it, a group other than root's must not be able to write either.
fn check_safe(path: &Path, meta: &std::fs::Metadata) -> Result<(), ConfigError> {
    let unsafe_ = |why: String| ConfigError::Unsafe {
        path: path.to_path_buf(),
        why,
    };
    if !meta.is_file() {
        return Err(unsafe_("not a regular file".to_string()));
    }
    let real = std::fs::canonicalize(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut dirs = vec![super::parent_dir(&real)];
    if real != path {
        // A symlink: whoever can write the link's directory can point it elsewhere.
        dirs.push(super::parent_dir(path));
    }
    if let Some(why) = writable_by_others(meta, false) {
        return Err(unsafe_(why));
    }
    for dir in dirs {
        let dmeta = std::fs::metadata(&dir).map_err(|source| ConfigError::Io {
            path: dir.clone(),
            source,
        })?;
        if let Some(why) = writable_by_others(&dmeta, true) {
            return Err(unsafe_(format!("its directory {} is {why}", dir.display())));
        }
    }
    Ok(())
}

fn writable_by_others(meta: &std::fs::Metadata, dir: bool) -> Option<String> {
    let euid = rustix::process::geteuid().as_raw();
    let mode = meta.permissions().mode();
    let sticky = dir && mode & 0o1000 != 0;
    if meta.uid() != 0 && meta.uid() != euid {
        return Some(format!(
            "owned by uid {}, neither root nor this user (uid {euid})",
            meta.uid()
        ));
    }
    if mode & 0o002 != 0 && !sticky {
        return Some(format!(
            "writable by every user (mode {:04o})",
            mode & 0o7777
        ));
    }
    if euid == 0 && mode & 0o020 != 0 && meta.gid() != 0 && !sticky {
        return Some(format!(
            "writable by group {} (mode {:04o}) and etcd-backup runs as root",
            meta.gid(),
            mode & 0o7777
        ));
    }
    None
}

/// Parses and checks `text`. `conflicts` off skips the check that two keys of one table do not
/// exclude each other (used on the shipped example, where every key is uncommented).
pub(super) fn parse(
    path: &Path,
    text: &str,
    tables: &[Table],
    conflicts: bool,
) -> Result<ConfigFile, ConfigError> {
    let at = |offset: usize| line_column(text, offset);
    let invalid = |problems: Vec<Problem>| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = at(e.span().map_or(0, |s| s.start));
        invalid(vec![Problem {
            line,
            column,
            message: format!("invalid TOML: {}", e.message().trim_end()),
        }])
    })?;
    let mut checker = Checker {
        tables,
        text,
        values: Vec::new(),
        problems: Vec::new(),
    };
    let top = &tables[0];
    for (k, v) in doc.get_ref().iter() {
        let name = k.get_ref().as_ref();
        match tables.iter().skip(1).find(|t| t.name == name) {
            Some(table) => match v.get_ref() {
                DeValue::Table(inner) => {
                    for (k, v) in inner.iter() {
                        checker.value(table, k, v);
                    }
                }
                _ => checker.problem(
                    k.span().start,
                    format!("`{name}` must be a table: write the {name} settings under [{name}]"),
                ),
            },
            None => checker.value(top, k, v),
        }
    }
    // In file order (the parser sorts keys).
    checker.values.sort_by_key(|v| (v.line, v.column));
    if conflicts {
        checker.conflicts();
    }
    let Checker {
        values,
        mut problems,
        ..
    } = checker;
    if problems.is_empty() {
        Ok(ConfigFile { values })
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(invalid(problems))
    }
}

struct Checker<'a> {
    tables: &'a [Table],
    text: &'a str,
    values: Vec<Value>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, offset: usize, message: String) {
        let (line, column) = line_column(self.text, offset);
        self.problems.push(Problem {
            line,
            column,
            message,
        });
    }

    fn value(
        &mut self,
        table: &Table,
        k: &Spanned<std::borrow::Cow<'_, str>>,
        v: &Spanned<DeValue<'_>>,
    ) {
        let key = k.get_ref().as_ref();
        let at_key = k.span().start;
        let Some(entry) = table.entry(key) else {
            let msg = self.unknown(table, key, v);
            return self.problem(at_key, msg);
        };
        match &entry.slot {
            Slot::Key => {}
            Slot::Refused(why) => {
                return self.problem(
                    at_key,
                    format!(
                        "`{key}` cannot be set in {}: {why}",
                        if table.name.is_empty() {
                            "the config file".to_string()
                        } else {
                            format!("[{}] of the config file", table.name)
                        }
                    ),
                )
            }
            Slot::SharedFrom(from) => {
                return self.problem(
                    at_key,
                    format!(
                        "`{key}` belongs in [{from}]: retention is set once there, and \
                         `{} --prune` applies it",
                        table.name
                    ),
                )
            }
        }
        let what = format!("`{key}` in {}", table.describe());
        let at_value = v.span().start;
        let raw = if entry.list {
            match v.get_ref() {
                DeValue::Array(items) if items.is_empty() => Err((
                    at_value,
                    format!(
                        "{what}: expected {}, found an empty array (leave the key out for the \
                         default)",
                        entry.expected()
                    ),
                )),
                DeValue::Array(items) => items
                    .iter()
                    .map(|item| scalar(entry, item, &what))
                    .collect::<Result<Vec<_>, _>>(),
                other => Err((
                    at_value,
                    format!(
                        "{what}: expected {}, found {}",
                        entry.expected(),
                        type_name(other)
                    ),
                )),
            }
        } else {
            scalar(entry, v, &what).map(|s| vec![s])
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err((offset, msg)) => return self.problem(offset, msg),
        };
        if let (true, Some(sep)) = (entry.list, entry.arg.get_value_delimiter()) {
            if let Some(bad) = raw.iter().find(|s| s.contains(sep)) {
                return self.problem(
                    at_value,
                    format!("{what}: `{bad}` contains `{sep}`: write one array item per value"),
                );
            }
        }
        let present = match entry.kind {
            Kind::Bool => raw.iter().any(|s| s == "true"),
            Kind::Count => raw.iter().any(|s| s != "0"),
            _ => true,
        };
        let (line, column) = line_column(self.text, at_key);
        self.values.push(Value {
            table: table.name.clone(),
            key: key.to_string(),
            id: entry.id.clone(),
            raw,
            present,
            line,
            column,
        });
    }

    /// The message for a key that is not one of `table`'s.
    fn unknown(&self, table: &Table, key: &str, v: &Spanned<DeValue<'_>>) -> String {
        if table.name.is_empty() && matches!(v.get_ref(), DeValue::Table(_)) {
            let names: Vec<String> = self.tables[1..]
                .iter()
                .map(|t| format!("[{}]", t.name))
                .collect();
            return format!(
                "unknown table [{key}], expected one of {}",
                names.join(", ")
            );
        }
        let elsewhere: Vec<String> = self
            .tables
            .iter()
            .filter(|t| t.name != table.name)
            .filter(|t| t.entry(key).is_some_and(|e| matches!(e.slot, Slot::Key)))
            .map(|t| t.describe())
            .collect();
        if !elsewhere.is_empty() {
            return format!(
                "unknown key `{key}` in {}: it is a key of {}",
                table.describe(),
                elsewhere.join(" and ")
            );
        }
        let keys: Vec<&str> = table.settable().map(|e| e.key.as_str()).collect();
        format!(
            "unknown key `{key}` in {}, expected one of {}",
            table.describe(),
            keys.join(", ")
        )
    }

    /// Two present keys of one table that exclude each other (`keep-days` and `keep-within`).
    fn conflicts(&mut self) {
        let mut found = Vec::new();
        for (i, a) in self.values.iter().enumerate() {
            for b in self.values[..i].iter() {
                if a.table != b.table || !a.present || !b.present {
                    continue;
                }
                let Some(table) = self.tables.iter().find(|t| t.name == a.table) else {
                    continue;
                };
                let (Some(ea), Some(eb)) = (table.entry(&a.key), table.entry(&b.key)) else {
                    continue;
                };
                if table.conflict(&ea.arg, &eb.arg) {
                    let (first, second) = if (b.line, b.column) <= (a.line, a.column) {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    found.push(Problem {
                        line: second.line,
                        column: second.column,
                        message: format!(
                            "`{}` cannot be set together with `{}` (line {}) in {}",
                            second.key,
                            first.key,
                            first.line,
                            table.describe()
                        ),
                    });
                }
            }
        }
        self.problems.extend(found);
    }
}

/// One scalar as the command line would give it, checked by the flag's parser.
fn scalar(entry: &Entry, v: &Spanned<DeValue<'_>>, what: &str) -> Result<String, (usize, String)> {
    let at = v.span().start;
    let wrong = || {
        (
            at,
            format!(
                "{what}: expected {}, found {}",
                entry.expected(),
                type_name(v.get_ref())
            ),
        )
    };
    let text = match (entry.kind, v.get_ref()) {
        (Kind::Bool, DeValue::Boolean(b)) => return Ok(b.to_string()),
        (Kind::Bool, _) => return Err(wrong()),
        (Kind::Count | Kind::Integer, DeValue::Integer(i)) => {
            match i128::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n.to_string(),
                Err(_) => return Err(wrong()),
            }
        }
        (Kind::Count | Kind::Integer, _) => return Err(wrong()),
        (_, DeValue::String(s)) => {
            secret_check(s).map_err(|why| (at, format!("{what}: {why}")))?;
            s.to_string()
        }
        _ => return Err(wrong()),
    };
    entry
        .check(&text)
        .map_err(|why| (at, format!("{what}: invalid value `{text}`: {why}")))?;
    Ok(text)
}

/// The config file holds no secrets: credentials come from the environment, the cloud
/// profiles and identity files (mode 0600), never from a file that decides so much else.
fn secret_check(s: &str) -> Result<(), String> {
    if s.to_ascii_uppercase().contains("AGE-SECRET-KEY-") {
        return Err(
            "this is an age secret key; the config file holds no secrets: put the key \
                    in an identity file (mode 0600) and give its path"
                .to_string(),
        );
    }
    if url::Url::parse(s).is_ok_and(|u| u.password().is_some()) {
        return Err(
            "this URL holds a password; the config file holds no secrets: \
                    credentials come from the environment or the profile files"
                .to_string(),
        );
    }
    Ok(())
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::super::keys::tables;
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(Path::new("/c.toml"), text, &tables(), true) {
            Ok(f) => panic!("accepted: {f:?}"),
            Err(ConfigError::Invalid { problems, .. }) => problems
                .into_iter()
                .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn values(text: &str) -> Vec<(String, String, Vec<String>)> {
        parse(Path::new("/c.toml"), text, &tables(), true)
            .unwrap_or_else(|e| panic!("{e}"))
            .values
            .into_iter()
            .map(|v| (v.table, v.id, v.raw))
            .collect()
    }

    #[test]
    fn every_kind_of_value_becomes_what_the_command_line_would_give() {
        let v = values(
            "backup-dir = \"/srv/b\"\nendpoints = [\"https://a:2379\", \"https://b:2379\"]\n\
             verbose = 2\nwrite-out = \"json\"\nno-manifest = true\n\
             [save]\nprune = true\ndial-timeout = \"2s\"\nremote-retries = 0x10\n\
             [prune]\nkeep-last = 3\n",
        );
        let s = |a: &str| a.to_string();
        assert_eq!(
            v,
            vec![
                (s(""), s("backup_dir"), vec![s("/srv/b")]),
                (
                    s(""),
                    s("endpoints"),
                    vec![s("https://a:2379"), s("https://b:2379")]
                ),
                (s(""), s("verbose"), vec![s("2")]),
                (s(""), s("write_out"), vec![s("json")]),
                (s(""), s("no_manifest"), vec![s("true")]),
                (s("save"), s("prune"), vec![s("true")]),
                (s("save"), s("dial_timeout"), vec![s("2s")]),
                (s("save"), s("remote_retries"), vec![s("16")]),
                (s("prune"), s("keep_last"), vec![s("3")]),
            ]
        );
    }

    #[test]
    fn problems_name_line_column_key_and_what_is_expected() {
        let p = problems(
            "backup-dir = 3\nbogus = 1\n[prune]\nkeep-last = 0\ndry-run = true\n\
             keep-days = 7\nkeep-within = \"2d\"\n[save]\nkeep-daily = 7\nlabel = \"x\"\n\
             timeout = \"soon\"\nencrypt-to = \"age1x\"\n[saev]\nx = 1\n",
        );
        let expected = [
            "1:14: `backup-dir` in the top level: expected a path string, found an integer",
            "2:1: unknown key `bogus` in the top level, expected one of endpoints,",
            "4:13: `keep-last` in [prune]: invalid value `0`: 0 is not in 1..=4294967295",
            "5:1: `dry-run` cannot be set in [prune] of the config file: a per-invocation switch",
            "7:1: `keep-within` cannot be set together with `keep-days` (line 6) in [prune]",
            "9:1: `keep-daily` belongs in [prune]: retention is set once there",
            "10:1: `label` cannot be set in [save] of the config file: a label names one backup",
            "11:11: `timeout` in [save]: invalid value `soon`:",
            "12:14: `encrypt-to` in [save]: expected an array of strings (RECIPIENT|FILE), found \
             a string",
            "13:2: unknown table [saev], expected one of [save], [status], [verify], [prune], \
             [restore]",
        ];
        assert_eq!(p.len(), expected.len(), "{p:#?}");
        for (got, want) in p.iter().zip(expected) {
            assert!(
                got.starts_with(want),
                "{got}\n  does not start with\n{want}"
            );
        }
    }

    #[test]
    fn a_key_in_the_wrong_table_says_where_it_belongs() {
        let p = problems("keep-daily = 7\n[status]\nprune = true\n");
        assert_eq!(
            p,
            [
                "1:1: unknown key `keep-daily` in the top level: it is a key of [prune]",
                "3:1: unknown key `prune` in [status]: it is a key of [save]",
            ]
        );
    }

    #[test]
    fn false_and_zero_do_not_conflict() {
        values("quiet = true\nverbose = 0\n[prune]\nkeep-labeled = false\nprune-labeled = true\n");
        let p = problems("quiet = true\nverbose = 1\n");
        assert_eq!(
            p,
            ["2:1: `verbose` cannot be set together with `quiet` (line 1) in the top level"]
        );
    }

    #[test]
    fn toml_errors_and_secrets_are_reported_at_their_place() {
        let p = problems("backup-dir = \"/x\"\nendpoints = [\"a\",\n");
        assert_eq!(p, ["2:18: invalid TOML: unclosed array, expected `]`"]);
        let p = problems("[save]\nencrypt-to = [\"AGE-SECRET-KEY-1QQQ\"]\n");
        assert!(p[0].starts_with("2:15: `encrypt-to` in [save]: this is an age secret key"));
        let p = problems("[save]\nremote-endpoint = \"https://u:pw@minio:9000\"\n");
        assert!(p[0].contains("holds a password"), "{p:?}");
        let p = problems("endpoints = [\"https://a:2379,https://b:2379\"]\n");
        assert!(p[0].contains("one array item per value"), "{p:?}");
        let p = problems("endpoints = []\n");
        assert!(p[0].contains("empty array"), "{p:?}");
        let p = problems("save = 1\n");
        assert!(p[0].starts_with("1:1: `save` must be a table"), "{p:?}");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("a = 1\nbé = 2\n", 11), (2, 5));
        assert_eq!(line_column("", 5), (1, 1));
    }
}
