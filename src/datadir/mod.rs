//! Building an etcd data dir natively, as `etcdutl snapshot restore` does
//! (docs/formats.md §5): the db rewritten as a fresh bbolt file, the WAL, the `.snap` file.

pub mod build;
pub mod db;
pub mod member;
pub mod snap;
pub mod wal;
