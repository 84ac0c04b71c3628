//! Image references as kubelet reads `container.image`: docker/distribution's
//! `ParseNormalizedNamed` (oci-spec's `Reference` is a port of its grammar), so `busybox` is
//! `docker.io/library/busybox:latest` and a name that does not parse is kubelet's
//! InvalidImageName.

use std::fmt;

use oci_spec::distribution::{ParseError, Reference};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// A parsed, normalised image reference, with the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    inner: Reference,
    original: String,
}

impl ImageRef {
    /// Parses as `ParseNormalizedNamed` does, then applies the default tag as kubelet's
    /// `applyDefaultImageTag` does (a reference with neither tag nor digest gets `latest`).
    pub fn parse(image: &str) -> Result<ImageRef> {
        let invalid = |reason: String| Error::InvalidReference {
            image: image.to_owned(),
            reason,
        };
        // ParseNormalizedNamed refuses a bare 64-hex string: it would read as an image id.
        if image.len() == 64 && image.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(format!(
                "invalid repository name ({image}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let inner = Reference::try_from(image).map_err(|e| match e {
            // The grammar only admits lowercase paths; name the real problem as Go does.
            ParseError::ReferenceInvalidFormat
                if Reference::try_from(image.to_ascii_lowercase().as_str()).is_ok() =>
            {
                invalid(ParseError::NameContainsUppercase.to_string())
            }
            e => invalid(e.to_string()),
        })?;
        if let Some(d) = inner.digest() {
            d.parse::<Digest>()
                .map_err(|_| invalid(ParseError::DigestInvalidFormat.to_string()))?;
        }
        Ok(ImageRef {
            inner,
            original: image.to_owned(),
        })
    }

    /// The text as the pod spec gave it; kubelet's events and messages quote this.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// `docker.io`, `localhost:5000`, …
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// `library/busybox`, …
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<Digest> {
        self.inner.digest().and_then(|d| d.parse().ok())
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// The same repository at another tag (a bare tag in an OCI layout's ref.name).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef> {
        ImageRef::parse(&format!("{}:{tag}", self.name()))
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }
}

/// The normalised form, `docker.io/library/busybox:latest`: the store's key.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_parse_normalized_named() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(norm("127.0.0.1:5000/a/b/c:v1"), "127.0.0.1:5000/a/b/c:v1");
        assert_eq!(norm("ghcr.io/x/y"), "ghcr.io/x/y:latest");
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            norm(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn parts() {
        let r = ImageRef::parse("localhost:5000/team/app:v2").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.name(), "localhost:5000/team/app");
        assert_eq!(r.original(), "localhost:5000/team/app:v2");
        assert_eq!(
            r.with_tag("v3").unwrap().to_string(),
            "localhost:5000/team/app:v3"
        );
    }

    #[test]
    fn invalid_names_say_why() {
        let reason = |s: &str| match ImageRef::parse(s) {
            Err(Error::InvalidReference { reason, .. }) => reason,
            other => panic!("{s:?}: {other:?}"),
        };
        assert_eq!(
            reason(""),
            "repository name must have at least one component"
        );
        assert_eq!(reason("Busybox"), "repository name must be lowercase");
        assert_eq!(reason("busy box"), "invalid reference format");
        assert_eq!(reason("busybox:"), "invalid reference format");
        assert_eq!(reason("-busybox"), "invalid reference format");
        assert_eq!(
            reason("busybox@sha256:abc"),
            "invalid reference format",
            "a digest shorter than 32 hex digits is outside the grammar"
        );
        assert_eq!(
            reason(&format!("busybox@sha256:{}", "a".repeat(40))),
            "invalid checksum digest length"
        );
        assert!(reason(&"a".repeat(64)).contains("64-byte hexadecimal"));
        let err = ImageRef::parse("UPPER").unwrap_err().to_string();
        assert_eq!(
            err,
            "couldn't parse image reference \"UPPER\": repository name must be lowercase"
        );
    }
}
