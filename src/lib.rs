//! etcd-backup: back up, verify, prune and restore the etcd database of a kubeadm control plane.
//!
//! This library exists to structure the `etcd-backup` binary. It has **no public API
//! guarantee**: anything here may change in any release.

pub mod backup;
pub mod bbolt;
pub(crate) mod cancel;
pub mod cli;
pub(crate) mod cluster;
pub mod commands;
pub mod config;
pub(crate) mod datadir;
pub(crate) mod diagnostics;
pub mod etcd;
pub(crate) mod etcdctl;
pub mod fsutil;
pub mod k8s;
pub(crate) mod keyspace;
pub(crate) mod metrics;
pub(crate) mod node;
pub(crate) mod output;
pub mod remote;
pub(crate) mod settings;

use cli::Command;
use diagnostics::ExitStatus;
use output::Printer;
use settings::Settings;

/// Parses the command line (with the config file), runs the command, prints any error, and
/// returns how the run ended.
pub fn run() -> ExitStatus {
    let argv = match etcdctl::habits(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(code) => return code,
    };
    // Needs no settings and reads no config file: a broken one must not stop a shell's setup.
    if etcdctl::runs(&argv, "completions") {
        use clap::Parser;
        if let Ok(cli::Cli {
            command: Command::Completions(args),
            config:
                cli::ConfigArgs {
                    show_settings: false,
                    ..
                },
            ..
        }) = cli::Cli::try_parse_from(&argv)
        {
            return match commands::completions::run(&args) {
                Ok(code) => code,
                Err(err) => {
                    output::early_printer(&argv).error(&err);
                    ExitStatus::of_error(&err)
                }
            };
        }
    }
    let parsed = match config::parse_args(argv) {
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
    // A node restore moves the manifests out of the manifests dir, so while one is open (and
    // until `--resume`/`--rollback` ends it) the named manifest is absent by design: restore
    // checks its journal first and then names a missing manifest itself. A data-dir restore
    // (`--output-dir`) reads the manifest for member settings, so a named one must exist there.
    // `member rejoin` moves etcd.yaml out the same way while it runs.
    let manifest_moved = matches!(&cli.command, Command::Restore(a) if a.output_dir.is_none())
        || matches!(&cli.command, Command::Member(_));
    let given_by = |id: &str| match id {
        "manifest" if manifest_moved => None,
        _ => parsed.given_by(id),
    };
    let result = Settings::resolve(&cli.global, &cli.command, &given_by)
        .map_err(|e| {
            let hint = e.hint();
            diagnostics::with_hint(e, hint)
        })
        .and_then(|settings| match &cli.command {
            _ if cli.config.show_settings => parsed.show_settings(&settings, &printer),
            Command::Save(args) => commands::save::run(&settings, &printer, args, &mut report),
            Command::Status(args) => commands::status::run(&settings, &printer, args),
            Command::Verify(args) => commands::verify::run(&settings, &printer, args),
            Command::Drill(args) => commands::drill::run(
                &settings,
                &printer,
                args,
                cli.global.metrics_file.as_deref(),
            ),
            Command::Prune(args) => commands::prune::run(&settings, &printer, args),
            Command::Restore(args) => commands::restore::run(&settings, &printer, args),
            Command::Delete(args) => commands::delete::run(&settings, &printer, args),
            Command::Member(crate::cli::MemberCommand::Rejoin(args)) => {
                commands::member::rejoin(&settings, &printer, args)
            }
            Command::Health(args) => {
                // The file from the environment or the config file is save's: health's gauges
                // go beside it. Only `health --metrics-file FILE` names health's own file.
                let on_command_line = parsed
                    .given_by("metrics_file")
                    .is_some_and(|by| by.starts_with("flag"));
                let metrics = cli
                    .global
                    .metrics_file
                    .as_deref()
                    .map(|f| match on_command_line {
                        true => f.to_path_buf(),
                        false => commands::health::beside_save_metrics(f),
                    });
                commands::health::run(&settings, &printer, args, metrics.as_deref())
            }
            Command::Completions(args) => commands::completions::run(args),
            Command::Inspect(args) => commands::inspect::run(&settings, &printer, args),
            Command::Export(args) => commands::export::run(&settings, &printer, args),
            Command::Diff(args) => commands::diff::run(&settings, &printer, args),
        });
    let result = match recorder {
        Some(r) => r.finish(result, &report),
        None => result,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let err = match diagnostics::root_hint(&err) {
                Some(hint) => diagnostics::with_hint(err, hint),
                None => err,
            };
            printer.error(&err);
            ExitStatus::of_error(&err)
        }
    }
}
