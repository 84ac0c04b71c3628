//! The node's OCI platform, from the target kbatch was built for, and the choice of one
//! manifest from a multi-platform image index — containerd's `platforms.Only` order: the
//! exact platform first, then what the CPU also runs (386 on amd64, 32-bit arm on arm64,
//! older arm variants).

use std::fmt;

use oci_spec::image::{Arch, Descriptor, Os};

/// An OS, architecture and variant as the image spec names them (Go's GOOS/GOARCH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of this binary's build target.
    pub fn host() -> Platform {
        let (architecture, variant) = goarch();
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// The platforms this one runs, best first.
    fn candidates(&self) -> Vec<Platform> {
        let os = self.os.as_str();
        let mut v = vec![self.clone()];
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", _) => v.push(Platform::new(os, "386", None)),
            ("arm64", _) => {
                for var in ["v8", "v7", "v6", "v5"] {
                    v.push(Platform::new(os, "arm", Some(var)));
                }
            }
            ("arm", Some(var)) => {
                let older: &[&str] = match var {
                    "v8" => &["v7", "v6", "v5"],
                    "v7" => &["v6", "v5"],
                    "v6" => &["v5"],
                    _ => &[],
                };
                for o in older {
                    v.push(Platform::new(os, "arm", Some(o)));
                }
            }
            _ => {}
        }
        v
    }

    /// Whether an index entry's platform is this one (arm64's `v8` variant is the default and
    /// may be left out, as containerd's `Normalize` does).
    fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let norm = |a: &str, v: Option<&str>| -> Option<String> {
            match (a, v) {
                ("arm64", Some("v8")) | ("arm64", None) => None,
                (_, v) => v.map(str::to_owned),
            }
        };
        self.os == os
            && self.architecture == arch
            && norm(arch, variant) == norm(&self.architecture, self.variant.as_deref())
    }

    /// The best entry of an image index for this platform.
    pub fn select<'a>(&self, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
        self.candidates().iter().find_map(|want| {
            manifests.iter().find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    want.matches(
                        &os_name(p.os()),
                        &arch_name(p.architecture()),
                        p.variant().as_deref(),
                    )
                })
            })
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn os_name(os: &Os) -> String {
    os.to_string()
}

fn arch_name(arch: &Arch) -> String {
    arch.to_string()
}

/// Rust's target architecture in Go's GOARCH (and GOARM) words.
fn goarch() -> (&'static str, Option<&'static str>) {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "x86" => ("386", None),
        "aarch64" => ("arm64", Some("v8")),
        "arm" if cfg!(target_feature = "v7") => ("arm", Some("v7")),
        "arm" => ("arm", Some("v6")),
        "powerpc64" if little => ("ppc64le", None),
        "powerpc64" => ("ppc64", None),
        "mips64" if little => ("mips64le", None),
        "mips64" => ("mips64", None),
        "mips" if little => ("mipsle", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{DescriptorBuilder, MediaType, PlatformBuilder};

    fn entry(n: u8, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut p = PlatformBuilder::default()
            .os(Os::Linux)
            .architecture(Arch::from(arch));
        if let Some(v) = variant {
            p = p.variant(v.to_owned());
        }
        DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .size(1u64)
            .digest(
                format!("sha256:{}", format!("{n:02x}").repeat(32))
                    .parse::<oci_spec::image::Digest>()
                    .unwrap(),
            )
            .platform(p.build().unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn host_platform_is_the_build_target() {
        let p = Platform::host();
        assert_eq!(p.os, "linux");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(p.to_string(), "linux/amd64");
        #[cfg(target_arch = "aarch64")]
        assert_eq!(p.to_string(), "linux/arm64/v8");
    }

    #[test]
    fn selects_the_exact_platform_over_fallbacks() {
        let index = [
            entry(1, "386", None),
            entry(2, "arm64", Some("v8")),
            entry(3, "amd64", None),
            entry(4, "arm", Some("v7")),
        ];
        let amd64 = Platform::new("linux", "amd64", None);
        assert_eq!(
            amd64.select(&index).unwrap().digest().digest(),
            "03".repeat(32)
        );
        let arm64 = Platform::new("linux", "arm64", None);
        assert_eq!(
            arm64.select(&index).unwrap().digest().digest(),
            "02".repeat(32)
        );
        let armv7 = Platform::new("linux", "arm", Some("v7"));
        assert_eq!(
            armv7.select(&index).unwrap().digest().digest(),
            "04".repeat(32)
        );
        let s390x = Platform::new("linux", "s390x", None);
        assert!(s390x.select(&index).is_none());
    }

    #[test]
    fn falls_back_to_what_the_cpu_also_runs() {
        let index = [entry(1, "386", None), entry(2, "arm", Some("v6"))];
        let amd64 = Platform::new("linux", "amd64", None);
        assert_eq!(
            amd64.select(&index).unwrap().digest().digest(),
            "01".repeat(32)
        );
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        assert_eq!(
            arm64.select(&index).unwrap().digest().digest(),
            "02".repeat(32)
        );
        let armv5 = Platform::new("linux", "arm", Some("v5"));
        assert!(armv5.select(&index).is_none());
    }

    #[test]
    fn arm64_variant_v8_is_the_default() {
        let index = [entry(7, "arm64", None)];
        let arm64 = Platform::new("linux", "arm64", Some("v8"));
        assert!(arm64.select(&index).is_some());
    }
}
