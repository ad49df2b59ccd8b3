//! The integration tests, one binary (`cargo test --test it`, one file with `cargo test --test it
//! save::`): the shared rig in `common/` and `checkers/` compiles once and the library links
//! once, instead of once per file. The tests of all files run side by side (as many at a time as
//! `--test-threads`, the number of CPUs by default), so a test here must not change state of the
//! test process that another could see (umask, signal dispositions, environment, current dir).
//! The one exception, `tests/remote_memory.rs`, measures the peak memory of the test process
//! itself and so stays a binary of its own. (`common::node` makes the test process a child
//! subreaper, once, to reap the simulated node's orphans; to the other tests that changes
//! nothing they look at: an orphan of theirs is left unreaped under the test process instead of
//! under PID 1, which here reaps nothing either.)
#![allow(unreachable_pub)] // a test binary: nothing outside it to reach

mod at_rest;
mod checkers;
mod common;
mod completions;
mod config;
mod drill;
mod etcdctl_habits;
mod generated;
mod health;
mod help;
mod inspect;
mod metrics;
mod mistakes;
mod node_harness;
mod node_restore;
mod offsite;
mod offsite_azure;
mod offsite_gcs;
mod packaging;
mod prune;
mod remote;
mod repair;
mod restore;
mod save;
mod save_hash;
mod save_stops;
mod status;
mod verify;
