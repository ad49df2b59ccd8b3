//! The one place that writes to stdout and stderr.
//!
//! stdout carries data only (a path, a JSON document). stderr carries one line per phase, which
//! is what a cron mail or the journal shows, and a progress bar only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::OutputFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone)]
pub struct Printer {
    pub level: Level,
    pub format: OutputFormat,
}

impl Printer {
    pub fn new(quiet: bool, verbose: u8, format: OutputFormat) -> Printer {
        let level = if quiet {
            Level::Quiet
        } else if verbose > 0 {
            Level::Verbose
        } else {
            Level::Normal
        };
        Printer { level, format }
    }

    /// One line about a phase of the work (stderr).
    pub fn phase(&self, msg: impl AsRef<str>) {
        if self.level >= Level::Normal {
            eprintln!("etcd-backup: {}", msg.as_ref());
        }
    }

    /// Detail shown with `-v` (stderr).
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.level >= Level::Verbose {
            eprintln!("etcd-backup: {}", msg.as_ref());
        }
    }

    /// Something the operator should look at, shown even with `-q` (stderr).
    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }

    /// A result line on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.as_ref());
        let _ = out.flush();
    }

    /// A line reporting what was done (the path saved, the files pruned) on stdout; left out
    /// with `-q`, so that cron mails only failures.
    pub fn result(&self, line: impl AsRef<str>) {
        if self.level >= Level::Normal {
            self.data(line);
        }
    }

    /// An error with its causes and hint, for a command that goes on or ends part-way.
    pub fn error(&self, err: &anyhow::Error) {
        eprint!("{}", crate::diagnostics::render(err));
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string());
        self.data(text);
    }

    /// A byte-count progress bar, drawn only when stderr is a terminal and not quiet.
    pub fn progress(&self, what: &str) -> ProgressBar {
        if self.level == Level::Quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
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

/// Bytes in IEC units for messages: `1.5 GiB`.
pub fn human_bytes(n: u64) -> String {
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
    fn bytes_are_readable() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
