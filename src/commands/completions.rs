//! `etcd-backup completions SHELL`: the shell completion script, as the .deb ships it.
//!
//! The scripts are clap_complete's, generated from the clap definitions, with one repair: for a
//! binary whose name has a hyphen, clap_complete 4.6's bash generator names the per-subcommand
//! cases `etcd__subcmd__backup__subcmd__prune` while the loop that finds the subcommand sets
//! `etcd__backup__subcmd__prune`, so no subcommand's options were ever completed.
//! `tests/it/completions.rs` completes in real bash, zsh and fish.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell, CompletionsArgs};
use crate::diagnostics::ExitStatus;

/// The name the scripts complete.
pub(crate) const BIN: &str = "etcd-backup";

/// The completion script for `shell`.
pub fn script(shell: CompletionShell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let generator = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut cmd, BIN, &mut out);
    if shell == CompletionShell::Fish {
        // clap_complete's fish script offers the values of options only; a positional's
        // (`completions SHELL`) are added here.
        let mut text = String::from_utf8_lossy(&out).into_owned();
        let fn_name = format!("__fish_{}_using_subcommand", BIN.replace('-', "_"));
        for sub in cmd.get_subcommands() {
            for arg in sub.get_positionals() {
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                if !values.is_empty() {
                    text.push_str(&format!(
                        "complete -c {BIN} -n \"{fn_name} {}\" -f -a \"{}\"\n",
                        sub.get_name(),
                        values.join(" ")
                    ));
                }
            }
        }
        return text.into_bytes();
    }
    if shell == CompletionShell::Bash {
        let text = String::from_utf8_lossy(&out);
        // The function-name stem clap_complete uses everywhere else (`-` → `__`), and the one
        // its subcommand cases get (`-` → `__subcmd__`).
        let right = BIN.replace('-', "__");
        let wrong = BIN.replace('-', "__subcmd__");
        return text.replace(&wrong, &right).into_bytes();
    }
    out
}

pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script(args.shell))
        .and_then(|()| stdout.flush())
        .context("cannot write the completion script to stdout")?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `cmd="…"` the bash script sets has a case of its own.
    #[test]
    fn bash_cases_match_the_names_the_loop_sets() {
        let text = String::from_utf8(script(CompletionShell::Bash)).unwrap();
        let set: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|c| !c.is_empty())
            .collect();
        assert!(
            set.iter().any(|c| c.ends_with("__subcmd__prune")),
            "{set:?}"
        );
        for name in set {
            assert!(
                text.lines().any(|l| l.trim() == format!("{name})")),
                "no case for {name}"
            );
        }
    }
}
