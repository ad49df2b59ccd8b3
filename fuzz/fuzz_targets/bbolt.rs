//! Arbitrary bytes through the bbolt reader and the etcd-level checks: no panic, no hang, no
//! unbounded allocation (libFuzzer's -rss_limit_mb and -timeout enforce the last two).
#![no_main]

use std::path::Path;

use etcd_backup::etcd::schema::inspect_db;
use etcd_backup::bbolt::Db;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(db) = Db::from_bytes(data, Path::new("fuzz-input")) {
        let _ = inspect_db(&db, true);
        let _ = db.get(b"meta", b"storageVersion");
    }
});
