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

pub mod auth;
pub mod backoff;
pub mod digest;
pub mod error;
mod fsutil;
pub mod image;
mod merge;
pub mod platform;
pub mod policy;
pub mod reference;
pub mod rootfs;
pub mod store;
pub mod unpack;

pub use backoff::PullBackoff;
pub use digest::Digest;
pub use error::{Error, RegistryErrorKind, Result};
pub use image::Image;
pub use platform::Platform;
pub use policy::{PullPolicy, WaitingReason};
pub use reference::ImageRef;
pub use rootfs::{Rootfs, RootfsMode};
pub use store::{ImageSummary, Store};
