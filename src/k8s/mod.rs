//! Kubernetes in etcd: what the API server's keys and values look like (docs/formats.md §10).

pub(crate) mod key;
pub(crate) mod value;
