//! kubeadm node knowledge: where the etcd static pod keeps its data, certificates and URLs.

pub(crate) mod interrupt;
pub(crate) mod journal;
pub(crate) mod manifest;
pub(crate) mod rejoin;
pub(crate) mod restore;
