//! A simulated kubeadm control-plane node for restore tests: kubeadm's layout under a temporary
//! root, the real etcd run as a static pod by a stand-in kubelet, and a fake `systemctl` that
//! starts and stops that kubelet (docs/formats.md §7.2, §7.3). No real kubelet or systemd.
//!
//! Layout under `root`:
//! ```text
//! etc/kubernetes/manifests/etcd.yaml            kubeadm-style static pod (Etcd::kubeadm_args)
//! etc/kubernetes/manifests/kube-apiserver.yaml  dummy; the stand-in ignores it
//! etc/kubernetes/pki/etcd/                      ca, server, peer (copied from a shared PKI)
//! var/lib/etcd/                                 etcd's data dir (etcd creates it)
//! backups/                                      ETCD_BACKUP_DIR for `backup_cmd()`
//! node/                                         the simulation (see tests/fixtures/node/)
//!   bin/systemctl   fake systemctl (prepend `bin` to PATH: `path_env()`)
//!   kubelet.sh      stand-in kubelet; node.env its settings
//!   kubelet.pid     "PID STARTTIME" of the running stand-in
//!   etcd.pid        "PID STARTTIME CKSUM" of the etcd it runs
//!   pids.log        every process ever started: "kubelet|etcd PID STARTTIME"
//!   kubelet.log, etcd.log, systemctl.log ("systemctl stop kubelet", one call a line)
//!   fail-systemctl-VERB   when present, `systemctl VERB ...` fails with status 1
//! ```
//! The stand-in runs etcd exactly as the manifest's `command:` says, in its own session; it
//! stops etcd when etcd.yaml leaves the manifests dir, restarts it (with back-off) when it exits
//! by itself, and keeps it running when the stand-in itself is stopped, like the real kubelet.
//! Dropping a `Node` kills, by PID, the stand-in and every etcd it ever started, and reaps them
//! (the test process makes itself a child subreaper, so these orphans are its children). Should
//! the test process die without dropping (SIGKILL), a running stand-in notices within ~100 ms and
//! kills its etcd.

use std::ffi::OsString;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{backup_cmd, free_port, log_tail, Dist, Etcd, KeyKind, Pki};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/node");

/// How long a start may take before `start`/`start_member`/`cluster` give up.
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// A process the simulation started, identified by PID and start time (so a recycled PID is
/// never taken for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// "kubelet" or "etcd".
    pub kind: String,
    pub pid: u32,
    pub start: u64,
}

impl Proc {
    /// Still running. A zombie counts as gone once all its threads are: while a multi-threaded
    /// process dies, its leader is already a zombie but the other threads still hold its files
    /// and sockets.
    pub fn alive(&self) -> bool {
        match proc_state(self.pid) {
            Some((state, start)) if start == self.start => {
                state != 'Z' || live_threads(self.pid) > 1
            }
            _ => false,
        }
    }

    /// Still in the process table, running or as a zombie nobody reaped.
    pub fn exists(&self) -> bool {
        matches!(proc_state(self.pid), Some((_, start)) if start == self.start)
    }

    /// Collects its exit status if it is a zombie child of the test process (orphans of the
    /// simulation are re-parented to it, see `become_subreaper`).
    fn reap(&self) {
        let ours = proc_parent(self.pid) == Some(std::process::id());
        if ours && proc_state(self.pid) == Some(('Z', self.start)) {
            if let Some(pid) = i32::try_from(self.pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                // Blocks only until its last threads are gone.
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            }
        }
    }
}

fn live_threads(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Parent PID (field 4 of /proc/PID/stat).
pub fn proc_parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// State letter (field 3) and start time (field 22) from /proc/PID/stat.
pub fn proc_state(pid: u32) -> Option<(char, u64)> {
    if pid == 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// Start time of a process whose leader is not a zombie.
pub fn proc_start(pid: u32) -> Option<u64> {
    proc_state(pid)
        .filter(|&(state, _)| state != 'Z')
        .map(|(_, start)| start)
}

/// The stand-in kubelet is started by the fake systemctl, which exits at once (like systemd,
/// the kubelet is nobody's child), and etcd outlives a stopped kubelet. Making the test process
/// a child subreaper re-parents those orphans to it instead of PID 1 (which here reaps nothing),
/// so `Node::kill_all` can collect them and no zombie is left behind.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .expect("prctl(PR_SET_CHILD_SUBREAPER)");
    });
}

