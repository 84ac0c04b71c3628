//! kbatch's container images: what kubelet and its container runtime do between a pod's
//! `image:` and a root filesystem to run it in.
//!
//! - [`reference`]: image names as kubelet parses them; [`policy`] and [`backoff`]:
//!   imagePullPolicy, waiting reasons, events, the pull back-off;
//! - [`pull`]: OCI/Docker registries ([`auth`] for credentials, [`platform`] for the index);
//! - [`store`]: the content-addressed store; [`unpack`]: safe layer unpacking;
//! - [`rootfs`]: overlayfs or copied root filesystems ([`merge`] is the copy);
//! - [`import`]: OCI layouts and `docker save` archives; [`gc`]: garbage collection.
//!
//! docs/images.md describes the design and its decisions.

mod archive;
pub mod auth;
pub mod backoff;
pub mod digest;
pub mod error;
mod fsutil;
pub mod gc;
pub mod image;
pub mod import;
mod layout;
mod merge;
pub mod platform;
pub mod policy;
pub mod pull;
pub mod reference;
pub mod rootfs;
pub mod store;
#[cfg(test)]
mod testutil;
pub mod unpack;

pub use backoff::PullBackoff;
pub use digest::Digest;
pub use error::{Error, RegistryErrorKind, Result};
pub use gc::{GcPolicy, GcReport};
pub use image::Image;
pub use import::{Imported, import};
pub use platform::Platform;
pub use policy::{PullPolicy, WaitingReason};
pub use pull::{PullOptions, Puller};
pub use reference::ImageRef;
pub use rootfs::{Rootfs, RootfsMode};
pub use store::{ImageSummary, Store};
