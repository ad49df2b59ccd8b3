//! Help for a tired operator: `-h` is one short page per command, with global and subcommand
//! flags grouped under the same headings and no `[env: …]` noise; `--help` is complete, with
//! examples and the exit codes. (The man pages' sections are checked by tests/it/generated.rs.)

use std::process::Command;

const COMMANDS: &[&str] = &[
    "",
    "save",
    "status",
    "verify",
    "prune",
    "restore",
    "delete",
    "completions",
];

/// Lines a `-h` page may have: one screen.
const SHORT_BUDGET: usize = 60;

fn help(command: &str, flag: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etcd-backup"));
    if !command.is_empty() {
        cmd.arg(command);
    }
    let out = cmd
        .arg(flag)
        .env("ETCD_BACKUP_NO_CONFIG", "1")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(out.status.success(), "{command} {flag}: {}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn short_help_fits_on_a_screen() {
    for command in COMMANDS {
        let text = help(command, "-h");
        let lines = text.lines().count();
        assert!(
            lines <= SHORT_BUDGET,
            "`etcd-backup {command} -h` has {lines} lines, more than {SHORT_BUDGET}:\n{text}"
        );
        assert!(!text.contains("[env:"), "{command} -h:\n{text}");
        assert!(text.contains("--show-settings"), "{command} -h:\n{text}");
        assert!(
            text.contains("see more with '--help'"),
            "{command} -h:\n{text}"
        );
    }
    assert!(help("save", "-h").lines().count() <= SHORT_BUDGET);
}

/// Global and subcommand flags under shared headings, not interleaved in one list.
#[test]
fn flags_are_grouped_under_headings() {
    let text = help("save", "-h");
    let section = |heading: &str| -> String {
        let start = text
            .find(&format!("\n{heading}:\n"))
            .unwrap_or_else(|| panic!("no {heading} in\n{text}"));
        let rest = &text[start + heading.len() + 3..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    let connection = section("Connection");
    for flag in ["--endpoints", "--cacert", "--cert", "--key", "--timeout"] {
        assert!(
            connection.contains(flag),
            "{flag} not under Connection:\n{text}"
        );
    }
    assert!(section("Backup set").contains("--backup-dir"), "{text}");
    let output = section("Output");
    for flag in ["--write-out", "--quiet", "--verbose"] {
        assert!(output.contains(flag), "{flag} not under Output:\n{text}");
    }
    assert!(section("Off-site copies").contains("--remote"), "{text}");
    assert!(section("Retention (a backup is kept when any rule keeps it)").contains("--keep-last"));
    let options = section("Options");
    assert!(
        !options.contains("--endpoints") && !options.contains("--keep-last"),
        "{text}"
    );
}

/// `--help` has every flag with its variable, the examples and the exit codes.
#[test]
fn long_help_is_complete() {
    for command in COMMANDS {
        let text = help(command, "--help");
        for want in [
            "Examples:",
            "Exit codes:",
            "130  interrupted",
            "[env: ETCD_BACKUP_DIR=",
        ] {
            assert!(
                text.contains(want),
                "{command} --help has no {want}:\n{text}"
            );
        }
    }
    let save = help("save", "--help");
    for flag in [
        "--stall-timeout",
        "--kubelet-dir",
        "--remote-retries",
        "--no-config",
    ] {
        assert!(save.contains(flag), "save --help lacks {flag}");
    }
    assert!(save.contains("node_exporter/textfile_collector"), "{save}");
}
