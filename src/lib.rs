//! etcd-backup: back up, verify, prune and restore the etcd database of a kubeadm control plane.
//!
//! This library exists to structure the `etcd-backup` binary. It has **no public API
//! guarantee**: anything here may change in any release.

pub mod backend;
pub mod bbolt;
pub mod bundle;
pub mod cancel;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod datadir;
pub mod diagnostics;
pub mod etcd;
pub mod fsutil;
pub mod integrity;
pub mod layers;
pub mod metrics;
pub mod node;
pub mod output;
pub mod remote;
pub mod retention;
pub mod scratch;
pub mod settings;
pub mod spool;

use cli::Command;
use output::Printer;
use settings::Settings;

/// Parses the command line (with the config file), runs the command, prints any error, and
/// returns the exit code.
pub fn run() -> u8 {
    let parsed = match config::parse_args(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let cli = &parsed.cli;
    output::init_tracing(cli.global.quiet, cli.global.verbose, cli.global.log_format);
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.write_out)
        .with_log_format(cli.global.log_format);
    // Every save run is recorded in --metrics-file, whatever happens in it.
    let mut report = metrics::SaveReport::default();
    let recorder = match (&cli.command, &cli.global.metrics_file) {
        (Command::Save(_), Some(file)) if !cli.config.show_settings => {
            Some(metrics::Recorder::start(file, &printer))
        }
        _ => None,
    };
    let result = Settings::resolve(&cli.global)
        .map_err(|e| {
            diagnostics::with_hint(
                e,
                "fix the manifest, point --manifest at the right file, or pass --no-manifest \
                 to skip kubeadm discovery",
            )
        })
        .and_then(|settings| match &cli.command {
            _ if cli.config.show_settings => parsed.show_settings(&settings, &printer),
            Command::Save(args) => commands::save::run(&settings, &printer, args, &mut report),
            Command::Status(args) => commands::status::run(&settings, &printer, args),
            Command::Verify(args) => commands::verify::run(&settings, &printer, args),
            Command::Prune(args) => commands::prune::run(&settings, &printer, args),
            Command::Restore(args) => commands::restore::run(&settings, &printer, args),
        });
    let result = match recorder {
        Some(r) => r.finish(result, &report),
        None => result,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            diagnostics::exit_code(&err)
        }
    }
}
