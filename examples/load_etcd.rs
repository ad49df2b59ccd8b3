//! Fills an etcd with Kubernetes-like keys for benchmarks (`bench/*.sh`).
//!
//!     load_etcd ENDPOINT CACERT CERT KEY TARGET_BYTES [ROUND [OVERWRITE_PERCENT]]
//!
//! Keys look like `/registry/<resource>/<namespace>/<name>`, values are 0.5–16 KiB of
//! pseudo-random bytes behind the `k8s\0` prefix kube-apiserver's protobuf encoding uses. 32 puts
//! are in flight at a time. Stops once the values written add up to TARGET_BYTES.
//!
//! ROUND (default 0) picks the names and the random sequence, so that a later call with another
//! round adds new keys instead of rewriting the same ones (`bench/scale.sh` grows one etcd from
//! size to size). OVERWRITE_PERCENT (default 0) of the puts rewrite a key this worker already
//! wrote in this round, with a new value, so that the db holds history (older revisions) as a
//! Kubernetes cluster's does between compactions. Round 0 without overwrites writes exactly what
//! the loader always wrote.

use std::time::Instant;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

const RESOURCES: [&str; 8] = [
    "pods",
    "configmaps",
    "secrets",
    "events",
    "services/specs",
    "deployments",
    "replicasets",
    "leases",
];
const WORKERS: u64 = 32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(6..=8).contains(&args.len()) {
        return Err(
            "usage: load_etcd ENDPOINT CACERT CERT KEY TARGET_BYTES [ROUND [OVERWRITE_PERCENT]]"
                .into(),
        );
    }
    let target: u64 = args[5].parse()?;
    let round: u64 = args.get(6).map_or(Ok(0), |a| a.parse())?;
    let overwrite: u64 = args.get(7).map_or(Ok(0), |a| a.parse())?;
    if overwrite >= 100 {
        return Err("OVERWRITE_PERCENT must be below 100".into());
    }
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&args[2])?))
        .identity(Identity::from_pem(
            std::fs::read(&args[3])?,
            std::fs::read(&args[4])?,
        ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = Client::connect([&args[1]], Some(ConnectOptions::new().with_tls(tls))).await?;
        let started = Instant::now();
        let per_worker = target / WORKERS + 1;
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..WORKERS {
            let mut client = client.clone();
            tasks.spawn(async move {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (w + 1) ^ round.wrapping_mul(0x2545_F491);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let tag = if round == 0 {
                    String::new()
                } else {
                    format!("r{round}-")
                };
                let (mut written, mut keys, mut puts) = (0u64, 0u64, 0u64);
                let mut names: Vec<String> = Vec::new();
                while written < per_worker {
                    let r = next();
                    let size = 512 + (r % (16 * 1024 - 512)) as usize;
                    let mut value = b"k8s\0".to_vec();
                    value.extend((0..size.saturating_sub(4)).map(|_| next() as u8));
                    let key = if overwrite > 0 && !names.is_empty() && next() % 100 < overwrite {
                        names[(next() % names.len() as u64) as usize].clone()
                    } else {
                        let key = format!(
                            "/registry/{}/ns-{}/obj-{tag}{w}-{keys}",
                            RESOURCES[(r >> 32) as usize % RESOURCES.len()],
                            (r >> 40) % 50
                        );
                        keys += 1;
                        if overwrite > 0 {
                            names.push(key.clone());
                        }
                        key
                    };
                    client.put(key, value, None).await?;
                    written += size as u64;
                    puts += 1;
                }
                Ok::<_, etcd_client::Error>((written, keys, puts))
            });
        }
        let (mut bytes, mut keys, mut puts) = (0, 0, 0);
        while let Some(r) = tasks.join_next().await {
            let (b, k, p) = r??;
            bytes += b;
            keys += k;
            puts += p;
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "load_etcd: {keys} new keys, {puts} puts, {} MiB of values in {secs:.1}s ({:.1} MB/s)",
            bytes >> 20,
            bytes as f64 / 1e6 / secs
        );
        Ok(())
    })
}
