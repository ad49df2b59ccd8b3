//! The one place that writes to stdout and stderr.
//!
//! stdout carries data only (a path, a JSON document). stderr carries one line per phase, which
//! is what a cron mail or the journal shows, and a progress bar only when stderr is a terminal.
//!
//! With `--log-format json`, every stderr line (phases, details, warnings, errors and the
//! libraries' tracing logs) is one JSON object, a stable interface for log shippers:
//!
//! | key | always | value |
//! |---|---|---|
//! | `ts` | yes | RFC 3339 time in UTC with milliseconds, `2026-11-21T08:00:00.123Z` |
//! | `level` | yes | `error`, `warn`, `info` (phases) or `debug` (`-v` details, debug logs) |
//! | `msg` | yes | the message; for an error, its first line as `error:` shows it |
//! | `causes` | no | an error's `Caused by:` chain, outermost first |
//! | `hint` | no | what to do about an error, as `hint:` shows it (several joined by `; `) |
//! | `target` | no | the Rust module of a library log (`h2::codec`, `object_store::…`) |
//!
//! Keys are only ever added. No progress bar is drawn in JSON mode.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{LogFormat, OutputFormat};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone)]
pub(crate) struct Printer {
    pub level: Level,
    pub format: OutputFormat,
    /// How stderr lines are written (`--log-format`).
    pub log_format: LogFormat,
    /// Result lines go to stderr as log lines: for an engine run inside another command whose
    /// stdout carries that command's own result (the rejoin of `health --repair`).
    pub results_to_stderr: bool,
}

impl Printer {
    pub(crate) fn new(quiet: bool, verbose: u8, format: OutputFormat) -> Printer {
        let level = if quiet {
            Level::Quiet
        } else if verbose > 0 {
            Level::Verbose
        } else {
            Level::Normal
        };
        Printer {
            level,
            format,
            log_format: LogFormat::Text,
            results_to_stderr: false,
        }
    }

    /// The same printer writing result lines to stderr, as log lines.
    pub(crate) fn results_to_stderr(self) -> Printer {
        Printer {
            results_to_stderr: true,
            ..self
        }
    }

    /// The same printer writing stderr lines in `log_format`.
    pub(crate) fn with_log_format(self, log_format: LogFormat) -> Printer {
        Printer { log_format, ..self }
    }

    /// One line about a phase of the work (stderr).
    pub(crate) fn phase(&self, msg: impl AsRef<str>) {
        if self.level >= Level::Normal {
            self.line("info", "etcd-backup: ", msg.as_ref());
        }
    }

    /// Detail shown with `-v` (stderr).
    pub(crate) fn detail(&self, msg: impl AsRef<str>) {
        if self.level >= Level::Verbose {
            self.line("debug", "etcd-backup: ", msg.as_ref());
        }
    }

    /// Something the operator should look at, shown even with `-q` (stderr).
    pub(crate) fn warn(&self, msg: impl AsRef<str>) {
        self.line("warn", "warning: ", msg.as_ref());
    }

    fn line(&self, level: &str, text_prefix: &str, msg: &str) {
        match self.log_format {
            LogFormat::Text => write_stderr(&format!("{text_prefix}{msg}\n")),
            LogFormat::Json => write_stderr(&json_line(level, msg, serde_json::Map::new())),
        }
    }

    /// A result line on stdout.
    pub(crate) fn data(&self, line: impl AsRef<str>) {
        if self.results_to_stderr {
            return self.line("info", "etcd-backup: ", line.as_ref());
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.as_ref());
        let _ = out.flush();
    }

    /// A line reporting what was done (the path saved, the files pruned) on stdout; left out
    /// with `-q`, so that cron mails only failures.
    pub(crate) fn result(&self, line: impl AsRef<str>) {
        if self.level >= Level::Normal {
            self.data(line);
        }
    }

