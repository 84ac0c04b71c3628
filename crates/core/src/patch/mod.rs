//! Patches the apiserver applies to stored objects: JSON merge patch (RFC 7386) in `merge`,
//! and the list semantics of the served types in `lists`, which strategic merge patch and
//! server-side apply share.

pub mod lists;
mod merge;

pub use merge::json_merge_patch;
