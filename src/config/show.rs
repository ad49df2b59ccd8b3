//! `--show-settings`: every global setting and the chosen subcommand's, with its value and where
//! it came from (flag, env, config FILE:LINE, manifest, default). Hidden; the tests pin the
//! precedence with it.

use clap::parser::ValueSource;
use clap::ArgMatches;
use serde_json::{json, Map, Value as Json};

use super::keys::{Entry, Kind, Table};
use super::{Parsed, State};
use crate::cli::OutputFormat;
use crate::diagnostics::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, Source, Sourced};

/// The arguments that choose the file; shown as its state rather than as settings.
const NOT_SETTINGS: &[&str] = &["config", "no_config", "show_settings"];

struct Row {
    key: String,
    value: Json,
    source: &'static str,
    origin: Option<String>,
    note: Option<String>,
}

impl Parsed {
    /// Prints the resolved settings on stdout (JSON with `-w json`) and returns exit code 0.
    pub(crate) fn show_settings(
        &self,
        settings: &Settings,
        printer: &Printer,
    ) -> anyhow::Result<ExitStatus> {
        let mut sections: Vec<(String, Vec<Row>)> = Vec::new();
        sections.push((
            "global".to_string(),
            self.rows(&self.tables[0], &self.matches, "", settings),
        ));
        if let Some((name, m)) = self.matches.subcommand() {
            if let Some(t) = self.tables.iter().find(|t| t.name == name) {
                sections.push((name.to_string(), self.rows(t, m, name, settings)));
            }
        }
        let (file, status) = match &self.state {
            State::Read(p) => (Json::from(p.display().to_string()), "read"),
            State::Absent(p) => (Json::from(p.display().to_string()), "absent"),
            State::Unreadable(p) => (Json::from(p.display().to_string()), "unreadable"),
            State::Disabled => (Json::Null, "disabled"),
        };
        if printer.format == OutputFormat::Json {
            let mut doc = Map::new();
            doc.insert("config".into(), json!({ "file": file, "status": status }));
            doc.insert(
                "command".into(),
                json!(self.matches.subcommand_name().unwrap_or_default()),
            );
            for (name, rows) in &sections {
                let mut obj = Map::new();
                for r in rows {
                    let mut e = Map::new();
                    e.insert("value".into(), r.value.clone());
                    e.insert("source".into(), json!(r.source));
                    if let Some(o) = &r.origin {
                        e.insert("origin".into(), json!(o));
                    }
                    if let Some(n) = &r.note {
                        e.insert("note".into(), json!(n));
                    }
                    obj.insert(r.key.clone(), Json::Object(e));
                }
                doc.insert(name.clone(), Json::Object(obj));
            }
            printer.json(&Json::Object(doc));
        } else {
            let file = file.as_str().unwrap_or("none");
            let status = match status {
                "read" => "read",
                "absent" => "not found, not needed",
                "unreadable" => "not readable by this user, not read",
                _ => "not read: --no-config",
            };
            printer.data(format!("config file: {file} ({status})"));
            let mut lines = vec![("SETTING".to_string(), "VALUE".to_string(), "SOURCE".into())];
            for (name, rows) in &sections {
                for r in rows {
                    let key = if name == "global" {
                        r.key.clone()
                    } else {
                        format!("{name}.{}", r.key)
                    };
                    let mut source = match &r.origin {
                        Some(o) => format!("{} {o}", r.source),
                        None => r.source.to_string(),
                    };
                    if let Some(n) = &r.note {
                        source.push_str(&format!(" ({n})"));
                    }
                    lines.push((key, text(&r.value), source));
                }
            }
            let w1 = lines.iter().map(|l| l.0.chars().count()).max().unwrap_or(0);
            let w2 = lines.iter().map(|l| l.1.chars().count()).max().unwrap_or(0);
            for (k, v, s) in lines {
                printer.data(format!("{k:<w1$}  {v:<w2$}  {s}").trim_end());
            }
        }
        Ok(ExitStatus::Success)
    }

    fn rows(&self, table: &Table, m: &ArgMatches, scope: &str, settings: &Settings) -> Vec<Row> {
        table
            .entries
            .iter()
            .filter(|e| !NOT_SETTINGS.contains(&e.id.as_str()))
            .map(|e| {
                let mut row = self.row(e, m, scope);
                if row.source == "default" {
                    fill_from_manifest(&mut row, scope, settings);
                }
                row
            })
            .collect()
    }

