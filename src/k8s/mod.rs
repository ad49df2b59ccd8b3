//! Kubernetes in etcd: what the API server's keys and values look like (docs/formats.md §10,
//! §11), decoding the values it wrote, and writing them back out as manifests for
//! `kubectl apply`.

// `decode` is public for fuzz/fuzz_targets/k8s_value.rs.
pub mod decode;
pub(crate) mod key;
pub(crate) mod manifest;
pub(crate) mod value;
