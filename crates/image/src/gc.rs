//! Image garbage collection, kubelet's `realImageGCManager`: images no container uses are
//! removed when unused for longer than the maximum age, and — when the store's filesystem is
//! fuller than the high threshold — least recently used first, until usage is back at the low
//! threshold; an image younger than the minimum age is never removed for space. Unlike
//! kubelet, first-seen and last-used times are kept on disk, so a restart does not reset them
//! (kubelet waits the maximum age after each start for that reason; kbatch need not).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::digest::Digest;
use crate::error::{IoContext, Result};
use crate::reference::ImageRef;
use crate::store::Store;

/// kubelet's image GC settings.
#[derive(Debug, Clone)]
pub struct GcPolicy {
    /// `imageGCHighThresholdPercent`: disk usage that starts collection (kubelet: 85).
    pub high_threshold_percent: u8,
    /// `imageGCLowThresholdPercent`: disk usage collection aims for (kubelet: 80).
    pub low_threshold_percent: u8,
    /// `imageMinimumGCAge`: images stored more recently are kept (kubelet: 2m).
    pub min_age: Duration,
    /// `imageMaximumGCAge`: unused images idle longer are removed; None disables (kubelet's
    /// default).
    pub max_age: Option<Duration>,
}

impl Default for GcPolicy {
    fn default() -> Self {
        GcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
            min_age: Duration::from_secs(120),
            max_age: None,
        }
    }
}

/// The store's filesystem, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct DiskUsage {
    pub capacity: u64,
    pub available: u64,
}

/// The filesystem holding the store.
pub fn disk_usage(store: &Store) -> Result<DiskUsage> {
    let st = rustix::fs::statvfs(store.root()).at(store.root(), "statvfs")?;
    Ok(DiskUsage {
        capacity: st.f_blocks * st.f_frsize,
        available: st.f_bavail * st.f_frsize,
    })
}

/// What a collection did.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// References removed, with their images.
    pub removed: Vec<String>,
    /// Bytes deleted from disk.
    pub freed: u64,
    /// kubelet's message when the disk could not be brought under the low threshold (its
    /// FreeDiskSpaceFailed event).
    pub shortfall: Option<String>,
}

