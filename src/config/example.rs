//! The shipped `/etc/etcd-backup/config.toml` (`packaging/etc/config.toml`): every key commented
//! out with its default, or an example where it has none, and its help line. Generated from the
//! clap definitions; `tests/it/generated.rs` fails when the committed file drifts.

use super::keys::{tables, Entry, Kind, Slot, Table};

const WIDTH: usize = 100;

const HEADER: &str = "\
# /etc/etcd-backup/config.toml: settings for every etcd-backup command, read by the systemd
# unit, the cron line and any command run by hand. `--config FILE` (ETCD_BACKUP_CONFIG) reads
# another file, which must then exist; `--no-config` (ETCD_BACKUP_NO_CONFIG=1) reads none.
#
# Precedence: command-line flags > environment variables > this file > kubeadm's etcd manifest
# (/etc/kubernetes/manifests/etcd.yaml) > built-in defaults. `etcd-backup --show-settings save`
# prints what is in effect and where each value comes from.
#
# Top-level keys are the global flags; [save], [status], [verify], [prune], [restore] and [delete]
# hold each command's flags. A key is the flag's long name. Lists are arrays, switches true/false,
# counts integers, durations strings (\"5s\", \"1m30s\", \"2h\"). Every key below is commented out
# with its default, or with an example where it has none. Unknown keys, wrong types and invalid
# values are errors that name the line and column. Retention (keep-*) is set once, in [prune];
# `save --prune` applies it. A switch set to true here cannot be turned off by a flag: use its
# environment variable or --no-config.
#
# Per-invocation switches (dry-run, yes, resume, rollback, ...) cannot be set here; each table
# lists them. This file holds no secrets: credentials come from the environment, the cloud
# profiles and age identity files. It must be owned by root (or the user running etcd-backup)
# and not writable by others, since it decides where backups go and which are deleted.
#
# Generated from the command-line definitions (tests/it/generated.rs); edit your copy freely.
";

/// Examples for keys without a default (the values are checked like any other).
const EXAMPLES: &[(&str, &str, &str)] = &[
    ("drill", "etcd-binary", "\"/usr/local/bin/etcd\""),
    ("", "endpoints", "[\"https://127.0.0.1:2379\"]"),
    ("", "cacert", "\"/etc/kubernetes/pki/etcd/ca.crt\""),
    ("", "cert", "\"/etc/kubernetes/pki/etcd/server.crt\""),
    ("", "key", "\"/etc/kubernetes/pki/etcd/server.key\""),
    (
        "",
        "metrics-file",
        "\"/var/lib/node_exporter/textfile_collector/etcd_backup.prom\"",
    ),
    (
        "save",
        "encrypt-to",
        "[\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]",
    ),
    ("*", "remote", "\"s3://acme-etcd-backups/prod/\""),
    ("*", "remote-endpoint", "\"https://minio.example:9000\""),
    ("*", "remote-region", "\"eu-west-1\""),
    ("*", "identity", "[\"/root/etcd-backup-identity.txt\"]"),
    ("status", "max-age", "\"5h\""),
    ("prune", "keep-last", "10"),
    ("prune", "keep-days", "7"),
    ("prune", "keep-within", "\"36h\""),
    ("prune", "keep-hourly", "24"),
    ("prune", "keep-daily", "7"),
    ("prune", "keep-weekly", "4"),
    ("prune", "keep-monthly", "12"),
    ("restore", "data-dir", "\"/var/lib/etcd\""),
    ("restore", "name", "\"cp1\""),
    (
        "restore",
        "initial-cluster",
        "\"cp1=https://10.0.0.1:2380,cp2=https://10.0.0.2:2380,cp3=https://10.0.0.3:2380\"",
    ),
    (
        "restore",
        "initial-advertise-peer-urls",
        "\"https://10.0.0.1:2380\"",
    ),
    ("restore", "initial-cluster-token", "\"etcd-cluster\""),
    ("restore", "bump-revision", "1000000000"),
];

