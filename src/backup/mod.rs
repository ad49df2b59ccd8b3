//! The backup set: what a backup is on disk and in a store, and what is done to it once
//! written — named, listed, checked and kept or dropped.

pub mod catalog;
pub mod layers;
pub mod named;
pub mod pki_bundle;
pub mod spill;
pub mod verify;
