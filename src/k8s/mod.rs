//! Kubernetes objects in the etcd key space: decoding the values the API server wrote, and
//! writing them back out as manifests for `kubectl apply`.

// Called by `export --decode`/`--manifests` once that command is wired in. `decode` is public
// for fuzz/fuzz_targets/k8s_value.rs.
#![cfg_attr(not(test), allow(dead_code))]

pub mod decode;
pub(crate) mod manifest;
