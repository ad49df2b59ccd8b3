//! The man pages under docs/man/, the shell completions under docs/completions/ and the shipped
//! config file packaging/etc/config.toml are generated from the clap definitions
//! (`etcd_backup::cli::Cli`) and committed, so that the .deb and readers of the repository get
//! them without running anything. This test regenerates them in memory and fails when a
//! committed file differs; `UPDATE_GENERATED=1 cargo test --test it generated::` rewrites them. It
//! also renders every page with groff (no warnings allowed) and with `man -l`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use etcd_backup::cli::{Cli, CompletionShell};

const REGENERATE: &str = "UPDATE_GENERATED=1 cargo test --test it generated::";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One page per command and subcommand, named as `clap_mangen::generate_to` names them
/// (etcd-backup.1, etcd-backup-save.1, …), without the `help` subcommand. Each is clap_mangen's
/// page with EXIT STATUS, ENVIRONMENT and EXAMPLES in place of its EXTRA section (the examples
/// and exit codes that end `--help`).
fn man_pages() -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(cmd: clap::Command, name: &str, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub.clone(), sub.get_name(), out);
        }
        let man = clap_mangen::Man::new(cmd.clone());
        let mut page = Vec::new();
        render_man(&man, &cmd, name, &mut page);
        let page = ascii_roff(&String::from_utf8(page).expect("clap_mangen writes UTF-8"));
        out.push((
            Path::new("docs/man").join(man.get_filename()),
            page.into_bytes(),
        ));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(cmd, "", &mut out);
    out.sort();
    out
}

fn render_man(man: &clap_mangen::Man, cmd: &clap::Command, name: &str, w: &mut Vec<u8>) {
    man.render_title(w).unwrap();
    man.render_name_section(w).unwrap();
    man.render_synopsis_section(w).unwrap();
    man.render_description_section(w).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w).unwrap();
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w).unwrap();
    }
    let mut roff = String::new();
    exit_status_section(&mut roff);
    environment_section(&mut roff, cmd, name);
    examples_section(&mut roff, name);
    w.extend_from_slice(roff.as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(w).unwrap();
    }
}

/// Text for a roff line: backslashes and hyphens escaped, a leading `.` or `'` made literal.
fn roff_text(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The codes of `EXIT_CODES` (`  0    success`, continuation lines indented further).
fn exit_status_section(roff: &mut String) {
    roff.push_str(".SH \"EXIT STATUS\"\n");
    for line in etcd_backup::cli::EXIT_CODES.lines().skip(1) {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match trimmed.split_once(char::is_whitespace) {
            Some((code, text)) if indent == 2 && code.parse::<u8>().is_ok() => {
                roff.push_str(&format!(
                    ".TP\n\\fB{code}\\fR\n{}\n",
                    roff_text(text.trim())
                ));
            }
            _ => {
                roff.push_str(&roff_text(trimmed));
                roff.push('\n');
            }
        }
    }
}

/// Each variable a flag of this command reads, then the others that matter to it.
fn environment_section(roff: &mut String, cmd: &clap::Command, name: &str) {
    roff.push_str(".SH ENVIRONMENT\n");
    roff.push_str(
        "Flags beat environment variables, which beat the config file \
         (/etc/etcd\\-backup/config.toml).\n",
    );
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n\\fB\\-\\-{}\\fR: {}\n",
            roff_text(&env.to_string_lossy()),
            roff_text(long),
            roff_text(&help.split_whitespace().collect::<Vec<_>>().join(" "))
        ));
    }
    let has_remote = cmd
        .get_arguments()
        .any(|a| a.get_long() == Some("remote-endpoint"));
    for (var, only, what) in etcd_backup::cli::OTHER_ENVIRONMENT {
        let applies = match *only {
            "" => true,
            "remote" => has_remote,
            other => other == name,
        };
        if applies {
            roff.push_str(&format!(
                ".TP\n\\fB{}\\fR\n{}\n",
                roff_text(var),
                roff_text(what)
            ));
        }
    }
}

/// The examples `--help` shows: a description, then its commands, each in bold.
fn examples_section(roff: &mut String, name: &str) {
    let examples = etcd_backup::cli::examples(name)
        .unwrap_or_else(|| panic!("no examples for {name:?} in src/cli.rs"));
    roff.push_str(".SH EXAMPLES\n");
    for line in examples.lines() {
        let trimmed = line.trim_start();
        if line.len() - trimmed.len() == 2 {
            roff.push_str(&format!(".PP\n{}\n", roff_text(trimmed)));
        } else {
            roff.push_str(&format!(
                ".RS 4\n.nf\n\\fB{}\\fR\n.fi\n.RE\n",
                roff_text(trimmed)
            ));
        }
    }
}

