//! imagePullPolicy and the words kubelet uses around pulls: the waiting reasons a container
//! shows, the event reasons and the messages (pkg/kubelet/images: `types.go`,
//! `image_manager.go`; pkg/kubelet/events).

use crate::reference::ImageRef;

/// `v1.PullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The API's spelling; anything else is not a pull policy (validation rejects it).
    pub fn parse(value: &str) -> Option<PullPolicy> {
        match value {
            "Always" => Some(PullPolicy::Always),
            "IfNotPresent" => Some(PullPolicy::IfNotPresent),
            "Never" => Some(PullPolicy::Never),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }

    /// `SetDefaults_Container`: `Always` when the tag is `latest` (explicit, or implied by a
    /// reference with neither tag nor digest), else `IfNotPresent` — also for a reference that
    /// does not parse, which then fails as InvalidImageName when the container starts.
    pub fn default_for(image: &str) -> PullPolicy {
        // A digest-only reference has no tag: the default tag applies to bare names only.
        if ImageRef::parse(image).is_ok_and(|r| r.tag() == Some("latest")) {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    }

    /// The container's policy, or the default when the field is unset (objects read through
    /// the API are already defaulted; this covers those that were not).
    pub fn resolve(field: Option<&str>, image: &str) -> PullPolicy {
        field
            .and_then(PullPolicy::parse)
            .unwrap_or_else(|| PullPolicy::default_for(image))
    }

    /// kubelet's `shouldPullImage`.
    pub fn should_pull(self, present: bool) -> bool {
        match self {
            PullPolicy::Never => false,
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
        }
    }
}

/// The waiting reasons of a container whose image is not ready (`pkg/kubelet/images/types.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingReason {
    /// The last pull failed.
    ErrImagePull,
    /// A pull failed and the next attempt waits for the back-off.
    ImagePullBackOff,
    /// The image is absent and the policy is Never.
    ErrImageNeverPull,
    /// The image name does not parse.
    InvalidImageName,
}

impl WaitingReason {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingReason::ErrImagePull => "ErrImagePull",
            WaitingReason::ImagePullBackOff => "ImagePullBackOff",
            WaitingReason::ErrImageNeverPull => "ErrImageNeverPull",
            WaitingReason::InvalidImageName => "InvalidImageName",
        }
    }
}

impl crate::Error {
    /// The waiting reason a container shows when getting its image failed with this error:
    /// a name that does not parse is InvalidImageName, anything else ErrImagePull (the caller
    /// shows ImagePullBackOff while the back-off holds, ErrImageNeverPull for policy Never).
    pub fn waiting_reason(&self) -> WaitingReason {
        match self {
            crate::Error::InvalidReference { .. } => WaitingReason::InvalidImageName,
            _ => WaitingReason::ErrImagePull,
        }
    }
}

/// Event reasons kubelet records about images (`pkg/kubelet/events/event.go`).
pub mod event_reason {
    pub const PULLING: &str = "Pulling";
    pub const PULLED: &str = "Pulled";
    pub const FAILED: &str = "Failed";
    pub const BACK_OFF: &str = "BackOff";
    pub const NEVER_PULL: &str = "ErrImageNeverPull";
    pub const INSPECT_FAILED: &str = "InspectFailed";
}

/// Messages as `EnsureImageExists` words them; `image` is the container's image as written.
pub mod message {
    pub fn invalid_name(image: &str, err: &crate::Error) -> String {
        // The error already reads "couldn't parse image reference …".
        format!("Failed to apply default image tag {image:?}: {err}")
    }

    pub fn never_pull(image: &str) -> String {
        format!("Container image {image:?} is not present with pull policy of Never")
    }

    pub fn already_present(image: &str) -> String {
        format!("Container image {image:?} already present on machine")
    }

    pub fn pulling(image: &str) -> String {
        format!("Pulling image {image:?}")
    }

    /// `pull` and `total` (including the wait for a pull slot) as Go prints durations.
    pub fn pulled(image: &str, pull: &str, total: &str, size: u64) -> String {
        format!(
            "Successfully pulled image {image:?} in {pull} ({total} including waiting). \
             Image size: {size} bytes."
        )
    }

    pub fn failed(image: &str, err: &crate::Error) -> String {
        format!("Failed to pull image {image:?}: {err}")
    }

    pub fn back_off(image: &str) -> String {
        format!("Back-off pulling image {image:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_like_set_defaults_container() {
        let d = format!("sha256:{}", "c".repeat(64));
        for (image, want) in [
            ("busybox", PullPolicy::Always),
            ("busybox:latest", PullPolicy::Always),
            ("localhost:5000/app", PullPolicy::Always),
            ("localhost:5000/app:latest", PullPolicy::Always),
            ("busybox:1.36", PullPolicy::IfNotPresent),
            ("localhost:5000/app:v1", PullPolicy::IfNotPresent),
            (&format!("busybox@{d}"), PullPolicy::IfNotPresent),
            (&format!("busybox:latest@{d}"), PullPolicy::Always),
            (&format!("busybox:v1@{d}"), PullPolicy::IfNotPresent),
            ("Not A Name", PullPolicy::IfNotPresent),
        ] {
            assert_eq!(PullPolicy::default_for(image), want, "{image}");
        }
    }

    #[test]
    fn resolve_prefers_the_field() {
        assert_eq!(
            PullPolicy::resolve(Some("Never"), "busybox"),
            PullPolicy::Never
        );
        assert_eq!(PullPolicy::resolve(None, "busybox"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::resolve(Some(""), "busybox:1"),
            PullPolicy::IfNotPresent
        );
    }

    #[test]
    fn should_pull_like_kubelet() {
        use PullPolicy::*;
        assert!(Always.should_pull(true));
        assert!(Always.should_pull(false));
        assert!(!IfNotPresent.should_pull(true));
        assert!(IfNotPresent.should_pull(false));
        assert!(!Never.should_pull(true));
        assert!(!Never.should_pull(false));
        for p in [Always, IfNotPresent, Never] {
            assert_eq!(PullPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(PullPolicy::parse("always"), None);
    }

    #[test]
    fn messages() {
        assert_eq!(
            message::never_pull("app:v1"),
            "Container image \"app:v1\" is not present with pull policy of Never"
        );
        assert_eq!(
            message::back_off("app:v1"),
            "Back-off pulling image \"app:v1\""
        );
        assert_eq!(
            message::pulled("busybox", "1.661s", "1.7s", 4269694),
            "Successfully pulled image \"busybox\" in 1.661s (1.7s including waiting). Image size: 4269694 bytes."
        );
        let err = ImageRef::parse("Bad").unwrap_err();
        assert_eq!(
            message::invalid_name("Bad", &err),
            "Failed to apply default image tag \"Bad\": couldn't parse image reference \"Bad\": repository name must be lowercase"
        );
        assert_eq!(WaitingReason::ImagePullBackOff.as_str(), "ImagePullBackOff");
        assert_eq!(err.waiting_reason(), WaitingReason::InvalidImageName);
        let pull = crate::Error::NotPresent("x".into());
        assert_eq!(pull.waiting_reason(), WaitingReason::ErrImagePull);
    }
}