/// Session ID (field 6 of /proc/PID/stat).
pub fn proc_session(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// Command line of a process.
pub fn proc_cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Panics unless every process in `procs` is gone (and reaped).
pub fn assert_all_gone(procs: &[Proc]) {
    let left: Vec<&Proc> = procs.iter().filter(|p| p.exists()).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

fn signal(p: &Proc, sig: rustix::process::Signal) {
    if !p.alive() {
        return;
    }
    if let Some(pid) = i32::try_from(p.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn wait_gone(procs: &[Proc], limit: Duration) -> bool {
    let t = Instant::now();
    while procs.iter().any(Proc::alive) {
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// `s` as one bash word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn read_pidfile(path: &Path) -> Option<Proc> {
    let text = fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    let pid = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    Some(Proc {
        kind: String::new(),
        pid,
        start,
    })
}

/// Copies the PKI files into `dir` (if it is not already there) and returns them at their new
/// paths, as a kubeadm node keeps them.
fn install_pki(pki: &Pki, dir: &Path) -> Pki {
    let at = |name: &str| dir.join(name);
    if pki.dir != dir {
        fs::create_dir_all(dir).unwrap();
        for (from, name) in [
            (&pki.ca, "ca.crt"),
            (&pki.server_crt, "server.crt"),
            (&pki.server_key, "server.key"),
            (&pki.peer_crt, "peer.crt"),
            (&pki.peer_key, "peer.key"),
        ] {
            fs::copy(from, at(name)).unwrap();
        }
        let ca_key = pki.dir.join("ca.key");
        if ca_key.exists() {
            fs::copy(ca_key, at("ca.key")).unwrap();
        }
    }
    Pki {
        dir: dir.to_path_buf(),
        ca: at("ca.crt"),
        server_crt: at("server.crt"),
        server_key: at("server.key"),
        peer_crt: at("peer.crt"),
        peer_key: at("peer.key"),
    }
}

/// A cluster n1, n2, n3 whose n3 has lost its data dir (moved away by the test, as a lost disk
/// would), with `/before` written before and `/during` after the loss.
pub fn cluster_with_a_wiped_member(root: &Path, dist: &Dist) -> Vec<Node> {
    let nodes = Node::cluster(root, dist, &["n1", "n2", "n3"]);
    nodes[0].put("/before", "1");
    let aside = nodes[2].stop_etcd();
    fs::rename(&nodes[2].data_dir, nodes[2].root.join("var/lib/lost")).unwrap();
    nodes[2].start_etcd(&aside);
    nodes[0].put("/during", "2");
    nodes
}

/// One simulated kubeadm control-plane node.
pub struct Node {
    pub root: PathBuf,
    /// `root/node`: scripts, state files and logs of the simulation.
    pub node_dir: PathBuf,
    /// `root/node/bin`: holds the fake `systemctl`.
    pub bin_dir: PathBuf,
    /// `root/etc/kubernetes/manifests`.
    pub manifests_dir: PathBuf,
    /// `manifests_dir/etcd.yaml`.
    pub manifest: PathBuf,
    /// `root/var/lib/etcd` (etcd's `--data-dir`).
    pub data_dir: PathBuf,
    /// `root/backups` (ETCD_BACKUP_DIR of `backup_cmd()`).
    pub backup_dir: PathBuf,
    /// The node's copy under `root/etc/kubernetes/pki/etcd`.
    pub pki: Pki,
    pub dist: Dist,
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub client_port: u16,
    pub metrics_port: u16,
    /// `--initial-cluster` of the manifest (`name=peer_url` for a single node).
    pub initial_cluster: String,
}

impl Node {
    /// A single-member node with kubeadm's layout under `root` (fresh PKI, etcd.yaml with
    /// `Etcd::kubeadm_args`, a dummy kube-apiserver.yaml), kubelet started with the fake
    /// `systemctl start kubelet`; returns once etcd answers `endpoint health` over TLS.
    pub fn start(root: &Path, dist: &Dist, name: &str) -> Node {
        let pki = Pki::generate(root, KeyKind::RsaPkcs1);
        let mut last = String::new();
        for _ in 0..3 {
            let (c, p) = (free_port(), free_port());
            let node = Node::prepare(root, dist, &pki, name, c, p, None);
            node.systemctl_ok(&["start", "kubelet"]);
            if node.wait_healthy(START_LIMIT) {
                return node;
            }
            // Most likely a port taken in the meantime: try again on others.
            last = node.logs();
            drop(node);
            let _ = fs::remove_dir_all(root.join("var/lib/etcd"));
            let _ = fs::remove_dir_all(root.join("node"));
        }
        panic!("node {name} (etcd {}) did not start:\n{last}", dist.version);
    }

    /// A member of a new multi-member cluster: its manifest carries `--initial-cluster=
    /// <initial_cluster>` (e.g. "n1=https://127.0.0.1:P1,n2=...") and
    /// `--initial-cluster-state=new`, on the given fixed ports. All members share one `pki`
    /// (copied into `root`). With `no_wait` it returns right after starting the kubelet (members
    /// answer only once a quorum runs): call `wait_healthy` on each afterwards.
    #[allow(clippy::too_many_arguments)]
    pub fn start_member(
        root: &Path,
        dist: &Dist,
        pki: &Pki,
        name: &str,
        client_port: u16,
        peer_port: u16,
        initial_cluster: &str,
        no_wait: bool,
    ) -> Node {
        let node = Node::prepare(
            root,
            dist,
            pki,
            name,
            client_port,
            peer_port,
            Some(initial_cluster),
        );
        node.systemctl_ok(&["start", "kubelet"]);
        if !no_wait && !node.wait_healthy(START_LIMIT) {
            panic!("member {name} did not become healthy:\n{}", node.logs());
        }
        node
    }

    /// A healthy new cluster of one node per name, node `n` under `root/<n>`, one PKI (under
    /// `root/pki`) for all.
    pub fn cluster(root: &Path, dist: &Dist, names: &[&str]) -> Vec<Node> {
        let pki = Pki::generate(&root.join("pki"), KeyKind::RsaPkcs1);
        let mut last = String::new();
        for _ in 0..3 {
            let ports: Vec<(u16, u16)> = names.iter().map(|_| (free_port(), free_port())).collect();
            let initial = names
                .iter()
                .zip(&ports)
                .map(|(n, (_, p))| format!("{n}=https://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(",");
            let nodes: Vec<Node> = names
                .iter()
                .zip(&ports)
                .map(|(n, &(c, p))| {
                    Node::start_member(&root.join(n), dist, &pki, n, c, p, &initial, true)
                })
                .collect();
            let t = Instant::now();
            if nodes
                .iter()
                .all(|n| n.wait_healthy(START_LIMIT.saturating_sub(t.elapsed())))
            {
                return nodes;
            }
            last = nodes.iter().map(Node::logs).collect::<Vec<_>>().join("\n");
            drop(nodes);
            for n in names {
                let _ = fs::remove_dir_all(root.join(n));
            }
        }
        panic!("cluster {names:?} did not form:\n{last}");
    }

    /// Lays the node out and writes its manifests and scripts; starts nothing.
    fn prepare(
        root: &Path,
        dist: &Dist,
        pki: &Pki,
        name: &str,
        client_port: u16,
        peer_port: u16,
        initial_cluster: Option<&str>,
    ) -> Node {
        become_subreaper();
        let node_dir = root.join("node");
        let bin_dir = node_dir.join("bin");
        let manifests_dir = root.join("etc/kubernetes/manifests");
        fs::create_dir_all(&bin_dir).unwrap();
        fs::create_dir_all(&manifests_dir).unwrap();
        let pki = install_pki(pki, &root.join("etc/kubernetes/pki/etcd"));
        let peer_url = format!("https://127.0.0.1:{peer_port}");
        let node = Node {
            root: root.to_path_buf(),
            manifest: manifests_dir.join("etcd.yaml"),
            data_dir: root.join("var/lib/etcd"),
            backup_dir: root.join("backups"),
            node_dir,
            bin_dir,
            manifests_dir,
            pki,
            dist: dist.clone(),
            name: name.to_string(),
            client_url: format!("https://127.0.0.1:{client_port}"),
            initial_cluster: initial_cluster
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}={peer_url}")),
            peer_url,
            client_port,
            metrics_port: free_port(),
        };
        let install = |from: &str, to: &Path| {
            fs::copy(Path::new(SCRIPTS).join(from), to).unwrap();
            fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
        };
        install("kubelet.sh", &node.node_dir.join("kubelet.sh"));
        install("systemctl", &node.bin_dir.join("systemctl"));
        let me = std::process::id();
        let env = format!(
            "# settings of the stand-in kubelet (tests/it/common/node.rs)\n\
             MANIFESTS_DIR={}\nETCD_BIN={}\nOWNER_PID={me}\nOWNER_START={}\n\
             BACKOFF_MS=500\nBACKOFF_MAX_MS=5000\n",
            sh_quote(&node.manifests_dir.display().to_string()),
            sh_quote(&node.dist.etcd.display().to_string()),
            proc_start(me).unwrap(),
        );
        fs::write(node.node_dir.join("node.env"), env).unwrap();
        node.write_manifest();
        fs::write(
            node.manifests_dir.join("kube-apiserver.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\n\
             spec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.28.0\n\
             \x20   command:\n    - kube-apiserver\n    - --etcd-servers=https://127.0.0.1:2379\n\
             \x20 hostNetwork: true\n",
        )
        .unwrap();
        node
    }

    /// The etcd command line of this node's manifest (without the leading `etcd`).
    pub fn etcd_args(&self) -> Vec<String> {
        let mut args = Etcd::kubeadm_args(
            &self.name,
            &self.client_url,
            &self.peer_url,
            self.metrics_port,
            &self.data_dir,
            &self.pki,
        );
        if self.initial_cluster != format!("{}={}", self.name, self.peer_url) {
            for a in args.iter_mut() {
                if a.starts_with("--initial-cluster=") {
                    *a = format!("--initial-cluster={}", self.initial_cluster);
                }
            }
            let at = args
                .iter()
                .position(|a| a.starts_with("--initial-cluster="))
                .unwrap();
            args.insert(at + 1, "--initial-cluster-state=new".to_string());
        }
        args
    }

    /// The kubeadm-style etcd.yaml for `etcd_args()`.
    pub fn manifest_yaml(&self) -> String {
        let mut yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    \
             kubeadm.kubernetes.io/etcd.advertise-client-urls: {}\n  labels:\n    \
             component: etcd\n    tier: control-plane\n  name: etcd\n  namespace: kube-system\n\
             spec:\n  containers:\n  - command:\n    - etcd\n",
            self.client_url
        );
        for a in self.etcd_args() {
            yaml.push_str(&format!("    - {a}\n"));
        }
        yaml.push_str(&format!(
            "    image: registry.k8s.io/etcd:{}-0\n    imagePullPolicy: IfNotPresent\n    \
             name: etcd\n    volumeMounts:\n    - mountPath: {}\n      name: etcd-data\n    \
             - mountPath: {}\n      name: etcd-certs\n  hostNetwork: true\n  \
             priorityClassName: system-node-critical\n  volumes:\n  - hostPath:\n      \
             path: {}\n      type: DirectoryOrCreate\n    name: etcd-certs\n  - hostPath:\n      \
             path: {}\n      type: DirectoryOrCreate\n    name: etcd-data\n",
            self.dist.version,
            self.data_dir.display(),
            self.pki.dir.display(),
            self.pki.dir.display(),
            self.data_dir.display(),
        ));
        yaml
    }

    /// (Re)writes etcd.yaml atomically (the stand-in never sees half a file).
    pub fn write_manifest(&self) {
        let tmp = self.node_dir.join("etcd.yaml.tmp");
        fs::write(&tmp, self.manifest_yaml()).unwrap();
        fs::rename(&tmp, &self.manifest).unwrap();
    }

    /// `etcdctl` of the node's release with the client TLS flags, against `client_url`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        super::etcdctl(&self.dist, &self.client_url, &self.pki)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The value of `key` (`etcdctl get --print-value-only`), None when absent; panics when
    /// etcd does not answer.
    pub fn get(&self, key: &str) -> Option<String> {
        let out = self.ctl(&["get", "--print-value-only", key]);
        assert!(out.status.success(), "get {key}: {}", super::describe(&out));
        let v = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        (!v.is_empty()).then_some(v)
    }

    /// `etcdctl put`; panics on failure.
    pub fn put(&self, key: &str, value: &str) {
        let out = self.ctl(&["put", key, value]);
        assert!(out.status.success(), "put {key}: {}", super::describe(&out));
    }

    /// Something accepts connections on the client port.
    pub fn port_open(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.client_port));
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }

    /// Waits until `endpoint health` passes over TLS; false when `limit` passed.
    pub fn wait_healthy(&self, limit: Duration) -> bool {
        let t = Instant::now();
        loop {
            if self.port_open() && self.ctl(&["endpoint", "health"]).status.success() {
                return true;
            }
            if t.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// PID of the running etcd the stand-in started (from `node/etcd.pid`).
    pub fn etcd_pid(&self) -> Option<u32> {
        read_pidfile(&self.node_dir.join("etcd.pid"))
            .filter(Proc::alive)
            .map(|p| p.pid)
    }

    /// PID of the running stand-in kubelet.
    pub fn kubelet_pid(&self) -> Option<u32> {
        read_pidfile(&self.node_dir.join("kubelet.pid"))
            .filter(Proc::alive)
            .map(|p| p.pid)
    }

    pub fn kubelet_running(&self) -> bool {
        self.kubelet_pid().is_some()
    }

    /// Every process the simulation started so far (`node/pids.log`), running or not.
    pub fn started(&self) -> Vec<Proc> {
        fs::read_to_string(self.node_dir.join("pids.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(Proc {
                    kind: f.first()?.to_string(),
                    pid: f.get(1)?.parse().ok()?,
                    start: f.get(2)?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The etcd processes started so far, oldest first.
    pub fn etcd_starts(&self) -> Vec<Proc> {
        self.started()
            .into_iter()
            .filter(|p| p.kind == "etcd")
            .collect()
    }

    /// Waits until an etcd runs (PID file present, process alive); its PID.
    pub fn wait_etcd_running(&self, limit: Duration) -> Option<u32> {
        let t = Instant::now();
        loop {
            if let Some(pid) = self.etcd_pid() {
                return Some(pid);
            }
            if t.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no etcd of this node runs any more: every started etcd gone, PID file
    /// removed, client port closed.
    pub fn wait_etcd_gone(&self, limit: Duration) -> bool {
        let t = Instant::now();
        loop {
            if !self.etcd_starts().iter().any(Proc::alive)
                && !self.node_dir.join("etcd.pid").exists()
                && !self.port_open()
            {
                return true;
            }
            if t.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PATH with the node's `bin_dir` (fake systemctl) first.
    pub fn path_env(&self) -> OsString {
        let mut path = OsString::from(&self.bin_dir);
        if let Some(old) = std::env::var_os("PATH") {
            path.push(":");
            path.push(old);
        }
        path
    }

    /// Runs `systemctl ARGS`, found on `path_env()` like a tool on the node would.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        Command::new("systemctl")
            .env("PATH", self.path_env())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `systemctl ARGS`, panicking unless it succeeds.
    pub fn systemctl_ok(&self, args: &[&str]) {
        let out = self.systemctl(args);
        assert!(
            out.status.success(),
            "systemctl {args:?}: {}\n{}",
            super::describe(&out),
            self.logs()
        );
    }

    /// Makes `systemctl VERB` fail (status 1, nothing done) or work again.
    pub fn fail_systemctl(&self, verb: &str, fail: bool) {
        let flag = self.node_dir.join(format!("fail-systemctl-{verb}"));
        if fail {
            fs::write(flag, "").unwrap();
        } else {
            let _ = fs::remove_file(flag);
        }
    }

    /// The `systemctl` calls so far, one a line ("systemctl stop kubelet").
    pub fn systemctl_log(&self) -> String {
        fs::read_to_string(self.node_dir.join("systemctl.log")).unwrap_or_default()
    }

    pub fn kubelet_log(&self) -> String {
        fs::read_to_string(self.node_dir.join("kubelet.log")).unwrap_or_default()
    }

    /// The ends of the node's logs, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "=== node {} ({})\n--- systemctl.log\n{}\n--- kubelet.log\n{}\n--- etcd.log\n{}",
            self.name,
            self.root.display(),
            log_tail(&self.node_dir.join("systemctl.log"), 20),
            log_tail(&self.node_dir.join("kubelet.log"), 30),
            log_tail(&self.node_dir.join("etcd.log"), 30),
        )
    }

    /// `common::backup_cmd()` as run on this node: fake systemctl on PATH, the node's etcd.yaml
    /// read (ETCD_BACKUP_MANIFEST, discovery on), backups in `backup_dir`.
    pub fn backup_cmd(&self) -> Command {
        let mut cmd = backup_cmd();
        cmd.env_remove("ETCD_BACKUP_NO_MANIFEST")
            .env("ETCD_BACKUP_MANIFEST", &self.manifest)
            .env("ETCD_BACKUP_DIR", &self.backup_dir)
            .env("PATH", self.path_env());
        cmd
    }

    /// Stops the node's etcd the kubeadm way: etcd.yaml leaves the manifests dir and the
    /// stand-in stops the static pod. Returns where the manifest was put (for `start_etcd`).
    pub fn stop_etcd(&self) -> PathBuf {
        let aside = self.node_dir.join("etcd.yaml.stopped");
        fs::rename(&self.manifest, &aside).unwrap();
        assert!(
            self.wait_etcd_gone(Duration::from_secs(30)),
            "etcd of {} did not stop:\n{}",
            self.name,
            self.logs()
        );
        aside
    }

    /// Puts back the manifest `stop_etcd` moved out: the stand-in starts etcd again.
    pub fn start_etcd(&self, aside: &Path) {
        fs::rename(aside, &self.manifest).unwrap();
    }

    /// The node loses its data dir, as a lost disk would: etcd stopped, the data dir moved to
    /// `var/lib/lost` (kept for the test to look at), an empty one in its place (the real
    /// kubelet's `DirectoryOrCreate` volume makes one), etcd started again.
    /// Where `member rejoin` journals, beside the manifests dir.
    pub fn rejoin_journal_path(&self) -> PathBuf {
        self.manifests_dir
            .parent()
            .unwrap()
            .join("etcd-backup-rejoin-journal.json")
    }

    pub fn wipe_data_dir(&self) {
        let aside = self.stop_etcd();
        fs::rename(&self.data_dir, self.root.join("var/lib/lost")).unwrap();
        fs::create_dir(&self.data_dir).unwrap();
        fs::set_permissions(&self.data_dir, fs::Permissions::from_mode(0o700)).unwrap();
        self.start_etcd(&aside);
    }

    /// Stops, by PID, the stand-in kubelet (SIGTERM, SIGKILL after 5 s) and then every etcd it
    /// ever started (SIGKILL), waits until they are gone and reaps them. Also done on drop.
    pub fn kill_all(&self) {
        use rustix::process::Signal;
        let mut kubelets: Vec<Proc> = self
            .started()
            .into_iter()
            .filter(|p| p.kind == "kubelet")
            .collect();
        kubelets.extend(read_pidfile(&self.node_dir.join("kubelet.pid")));
        // The kubelet first, so that it cannot start another etcd meanwhile. SIGTERM lets it
        // finish its `sleep 0.1` instead of orphaning it.
        kubelets.iter().for_each(|p| signal(p, Signal::TERM));
        if !wait_gone(&kubelets, Duration::from_secs(5)) {
            kubelets.iter().for_each(|p| signal(p, Signal::KILL));
        }
        let ok_k = wait_gone(&kubelets, Duration::from_secs(10));
        let mut etcds = self.etcd_starts();
        etcds.extend(read_pidfile(&self.node_dir.join("etcd.pid")));
        etcds.iter().for_each(|p| signal(p, Signal::KILL));
        let ok_e = wait_gone(&etcds, Duration::from_secs(10));
        kubelets.iter().chain(&etcds).for_each(Proc::reap);
        let survived = !(ok_k && ok_e);
        if survived && !std::thread::panicking() {
            panic!(
                "node {}: processes survived SIGKILL: {kubelets:?} {etcds:?}",
                self.name
            );
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_all();
    }
}