    fn row(&self, e: &Entry, m: &ArgMatches, scope: &str) -> Row {
        let id = e.id.as_str();
        let (source, origin) = match m.value_source(id) {
            Some(ValueSource::CommandLine) => (
                "flag",
                Some(if e.arg.is_positional() {
                    e.key.to_uppercase()
                } else {
                    format!("--{}", e.key)
                }),
            ),
            Some(ValueSource::EnvVariable) => (
                "env",
                e.arg.get_env().map(|v| v.to_string_lossy().into_owned()),
            ),
            _ => match self.applied_to(scope, id) {
                Some(v) if m.value_source(id) == Some(ValueSource::DefaultValue) => {
                    ("config", Some(format!("{}:{}", self.file_name(), v.line)))
                }
                _ => ("default", None),
            },
        };
        let note = self
            .dropped
            .iter()
            .find(|d| d.applied.scope == scope && d.applied.value.id == id)
            .map(|d| {
                format!(
                    "config {}:{} gave way: {}",
                    self.file_name(),
                    d.applied.value.line,
                    d.because
                )
            });
        Row {
            key: e.key.clone(),
            value: value(e, m),
            source,
            origin,
            note,
        }
    }

    /// How the user gave global setting `id` (`flag --manifest`, `env ETCD_BACKUP_MANIFEST`,
    /// `config FILE:LINE`), or `None` when it holds its built-in default.
    pub(crate) fn given_by(&self, id: &str) -> Option<String> {
        let e = self.tables[0].entries.iter().find(|e| e.id == id)?;
        let row = self.row(e, &self.matches, "");
        match (row.source, row.origin) {
            ("default", _) => None,
            (source, Some(origin)) => Some(format!("{source} {origin}")),
            (source, None) => Some(source.to_string()),
        }
    }

    fn applied_to(&self, scope: &str, id: &str) -> Option<&super::file::Value> {
        self.applied
            .iter()
            .find(|a| a.scope == scope && a.value.id == id)
            .map(|a| &a.value)
    }

    fn file_name(&self) -> String {
        match &self.state {
            State::Read(p) => p.display().to_string(),
            _ => String::new(),
        }
    }
}

/// What the manifest gives for a setting the command line, environment and file left unset:
/// the connection settings (resolved in `Settings`) and the member settings of `restore`.
fn fill_from_manifest(row: &mut Row, scope: &str, settings: &Settings) {
    fn from_settings<T: Clone>(s: &Sourced<T>, row: &mut Row, show: impl Fn(&T) -> Json) {
        row.value = show(&s.value);
        if s.source == Source::Manifest {
            row.source = "manifest";
        }
    }
    let path = |p: &std::path::PathBuf| json!(p.display().to_string());
    match (scope, row.key.as_str()) {
        ("", "endpoints") => from_settings(&settings.endpoints, row, |v| json!(v)),
        ("", "cacert") => from_settings(&settings.cacert, row, path),
        ("", "cert") => from_settings(&settings.cert, row, path),
        ("", "key") => from_settings(&settings.key, row, path),
        (
            "restore",
            "name" | "initial-cluster" | "initial-advertise-peer-urls" | "initial-cluster-token",
        ) => {
            if let Some(v) = settings.manifest.as_ref().and_then(|m| m.flag(&row.key)) {
                row.value = json!(v);
                row.source = "manifest";
            }
        }
        ("restore", "data-dir") => {
            if let Some(v) = settings.data_dir() {
                row.value = path(&v);
                row.source = "manifest";
            }
        }
        _ => {}
    }
    if row.source == "manifest" {
        row.origin = settings
            .manifest
            .as_ref()
            .map(|m| m.path.display().to_string());
    }
}

/// The value in effect, typed as in the config file.
fn value(e: &Entry, m: &ArgMatches) -> Json {
    let id = e.id.as_str();
    match e.kind {
        Kind::Bool => {
            return json!(m
                .try_get_one::<bool>(id)
                .ok()
                .flatten()
                .copied()
                .unwrap_or(false))
        }
        Kind::Count => return json!(m.try_get_one::<u8>(id).ok().flatten().copied().unwrap_or(0)),
        _ => {}
    }
    let Some(raw) = m.get_raw(id) else {
        return Json::Null;
    };
    let one = |s: &std::ffi::OsStr| {
        let s = s.to_string_lossy();
        match e.kind {
            Kind::Integer => s
                .parse::<i64>()
                .map(Json::from)
                .unwrap_or_else(|_| json!(s)),
            _ => json!(s),
        }
    };
    let values: Vec<Json> = raw.map(one).collect();
    if e.list || e.arg.get_num_args().is_some_and(|r| r.max_values() > 1) {
        Json::Array(values)
    } else {
        values.into_iter().next().unwrap_or(Json::Null)
    }
}

/// A value for the table: lists comma-separated, `-` for unset.
fn text(v: &Json) -> String {
    match v {
        Json::Null => "-".to_string(),
        Json::String(s) => s.clone(),
        Json::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}