    /// An error with its causes and hint (stderr).
    pub(crate) fn error(&self, err: &anyhow::Error) {
        match self.log_format {
            LogFormat::Text => write_stderr(&crate::diagnostics::render(err)),
            LogFormat::Json => {
                let p = crate::diagnostics::parts(err);
                let mut extra = serde_json::Map::new();
                if !p.causes.is_empty() {
                    extra.insert("causes".to_string(), p.causes.into());
                }
                if !p.hints.is_empty() {
                    extra.insert("hint".to_string(), p.hints.join("; ").into());
                }
                write_stderr(&json_line("error", &p.msg, extra));
            }
        }
    }

    /// A JSON document on stdout.
    pub(crate) fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string());
        self.data(text);
    }

    /// Progress of a long transfer: a bar when stderr is a terminal; otherwise (cron, the
    /// journal, JSON logs) a phase line every 10% or 30 s with the rate and the time left, so a
    /// log shows where a long save is. Nothing with `-q`.
    pub(crate) fn progress(&self, what: &str) -> Progress {
        if self.level == Level::Quiet {
            return Progress {
                bar: ProgressBar::hidden(),
                lines: None,
            };
        }
        if self.log_format == LogFormat::Json || !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
                lines: Some((self.clone(), ProgressLines::new(what, Instant::now()))),
            };
        }
        Progress {
            bar: self.progress_bar(what),
            lines: None,
        }
    }

    fn progress_bar(&self, what: &str) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// See [`Printer::progress`].
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    lines: Option<(Printer, ProgressLines)>,
}