/// roff input is not UTF-8 to every formatter (groff without preconv reads Latin-1 and warns
/// "invalid input character"), so non-ASCII characters of the help text (`×`, `…`) become groff's
/// `\[uXXXX]` escapes, which man-db, groff and mandoc all render.
fn ascii_roff(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// Where each shell looks for a completion file, by the file's name; the text is what
/// `etcd-backup completions SHELL` prints (tests/it/completions.rs completes with it in each
/// shell).
fn completions() -> Vec<(PathBuf, Vec<u8>)> {
    [
        (CompletionShell::Bash, "etcd-backup.bash"),
        (CompletionShell::Zsh, "_etcd-backup"),
        (CompletionShell::Fish, "etcd-backup.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        (
            Path::new("docs/completions").join(file),
            etcd_backup::commands::completions::script(shell),
        )
    })
    .collect()
}

/// Compares (or, with UPDATE_GENERATED=1, rewrites) the committed files of one directory; a
/// committed file that is no longer generated is drift too.
fn check_dir(dir: &str, files: &[(PathBuf, Vec<u8>)]) {
    let update = std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1");
    let abs_dir = root().join(dir);
    if update {
        fs::create_dir_all(&abs_dir).unwrap();
        for entry in fs::read_dir(&abs_dir).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (rel, content) in files {
            fs::write(root().join(rel), content).unwrap();
        }
        return;
    }
    let mut problems = Vec::new();
    for (rel, content) in files {
        match fs::read(root().join(rel)) {
            Ok(committed) if committed == *content => {}
            Ok(_) => problems.push(format!(
                "{} differs from what the CLI generates",
                rel.display()
            )),
            Err(e) => problems.push(format!("{}: {e}", rel.display())),
        }
    }
    let committed: Vec<PathBuf> = fs::read_dir(&abs_dir)
        .map(|rd| {
            rd.map(|e| Path::new(dir).join(e.unwrap().file_name()))
                .collect()
        })
        .unwrap_or_default();
    for rel in committed {
        if !files.iter().any(|(f, _)| *f == rel) {
            problems.push(format!("{} is not generated any more", rel.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{dir} is out of date with src/cli.rs:\n  {}\nregenerate with:\n  {REGENERATE}\nand commit \
         the result",
        problems.join("\n  ")
    );
}

#[test]
fn man_pages_are_up_to_date() {
    let pages = man_pages();
    let names: Vec<String> = pages
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for cmd in [
        "save",
        "status",
        "verify",
        "prune",
        "restore",
        "delete",
        "completions",
    ] {
        assert!(names.contains(&format!("etcd-backup-{cmd}.1")), "{names:?}");
    }
    assert!(names.contains(&"etcd-backup.1".to_string()));
    check_dir("docs/man", &pages);
}

#[test]
fn completions_are_up_to_date() {
    check_dir("docs/completions", &completions());
}

/// The .deb's conffile: every key commented out with its default or an example.
#[test]
fn shipped_config_is_up_to_date() {
    let rel = Path::new("packaging/etc/config.toml");
    let generated = etcd_backup::config::example_file();
    if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
        fs::write(root().join(rel), &generated).unwrap();
        return;
    }
    let committed = fs::read_to_string(root().join(rel)).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with src/cli.rs\nregenerate with:\n  {REGENERATE}\nand commit the \
         result",
        rel.display()
    );
}

/// groff in warning-all mode (`-ww`) prints nothing for a clean page; `-z` discards the output.
#[test]
fn man_pages_render_without_groff_warnings() {
    for (rel, _) in man_pages() {
        let path = root().join(&rel);
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff (Debian groff-base) is missing: run scripts/install-deps.sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty() && out.stdout.is_empty(),
            "groff -man -Tutf8 -ww -z {}: {}\n{stderr}",
            rel.display(),
            out.status
        );
    }
}

/// What a reader gets from `man -l`: the page renders, silently, with its sections.
#[test]
fn man_pages_render_with_man() {
    for (rel, _) in man_pages() {
        let out = Command::new("man")
            .arg("-l")
            .arg(root().join(&rel))
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("man (Debian man-db) is missing: run scripts/install-deps.sh");
        let text = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "man -l {}: {}\n{stderr}",
            rel.display(),
            out.status
        );
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "EXAMPLES",
        ] {
            assert!(
                text.lines().any(|l| l == section),
                "man -l {}: no {section} section in\n{text}",
                rel.display()
            );
        }
    }
    let top = Command::new("man")
        .arg("-l")
        .arg(root().join("docs/man/etcd-backup.1"))
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(text.contains("interrupted (SIGINT or SIGTERM)"), "{text}");
    assert!(text.contains("etcd-backup-save(1)"), "{text}");
}

/// The bash script defines its completion function and registers it for `etcd-backup`.
#[test]
fn bash_completion_loads() {
    let script = root().join("docs/completions/etcd-backup.bash");
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && complete -p etcd-backup"#)
        .arg("bash")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("etcd-backup") && out.stderr.is_empty(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
