//! etcd-backup: back up, verify, prune and restore the etcd database of a kubeadm control plane.
//!
//! This library exists to structure the `etcd-backup` binary. It has **no public API
//! guarantee**: anything here may change in any release.

pub mod backend;
pub mod bbolt;
pub mod bundle;
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
    init_tracing(cli.global.quiet, cli.global.verbose);
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.write_out);
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
            Command::Save(args) => commands::save::run(&settings, &printer, args),
            Command::Status(args) => commands::status::run(&settings, &printer, args),
            Command::Verify(args) => commands::verify::run(&settings, &printer, args),
            Command::Prune(args) => commands::prune::run(&settings, &printer, args),
            Command::Restore(args) => commands::restore::run(&settings, &printer, args),
        });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprint!("{}", diagnostics::render(&err));
            diagnostics::exit_code(&err)
        }
    }
}

/// Library logs (tonic, h2, rustls) go to stderr at warn, or debug with `-vv`; `RUST_LOG` wins.
fn init_tracing(quiet: bool, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0 | 1) => "warn",
        (_, 2) => "etcd_backup=debug,info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
