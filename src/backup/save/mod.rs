//! The save engine: what `etcd-backup save` does, phase by phase.

pub mod one_off;
