//! kubelet's image garbage collection on the node (`realImageGCManager.GarbageCollect`,
//! run every `ImageGCPeriod`, five minutes, the first time at the agent's start): the
//! images no pod on the node uses go as `kbatch_image::gc` decides (the disk thresholds,
//! the minimum age), and a shortfall is kubelet's `FreeDiskSpaceFailed` event on the Node.
//!
//! "Uses" is wider than kubelet's (the images of containers that exist): every image a pod
//! bound to the node names counts from the moment its worker starts until it is done, so
//! an image is never removed between a worker finding it and its container starting from
//! it, nor under a pod that has yet to start a container (its `imagePullPolicy: Never`
//! could not get it back).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kbatch_api::registry::EventSpec;
use kbatch_image::gc::{self, GcPolicy, GcReport};

use crate::Context;

/// kubelet's `ImageGCPeriod`.
pub const PERIOD: Duration = Duration::from_secs(300);

/// The images of the pods the node runs, by pod uid. A collection holds it while it runs:
/// a worker registers its pod's images before it looks any of them up, so either the
/// collection sees them, or the worker's look-up comes after the collection is over.
#[derive(Debug, Default)]
pub(crate) struct InUse(tokio::sync::Mutex<HashMap<String, Vec<String>>>);

impl InUse {
    /// Pod `uid` uses the images its containers name.
    pub(crate) async fn register(&self, uid: &str, pod: &Pod) {
        let spec = pod.spec.as_ref();
        let images: Vec<String> = spec
            .into_iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .filter_map(|c| c.image.clone())
            .filter(|i| !i.is_empty())
            .collect();
        self.0.lock().await.insert(uid.to_owned(), images);
    }

    /// Pod `uid` is done on the node.
    pub(crate) async fn release(&self, uid: &str) {
        self.0.lock().await.remove(uid);
    }
}

/// Collects every [`PERIOD`], as long as the agent runs.
pub(crate) async fn run(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        collect(&ctx).await;
    }
}

/// One collection; `None` when the node has no image store or the collection failed (said
/// in the log).
pub(crate) async fn collect(ctx: &Context) -> Option<GcReport> {
    let images = ctx.images.as_ref()?;
    let in_use = ctx.images_in_use.0.lock().await;
    let names: Vec<String> = in_use.values().flatten().cloned().collect();
    let store = images.store.clone();
    let policy: GcPolicy = ctx.image_gc.clone();
    let now = ctx.clock.now();
    let collected = tokio::task::spawn_blocking(move || {
        let disk = gc::disk_usage(&store)?;
        gc::collect(&store, &policy, &names, disk, now)
    })
    .await;
    drop(in_use);
    let report = match collected {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "image garbage collection");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "image garbage collection");
            return None;
        }
    };
    if !report.removed.is_empty() {
        tracing::info!(images = ?report.removed, freed = report.freed, "image garbage collection removed unused images");
    }
    if let Some(message) = &report.shortfall {
        tracing::warn!(%message, "image garbage collection");
        let event = EventSpec {
            involved: ObjectReference {
                kind: Some("Node".to_owned()),
                name: Some(ctx.node_name.clone()),
                uid: Some(ctx.node_name.clone()),
                ..Default::default()
            },
            type_: "Warning".to_owned(),
            reason: "FreeDiskSpaceFailed".to_owned(),
            message: message.clone(),
            component: "kubelet".to_owned(),
            host: Some(ctx.node_name.clone()),
        };
        if let Err(e) = ctx.api.record_event(event).await {
            tracing::debug!(error = %e, "recording an event");
        }
    }
    Some(report)
}
