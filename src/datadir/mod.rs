//! Building an etcd data dir natively, as `etcdutl snapshot restore` does
//! (docs/formats.md §5): the db rewritten as a fresh bbolt file, the WAL, the `.snap` file.

pub(crate) mod build;
pub(crate) mod db;
pub(crate) mod member;
pub(crate) mod snap;
pub(crate) mod wal;
