//! The real tools that judge what we ship, run from tests: promtool, kubernetes-validate and
//! systemd-analyze. scripts/install-deps.sh installs each of them; a missing one fails the test
//! with that hint instead of skipping it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} ({what}) is missing: run scripts/install-deps.sh",
        path.display()
    );
    path
}

/// Everything a tool said, for assertion messages.
pub fn describe(cmd: &str, out: &Output) -> String {
    format!(
        "{cmd}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// promtool from Debian's prometheus package (2.42), unpacked into .deps/promtool/.
pub fn promtool() -> PathBuf {
    require(
        project_root().join(".deps/promtool/promtool"),
        "promtool from Debian's prometheus package",
    )
}

/// `promtool check metrics` on a node-exporter textfile: Ok when promtool exits 0 and prints
/// nothing; otherwise Err with what it said. It exits 1 on a parse error and 3 on lint problems
/// (no HELP, a counter without `_total`, ...); both are failures here. Empty text is refused
/// before promtool sees it, since promtool accepts it and a test of an empty file proves nothing.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("no metrics: the text is empty".to_string());
    }
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    if out.status.success() && out.stdout.is_empty() && out.stderr.is_empty() {
        Ok(())
    } else {
        Err(describe("promtool check metrics", &out))
    }
}

/// The venv's python with kubernetes-validate (pinned in scripts/requirements-k8s.txt).
pub fn k8s_python() -> PathBuf {
    require(
        project_root().join(".deps/venv-k8s/bin/python"),
        "the kubernetes-validate venv",
    )
}

/// tests/tools/k8s_validate.py: every document of `files`, strict, for each of `versions`
/// ("1.28", "latest"). Ok with the tool's report, or Err with everything it said.
pub fn kubernetes_validate(files: &[&Path], versions: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(k8s_python());
    cmd.arg(project_root().join("tests/tools/k8s_validate.py"));
    for v in versions {
        cmd.args(["--version", v]);
    }
    cmd.args(files);
    let out = cmd.output().expect("run k8s_validate.py");
    if out.status.success() && out.stderr.is_empty() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(describe("k8s_validate.py", &out))
    }
}

/// `systemd-analyze ARGS`, with stdout and stderr.
pub fn systemd_analyze(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .expect("systemd-analyze (Debian systemd) is missing: run scripts/install-deps.sh")
}
