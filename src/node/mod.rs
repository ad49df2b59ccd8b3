//! kubeadm node knowledge: where the etcd static pod keeps its data, certificates and URLs.

pub mod interrupt;
pub mod journal;
pub mod manifest;
pub mod rejoin;
pub mod restore;
