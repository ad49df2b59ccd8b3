//! `etcd-backup member rejoin`: settings in, the node engine (`node::rejoin`) run, its exit code
//! out; the confirmation is asked here.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::anyhow;

use crate::cli::RejoinArgs;
use crate::diagnostics::HintExt;
use crate::etcd;
use crate::node::rejoin::{self, Plan};
use crate::output::Printer;
use crate::settings::Settings;

pub(crate) fn rejoin(
    settings: &Settings,
    printer: &Printer,
    args: &RejoinArgs,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    let journaled = (args.resume || args.rollback)
        .then(|| rejoin::journal_tls(&args.manifests_dir))
        .flatten();
    let files = journaled.unwrap_or_else(|| settings.tls_files());
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    let connector = rejoin::connector(
        files,
        args.dial_timeout,
        Duration::from_secs(60),
        args.stop_timeout,
        args.start_timeout,
    )?;
    let yes = args.yes;
    let confirm = move |p: &Plan| confirm(p, yes);
    let opts = rejoin::Options {
        manifest: settings.manifest.as_ref(),
        manifest_path: settings.manifest_path.clone(),
        manifests_dir: args.manifests_dir.clone(),
        endpoints,
        peer_urls: super::health::peer_urls(settings),
        connector: &connector,
        dry_run: args.dry_run,
        resume: args.resume,
        rollback: args.rollback,
        stop_timeout: args.stop_timeout,
        start_timeout: args.start_timeout,
        confirm: &confirm,
    };
    rejoin::run(&opts, printer)
}

fn confirm(p: &Plan, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "refusing to rejoin member {} without confirmation",
            p.name
        ))
        .hint("add --yes (there is no terminal to ask on); --dry-run shows the plan");
    }
    eprint!(
        "This stops etcd on this node, removes member {} from the cluster and adds it again \
         with a fresh copy of the data.\nType the member name ({}) to go on: ",
        p.name, p.name
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == p.name)
}
