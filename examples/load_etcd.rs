//! Fills an etcd with Kubernetes-like keys for benchmarks (`bench/save.sh`).
//!
//!     load_etcd ENDPOINT CACERT CERT KEY TARGET_BYTES
//!
//! Keys look like `/registry/<resource>/<namespace>/<name>`, values are 0.5–16 KiB of
//! pseudo-random bytes behind the `k8s\0` prefix kube-apiserver's protobuf encoding uses. 32 puts
//! are in flight at a time. Stops once the values written add up to TARGET_BYTES.

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
    if args.len() != 6 {
        return Err("usage: load_etcd ENDPOINT CACERT CERT KEY TARGET_BYTES".into());
    }
    let target: u64 = args[5].parse()?;
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
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (w + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                let (mut written, mut keys) = (0u64, 0u64);
                while written < per_worker {
                    let r = next();
                    let size = 512 + (r % (16 * 1024 - 512)) as usize;
                    let mut value = b"k8s\0".to_vec();
                    value.extend((0..size.saturating_sub(4)).map(|_| next() as u8));
                    let key = format!(
                        "/registry/{}/ns-{}/obj-{w}-{keys}",
                        RESOURCES[(r >> 32) as usize % RESOURCES.len()],
                        (r >> 40) % 50
                    );
                    client.put(key, value, None).await?;
                    written += size as u64;
                    keys += 1;
                }
                Ok::<_, etcd_client::Error>((written, keys))
            });
        }
        let (mut bytes, mut keys) = (0, 0);
        while let Some(r) = tasks.join_next().await {
            let (b, k) = r??;
            bytes += b;
            keys += k;
        }
        eprintln!(
            "load_etcd: {keys} keys, {} MiB of values in {:.1}s",
            bytes >> 20,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
