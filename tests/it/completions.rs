//! The completion scripts complete, in the real shells: bash (with bash-completion), zsh (under
//! a pty, through `compinit` and the TAB widget) and fish. Each test completes
//! `etcd-backup prune --keep-l` (a subcommand's option, which the bash script of clap_complete
//! 4.6 never completed for a hyphenated name) and the subcommands after `etcd-backup `, from the
//! committed file under docs/completions/ (what the .deb installs), and checks that
//! `etcd-backup completions SHELL` prints that same file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed(file: &str) -> PathBuf {
    root().join("docs/completions").join(file)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps.sh installs the shells)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The candidates bash offers for `line` (completing its last word, or a new one when the line
/// ends with a space), with bash-completion loaded as in an interactive shell.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let harness = r#"
        source /usr/share/bash-completion/bash_completion
        source "$1"
        fn=$(complete -p etcd-backup | sed -E 's/.* -F ([^ ]+) .*/\1/')
        COMP_LINE="$2"
        COMP_POINT=${#COMP_LINE}
        read -r -a COMP_WORDS <<< "$COMP_LINE"
        [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        cur="${COMP_WORDS[COMP_CWORD]}"
        prev="${COMP_WORDS[COMP_CWORD-1]}"
        "$fn" etcd-backup "$cur" "$prev"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = run(Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(harness)
        .arg("bash")
        .arg(script)
        .arg(line));
    out.lines().map(str::to_string).collect()
}

fn fish_complete(script: &Path, line: &str) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let out = run(Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg("source $argv[1]; complete -C $argv[2]")
        .arg(script)
        .arg(line)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("XDG_DATA_HOME", home.path()));
    // `--keep-last\tKeep the N newest backups`: the candidate, then its description.
    out.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

/// A zsh under a pty (zsh/zpty) loads the script through `fpath` and `compinit`, gets `line`
/// typed and a TAB (bound to complete-word); a `compadd` wrapper writes every candidate the
/// completion function adds to a file, and a `comppostfuncs` hook marks the end.
fn zsh_complete(script: &Path, line: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let fpath = dir.path().join("functions");
    fs::create_dir(&fpath).unwrap();
    fs::copy(script, fpath.join("_etcd-backup")).unwrap();
    let out = dir.path().join("candidates");
    let done = dir.path().join("done");
    let init = dir.path().join("init.zsh");
    fs::write(
        &init,
        r#"
PROMPT=''
fpath=("$CAPTURE_FPATH" $fpath)
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' list-grouped false
bindkey '^I' complete-word
compadd() {
    # Calls that only ask for matches (-O, -A, -D) are the completion system's own.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return $?
    fi
    local -a __hits
    builtin compadd -A __hits "$@"
    (( $#__hits )) && print -rl -- $__hits >> "$CAPTURE_OUT"
    builtin compadd "$@"
}
_capture_done() { : > "$CAPTURE_DONE" }
comppostfuncs=(_capture_done)
"#,
    )
    .unwrap();
    let driver = r#"
        zmodload zsh/zpty || exit 3
        zpty capture zsh -f -i
        zpty -w capture "source ${(q)CAPTURE_INIT}"
        zpty -w -n capture "$1"$'\t'
        for i in {1..200}; do
            [[ -e $CAPTURE_DONE ]] && break
            sleep 0.05
        done
        zpty -d capture
        [[ -e $CAPTURE_DONE ]] || { print -u2 'zsh never finished completing'; exit 4 }
    "#;
    run(Command::new("zsh")
        .arg("-f")
        .arg("-c")
        .arg(driver)
        .arg("zsh")
        .arg(line)
        .env("HOME", dir.path())
        .env("CAPTURE_FPATH", &fpath)
        .env("CAPTURE_OUT", &out)
        .env("CAPTURE_DONE", &done)
        .env("CAPTURE_INIT", &init));
    fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_completes(shell: &str, got: &[String], line: &str, want: &[&str]) {
    for w in want {
        assert!(
            got.iter().any(|g| g == w),
            "{shell}: `{line}` does not offer {w}; it offers {got:?}"
        );
    }
}

/// The options a subcommand has, for the subcommand, and the subcommands at the top.
fn check(shell: &str, complete: impl Fn(&str) -> Vec<String>) {
    let line = "etcd-backup prune --keep-l";
    let got = complete(line);
    assert_completes(shell, &got, line, &["--keep-last"]);
    assert!(
        !got.iter().any(|g| g == "--label"),
        "{shell}: `{line}` offers save's --label: {got:?}"
    );
    let line = "etcd-backup save --with";
    assert_completes(shell, &complete(line), line, &["--with-pki"]);
    let line = "etcd-backup delete --dry";
    assert_completes(shell, &complete(line), line, &["--dry-run"]);
    let line = "etcd-backup ";
    let got = complete(line);
    assert_completes(
        shell,
        &got,
        line,
        &["save", "prune", "status", "delete", "completions"],
    );
    let line = "etcd-backup completions ";
    assert_completes(shell, &complete(line), line, &["bash", "zsh", "fish"]);
}

#[test]
fn bash_completes_subcommand_options() {
    let script = committed("etcd-backup.bash");
    check("bash", |line| bash_complete(&script, line));
}

#[test]
fn zsh_completes_subcommand_options() {
    let script = committed("_etcd-backup");
    check("zsh", |line| zsh_complete(&script, line));
}

#[test]
fn fish_completes_subcommand_options() {
    let script = committed("etcd-backup.fish");
    check("fish", |line| fish_complete(&script, line));
}

/// `etcd-backup completions SHELL` prints exactly the committed script (the .deb's asset).
#[test]
fn completions_command_prints_the_shipped_scripts() {
    for (shell, file) in [
        ("bash", "etcd-backup.bash"),
        ("zsh", "_etcd-backup"),
        ("fish", "etcd-backup.fish"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_etcd-backup"))
            .args(["completions", shell])
            // Neither a config file nor a manifest is needed, nor read.
            .env("ETCD_BACKUP_CONFIG", "/nonexistent/config.toml")
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "completions {shell}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let shipped = fs::read(committed(file)).unwrap();
        assert!(
            out.stdout == shipped,
            "`etcd-backup completions {shell}` differs from docs/completions/{file}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_etcd-backup"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
