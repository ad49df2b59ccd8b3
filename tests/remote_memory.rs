//! Memory of a streaming upload and download does not grow with the object's size: 256 MiB
//! through SeaweedFS, with the process's peak RSS (VmHWM) checked after each direction. In a
//! test binary of its own, so that no other test's memory counts.
#![allow(unreachable_pub)] // a test binary: nothing outside it to reach

// The rig the tests in tests/it/ share; this binary uses only a part of it.
#[allow(dead_code)]
#[path = "it/common/mod.rs"]
mod common;

use std::io::Read;
use std::time::Instant;

use common::s3::SeaweedFs;
use common::Pattern;

const MIB: u64 = 1 << 20;

/// Peak resident set size of this process, in MiB (`VmHWM` of /proc/self/status).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024
}

#[test]
fn upload_and_download_of_256_mib_stay_small() {
    let sw = SeaweedFs::start();
    let r = sw.remote("mem");
    let before = peak_rss_mib();
    let len = 256 * MIB;

    let t = Instant::now();
    let up = r
        .upload("big.db", &mut Pattern::new(0x1234_5678, len))
        .unwrap();
    let up_time = t.elapsed();
    let after_up = peak_rss_mib();
    assert_eq!(up.size, len);

    let t = Instant::now();
    let mut reader = r.reader("big.db").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    let down_time = t.elapsed();
    let after_down = peak_rss_mib();
    assert_eq!(got, len);

    let rate = |d: std::time::Duration| len as f64 / MIB as f64 / d.as_secs_f64();
    eprintln!(
        "256 MiB: upload {up_time:.2?} ({:.0} MiB/s), download {down_time:.2?} ({:.0} MiB/s); \
         peak RSS {before} MiB before, {after_up} MiB after upload, {after_down} MiB after \
         download",
        rate(up_time),
        rate(down_time)
    );
    // Three 8 MiB parts at most, plus the HTTP stack: far below the object's size.
    assert!(
        after_up < 100,
        "peak RSS {after_up} MiB after a 256 MiB upload"
    );
    assert!(
        after_down < 100,
        "peak RSS {after_down} MiB after a 256 MiB download"
    );
}