/// The whole file.
pub fn example_file() -> String {
    let mut out = String::from(HEADER);
    // A command without a single key (`completions`) gets no table.
    for table in tables().into_iter().filter(|t| {
        t.name.is_empty()
            || t.entries
                .iter()
                .any(|e| !matches!(e.slot, Slot::Refused(_)) || !e.arg.is_positional())
    }) {
        out.push('\n');
        if !table.name.is_empty() {
            out.push_str(&format!("[{}]\n", table.name));
        }
        for e in table.settable() {
            section(&mut out, &table, e);
        }
        let refused: Vec<&str> = table
            .entries
            .iter()
            .filter(|e| matches!(e.slot, Slot::Refused(_)) && !e.arg.is_positional())
            .filter(|e| !e.arg.is_hide_set())
            .map(|e| e.key.as_str())
            .collect();
        if !refused.is_empty() {
            wrap(
                &mut out,
                &format!(
                    "Not settable here (per invocation, see --help): {}.",
                    refused.join(", ")
                ),
            );
        }
        if table
            .entries
            .iter()
            .any(|e| matches!(e.slot, Slot::SharedFrom(_)))
        {
            wrap(
                &mut out,
                "Retention (keep-*, keep-labeled, prune-labeled) comes from [prune] when save \
                 runs with --prune.",
            );
        }
    }
    out
}

fn section(out: &mut String, table: &Table, e: &Entry) {
    let help = e
        .arg
        .get_help()
        .map(|h| h.to_string())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut help = help;
    if let Some(env) = e.arg.get_env() {
        help.push_str(&format!(" (env {})", env.to_string_lossy()));
    }
    let line = match default(e) {
        Some(v) => format!("#{} = {v}\n", e.key),
        None => {
            help.push_str(if help.contains("[default:") {
                "; for example:"
            } else {
                "; unset by default, for example:"
            });
            let example = EXAMPLES
                .iter()
                .find(|(t, k, _)| (*t == table.name || *t == "*") && *k == e.key)
                .map(|(_, _, v)| *v)
                .unwrap_or("\"?\"");
            format!("#{} = {example}\n", e.key)
        }
    };
    wrap(out, &help);
    out.push_str(&line);
}

/// The clap default as a TOML value, when the flag has one.
fn default(e: &Entry) -> Option<String> {
    let raw: Vec<String> = e
        .arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if raw.is_empty() {
        return None;
    }
    let one = |s: &String| match e.kind {
        Kind::Bool | Kind::Count | Kind::Integer => s.clone(),
        _ => toml::Value::String(s.clone()).to_string(),
    };
    if e.list {
        Some(format!(
            "[{}]",
            raw.iter().map(one).collect::<Vec<_>>().join(", ")
        ))
    } else {
        raw.first().map(one)
    }
}

/// `text` as `# ` comment lines of at most WIDTH characters.
fn wrap(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    if line.len() > 1 {
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::file::parse;
    use super::*;

    /// The shipped file with every key uncommented parses, and every value passes its flag's
    /// checks: the defaults and examples it shows are valid settings. (Uncommented together,
    /// keep-days and keep-within exclude each other, so the conflict check is off here.)
    #[test]
    fn the_example_with_every_key_uncommented_is_valid() {
        let text = example_file();
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let f = parse(Path::new("example.toml"), &uncommented, &tables(), true);
        match f {
            Err(super::super::ConfigError::Invalid { problems, .. }) => {
                assert!(
                    problems
                        .iter()
                        .all(|p| p.message.contains("cannot be set together")),
                    "{problems:#?}"
                );
            }
            Err(e) => panic!("{e}"),
            Ok(_) => {}
        }
        let f = parse(Path::new("example.toml"), &uncommented, &tables(), false)
            .unwrap_or_else(|e| panic!("{e}"));
        let settable: usize = tables().iter().map(|t| t.settable().count()).sum();
        assert_eq!(f.values.len(), settable, "every key is in the example");
        assert!(
            !text.contains("\"?\""),
            "a key without default or example:\n{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        // As shipped, every key is commented out: the file changes nothing.
        let f = parse(Path::new("example.toml"), &text, &tables(), true).unwrap();
        assert!(f.values.is_empty());
    }
}
