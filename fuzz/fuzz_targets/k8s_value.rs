//! Arbitrary bytes as a value of the Kubernetes key space through `k8s::decode`: protobuf (after
//! the `k8s\0` magic), JSON, the encryption header. No panic, no hang, no unbounded allocation.
//!
//!   RUSTC_BOOTSTRAP=1 cargo fuzz run k8s_value fuzz/corpus/k8s_value tests/fixtures/k8s -- \
//!       -max_total_time=120 -max_len=65536 -rss_limit_mb=2048 -timeout=10
#![no_main]

use etcd_backup::k8s::decode::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = decode(data);
    let _ = decoded.to_json();
    // The magic in front of anything: the protobuf path, whatever the rest is.
    let mut value = b"k8s\0".to_vec();
    value.extend_from_slice(data);
    let _ = decode(&value).to_json();
});