impl Progress {
    /// `got` of `total` bytes so far.
    pub(crate) fn set(&mut self, got: u64, total: u64) {
        if self.bar.length() != Some(total) {
            self.bar.set_length(total);
        }
        self.bar.set_position(got);
        if let Some((printer, lines)) = &mut self.lines {
            if let Some(line) = lines.due(got, total, Instant::now()) {
                printer.phase(line);
            }
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// When a progress line is due, and what it says (pure: the clock is an argument).
#[derive(Debug)]
pub(crate) struct ProgressLines {
    what: String,
    start: Instant,
    last_line: Instant,
    /// The last tenth of the total that was passed (printed or not).
    tenth: u64,
}

impl ProgressLines {
    /// Nothing is said for the first few seconds: a short run needs no progress lines.
    const QUIET_START: Duration = Duration::from_secs(5);
    const EVERY: Duration = Duration::from_secs(30);

    pub(crate) fn new(what: &str, now: Instant) -> ProgressLines {
        ProgressLines {
            what: what.to_string(),
            start: now,
            last_line: now,
            tenth: 0,
        }
    }

    /// The line to print now, if one is due: at each further 10% of `total`, or 30 s after the
    /// last line, never in the first 5 s.
    pub(crate) fn due(&mut self, got: u64, total: u64, now: Instant) -> Option<String> {
        let tenth = if total == 0 {
            0
        } else {
            (u128::from(got.min(total)) * 10 / u128::from(total)) as u64
        };
        let passed = tenth > self.tenth;
        self.tenth = self.tenth.max(tenth);
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < Self::QUIET_START
            || got >= total
            || !(passed || now.saturating_duration_since(self.last_line) >= Self::EVERY)
        {
            return None;
        }
        self.last_line = now;
        let rate = got as f64 / elapsed.as_secs_f64().max(0.001);
        let left = if rate > 0.0 {
            format!("{:.0}s left", (total - got) as f64 / rate)
        } else {
            "time left unknown".to_string()
        };
        Some(format!(
            "{}: {} of {} ({}%), {}/s, {left}",
            self.what,
            human_bytes(got),
            human_bytes(total),
            u128::from(got) * 100 / u128::from(total.max(1)),
            human_bytes(rate as u64),
        ))
    }
}

/// Writes whole lines to stderr in one call, so that lines of concurrent writers (a library's
/// log thread) never interleave within a line.
fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// One JSON log line (with its newline): `ts`, `level`, `msg`, then `extra` in order.
pub(crate) fn json_line(
    level: &str,
    msg: &str,
    extra: serde_json::Map<String, serde_json::Value>,
) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert(
        "ts".to_string(),
        chrono::Utc::now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into(),
    );
    obj.insert("level".to_string(), level.into());
    obj.insert("msg".to_string(), msg.into());
    obj.extend(extra);
    let mut line =
        serde_json::to_string(&serde_json::Value::Object(obj)).unwrap_or_else(|_| "{}".into());
    line.push('\n');
    line
}

/// A printer for what is said before the command line is fully parsed (config file errors and
/// warnings), in the log format the raw arguments or `ETCD_BACKUP_LOG_FORMAT` ask for.
pub(crate) fn early_printer(args: &[std::ffi::OsString]) -> Printer {
    let env = std::env::var("ETCD_BACKUP_LOG_FORMAT").ok();
    Printer::new(false, 0, OutputFormat::Table)
        .with_log_format(sniff_log_format(args, env.as_deref()))
}

/// The `--log-format` of a command line that clap refused, from the arguments as given
/// (`--log-format json`, `--log-format=json`), else `ETCD_BACKUP_LOG_FORMAT`.
fn sniff_log_format(args: &[std::ffi::OsString], env: Option<&str>) -> LogFormat {
    let mut given = None;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--log-format" {
            given = it.next().map(|v| v.into_owned());
        } else if let Some(v) = a.strip_prefix("--log-format=") {
            given = Some(v.to_string());
        }
    }
    match given.as_deref().or(env) {
        Some("json") => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// Prints clap's error for a command line it refused: as clap does, or as one JSON line when
/// `--log-format json` was asked for. Help and version go to stdout as clap prints them.
pub(crate) fn print_parse_error(e: &clap::Error) {
    use clap::error::ErrorKind;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || early_printer(&args).log_format == LogFormat::Text
    {
        let _ = e.print();
        return;
    }
    let (msg, extra) = parse_error_parts(&e.render().to_string());
    write_stderr(&json_line("error", &msg, extra));
}

/// clap's rendered error as `msg` (its first line without `error: `) and a `hint` (its `tip:`
/// lines, else its last line).
fn parse_error_parts(text: &str) -> (String, serde_json::Map<String, serde_json::Value>) {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let msg = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let rest: Vec<&str> = lines.collect();
    let tips: Vec<&str> = rest
        .iter()
        .filter_map(|l| l.strip_prefix("tip: "))
        .collect();
    let hint = if tips.is_empty() {
        rest.last()
            .copied()
            .unwrap_or("see etcd-backup --help")
            .to_string()
    } else {
        tips.join("; ")
    };
    let mut extra = serde_json::Map::new();
    extra.insert("hint".to_string(), hint.into());
    (msg, extra)
}

/// Library logs (tonic, h2, rustls, object_store) go to stderr at warn, or debug with `-vv`;
/// `RUST_LOG` wins. In JSON mode they are JSON lines like every other stderr line.
pub(crate) fn init_tracing(quiet: bool, verbose: u8, log_format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0 | 1) => "warn",
        (_, 2) => "etcd_backup=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log_format {
        LogFormat::Text => builder.without_time().try_init(),
        LogFormat::Json => builder.event_format(JsonEvents).try_init(),
    };
}

/// Formats tracing events as our JSON log lines.
struct JsonEvents;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonEvents
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn",
            tracing::Level::INFO => "info",
            _ => "debug",
        };
        let mut fields = EventText::default();
        event.record(&mut fields);
        let mut extra = serde_json::Map::new();
        extra.insert("target".to_string(), meta.target().into());
        writer.write_str(&json_line(level, &fields.text, extra))
    }
}

/// An event's message followed by its other fields as `key=value`, as the text format shows
/// them.
#[derive(Default)]
struct EventText {
    text: String,
}

