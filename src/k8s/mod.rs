//! Kubernetes objects in the etcd key space: decoding the values the API server wrote, and
//! writing them back out as manifests for `kubectl apply`.

// Called by `export --decode`/`--manifests` once that command is wired in.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod decode;
pub(crate) mod manifest;