/// One collection pass. `in_use`: the images of containers that exist (as written in their
/// pods); prepared root filesystems count as uses too. `disk`: the filesystem now
/// ([`disk_usage`]).
pub fn collect(
    store: &Store,
    policy: &GcPolicy,
    in_use: &[String],
    disk: DiskUsage,
    now: Timestamp,
) -> Result<GcReport> {
    let _lock = store.lock_exclusive()?;
    let index = store.read_index()?;
    let mut used: BTreeSet<Digest> = in_use
        .iter()
        .filter_map(|i| ImageRef::parse(i).ok())
        .filter_map(|r| index.refs.get(&r.to_string()).cloned())
        .collect();
    used.extend(
        crate::rootfs::records(store)?
            .into_iter()
            .map(|(_, r)| r.manifest),
    );
    let layers = layers_of(store, &index.refs);
    // kubelet's eviction order: least recently used, then first seen.
    let mut candidates: Vec<(Digest, Timestamp, Timestamp)> = index
        .images
        .iter()
        .filter(|(d, _)| !used.contains(*d))
        .map(|(d, m)| (d.clone(), m.last_used, m.added))
        .collect();
    candidates.sort_by_key(|(_, last_used, added)| (*last_used, *added));

    let mut doomed: Vec<Digest> = Vec::new();
    if let Some(max_age) = policy.max_age {
        candidates.retain(|(d, last_used, _)| {
            let old = elapsed(*last_used, now) > max_age;
            if old {
                doomed.push(d.clone());
            }
            !old
        });
    }

    let mut shortfall = None;
    let usage = 100 - (disk.available.saturating_mul(100) / disk.capacity.max(1)).min(100);
    if usage >= u64::from(policy.high_threshold_percent) {
        let goal = disk.capacity * (100 - u64::from(policy.low_threshold_percent)) / 100;
        let to_free = goal.saturating_sub(disk.available);
        let mut freed = 0u64;
        for (d, _, added) in &candidates {
            if freed >= to_free {
                break;
            }
            if elapsed(*added, now) < policy.min_age {
                continue;
            }
            doomed.push(d.clone());
            freed += unique_size(store, &layers, d, &doomed);
        }
        if freed < to_free {
            shortfall = Some(format!(
                "Failed to garbage collect required amount of images. Attempted to free {to_free} bytes, but only found {freed} bytes eligible to free."
            ));
        }
    }

    // Reported in eviction order.
    let removed = store.update_index(|index| {
        let mut refs = Vec::new();
        for d in &doomed {
            refs.extend(
                index
                    .refs
                    .iter()
                    .filter(|(_, v)| *v == d)
                    .map(|(r, _)| r.clone()),
            );
        }
        for r in &refs {
            index.refs.remove(r);
        }
        Ok(refs)
    })?;
    let freed = store.sweep_locked(&store.read_index()?)?;
    Ok(GcReport {
        removed,
        freed,
        shortfall,
    })
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

/// Each named image's layers.
fn layers_of(store: &Store, refs: &BTreeMap<String, Digest>) -> BTreeMap<Digest, Vec<Digest>> {
    refs.values()
        .filter_map(|d| {
            let image = store.image_by_digest(d).ok()??;
            Some((d.clone(), image.diff_ids))
        })
        .collect()
}

/// The bytes removing `image` frees once `gone` (which includes it) are removed: its layers
/// that no remaining image shares.
fn unique_size(
    store: &Store,
    layers: &BTreeMap<Digest, Vec<Digest>>,
    image: &Digest,
    gone: &[Digest],
) -> u64 {
    let Some(mine) = layers.get(image) else {
        return 0;
    };
    let shared: BTreeSet<&Digest> = layers
        .iter()
        .filter(|(d, _)| !gone.contains(d))
        .flat_map(|(_, l)| l)
        .collect();
    mine.iter()
        .filter(|l| !shared.contains(l))
        .map(|l| store.layer_meta(l).map_or(0, |m| m.size))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::testutil::{E, layer, oci_layout};
    use crate::unpack::Compression;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Imports an image of one layer holding `size` bytes, first seen at `when`.
    fn add(store: &Store, t: &std::path::Path, name: &str, size: usize, when: &str) {
        let content = name.repeat(size / name.len() + 1)[..size].to_owned();
        let l = layer(&[E::File("data", &content)]);
        let dir = t.join(name.replace([':', '/'], "_"));
        oci_layout(&dir, &[l], Compression::Gzip, Some(name));
        crate::import::import(store, &dir, None, &Platform::host(), at(when)).unwrap();
    }

    fn names(store: &Store) -> Vec<String> {
        store
            .list()
            .unwrap()
            .into_iter()
            .map(|s| s.reference)
            .collect()
    }

    const RELAXED: DiskUsage = DiskUsage {
        capacity: 1000,
        available: 900,
    };

    #[test]
    fn under_the_high_threshold_nothing_goes() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        add(&store, t.path(), "a:1", 100, "2024-01-01T00:00:00Z");
        let r = collect(
            &store,
            &GcPolicy::default(),
            &[],
            RELAXED,
            at("2025-01-01T00:00:00Z"),
        )
        .unwrap();
        assert!(r.removed.is_empty());
        assert_eq!(names(&store), ["docker.io/library/a:1"]);
    }

    #[test]
    fn disk_pressure_removes_least_recently_used_until_the_low_threshold() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        add(&store, t.path(), "old:1", 60, "2024-01-01T00:00:00Z");
        add(&store, t.path(), "mid:1", 60, "2024-01-02T00:00:00Z");
        add(&store, t.path(), "new:1", 60, "2024-01-03T00:00:00Z");
        add(&store, t.path(), "used:1", 60, "2023-01-01T00:00:00Z");
        add(&store, t.path(), "fresh:1", 60, "2024-06-01T00:00:00Z");
        // 90% used: free down to 80%, 100 bytes: two 60-byte images, oldest first.
        let disk = DiskUsage {
            capacity: 1000,
            available: 100,
        };
        let r = collect(
            &store,
            &GcPolicy::default(),
            &["used:1".into()],
            disk,
            at("2024-06-01T00:01:00Z"),
        )
        .unwrap();
        assert_eq!(
            r.removed,
            ["docker.io/library/old:1", "docker.io/library/mid:1"]
        );
        assert!(r.freed > 0);
        assert!(r.shortfall.is_none());
        assert_eq!(
            names(&store),
            [
                "docker.io/library/fresh:1",
                "docker.io/library/new:1",
                "docker.io/library/used:1"
            ]
        );
        // Asking for more than is eligible: everything old enough and unused goes, and
        // kubelet's message says it was not enough. `fresh` is younger than the minimum age.
        let disk = DiskUsage {
            capacity: 1000,
            available: 0,
        };
        let r = collect(
            &store,
            &GcPolicy::default(),
            &["used:1".into()],
            disk,
            at("2024-06-01T00:01:00Z"),
        )
        .unwrap();
        assert_eq!(r.removed, ["docker.io/library/new:1"]);
        assert_eq!(
            r.shortfall.as_deref(),
            Some(
                "Failed to garbage collect required amount of images. Attempted to free 200 bytes, but only found 60 bytes eligible to free."
            )
        );
        assert_eq!(
            names(&store),
            ["docker.io/library/fresh:1", "docker.io/library/used:1"]
        );
    }

    #[test]
    fn images_idle_past_the_maximum_age_go_without_pressure() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path().join("store")).unwrap();
        add(&store, t.path(), "idle:1", 10, "2024-01-01T00:00:00Z");
        add(&store, t.path(), "recent:1", 10, "2024-05-31T12:00:00Z");
        let policy = GcPolicy {
            max_age: Some(Duration::from_secs(24 * 3600)),
            ..GcPolicy::default()
        };
        let r = collect(&store, &policy, &[], RELAXED, at("2024-06-01T00:00:00Z")).unwrap();
        assert_eq!(r.removed, ["docker.io/library/idle:1"]);
        assert_eq!(names(&store), ["docker.io/library/recent:1"]);
    }

    #[test]
    fn disk_usage_reads_the_filesystem() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        let d = disk_usage(&store).unwrap();
        assert!(d.capacity > 0 && d.available <= d.capacity);
    }
}