impl tracing::field::Visit for EventText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let sep = if self.text.is_empty() { "" } else { " " };
        if field.name() == "message" {
            self.text = format!("{value:?}{sep}{}", self.text);
        } else {
            self.text
                .push_str(&format!("{sep}{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            let sep = if self.text.is_empty() { "" } else { " " };
            self.text = format!("{value}{sep}{}", self.text);
        } else {
            self.record_debug(field, &value);
        }
    }
}

/// Bytes in IEC units for messages: `1.5 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_have_the_documented_keys_in_order() {
        let mut extra = serde_json::Map::new();
        extra.insert("hint".to_string(), "do this".into());
        let line = json_line("warn", "two\nlines \"quoted\"", extra);
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ts", "level", "msg", "hint"]);
        assert_eq!(v["msg"], "two\nlines \"quoted\"");
        let ts = v["ts"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    }

    #[test]
    fn progress_lines_every_tenth_or_30s_never_in_the_first_5s() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let gib = 1u64 << 30;
        let mut p = ProgressLines::new("snapshot", t0);
        // 30% in the first 5 s: nothing (a short save says nothing more).
        assert_eq!(p.due(gib / 10 * 3, gib, at(4)), None);
        // Still inside the third tenth after 5 s: nothing yet.
        assert_eq!(p.due(gib / 10 * 3 + 1, gib, at(6)), None);
        // The next tenth: a line with rate and time left.
        let line = p.due(gib / 10 * 4 + gib / 100, gib, at(8)).unwrap();
        assert!(
            line.starts_with("snapshot: 419.8 MiB of 1.0 GiB (40%)"),
            "{line}"
        );
        assert!(line.contains("MiB/s") && line.ends_with("s left"), "{line}");
        assert_eq!(p.due(gib / 10 * 4 + 2, gib, at(20)), None);
        // A slow stretch: a line 30 s after the last one even within one tenth.
        assert!(p.due(gib / 10 * 4 + 3, gib, at(38)).is_some());
        assert_eq!(p.due(gib / 10 * 4 + 4, gib, at(40)), None);
        // Done: the phase after the stream says so, not a progress line.
        assert_eq!(p.due(gib, gib, at(60)), None);
        // A total of 0 (nothing known yet) never divides by zero.
        assert_eq!(ProgressLines::new("x", t0).due(0, 0, at(100)), None);
    }

    #[test]
    fn no_progress_bar_in_json_mode() {
        let p = Printer::new(false, 0, OutputFormat::Table).with_log_format(LogFormat::Json);
        let progress = p.progress("snapshot");
        assert!(progress.bar.is_hidden());
        assert!(progress.lines.is_some(), "JSON logs get progress lines");
    }

    #[test]
    fn log_format_is_sniffed_from_a_refused_command_line() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let sniff = |v: &[&str], env| sniff_log_format(&args(v), env);
        assert_eq!(
            sniff(&["etcd-backup", "--log-format", "json", "save", "-x"], None),
            LogFormat::Json
        );
        assert_eq!(
            sniff(&["etcd-backup", "--log-format=json", "--bogus"], None),
            LogFormat::Json
        );
        assert_eq!(
            sniff(
                &["etcd-backup", "--log-format=json", "--log-format=text"],
                None
            ),
            LogFormat::Text
        );
        assert_eq!(
            sniff(&["etcd-backup", "--bogus"], Some("json")),
            LogFormat::Json
        );
        assert_eq!(
            sniff(&["etcd-backup", "--log-format", "text"], Some("json")),
            LogFormat::Text
        );
        assert_eq!(
            sniff(&["etcd-backup", "--", "--log-format=json"], None),
            LogFormat::Text
        );
        let (msg, extra) = parse_error_parts(
            "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, \
             use '-- --bogus'\n\nUsage: etcd-backup save [OPTIONS]\n\nFor more information, try \
             '--help'.\n",
        );
        assert_eq!(msg, "unexpected argument '--bogus' found");
        assert_eq!(
            extra["hint"],
            "to pass '--bogus' as a value, use '-- --bogus'"
        );
    }

    #[test]
    fn bytes_are_readable() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
