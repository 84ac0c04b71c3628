//! A pod's quality-of-service class, as `pkg/apis/core/helper/qos.ComputePodQOS` works it out.
//! The pod strategy's `PrepareForCreate` stores it in `status.qosClass`, where it never changes
//! (`ValidatePodStatusUpdate`); `kubectl describe pod` prints it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::validation::pod::quantity::nano_value;

pub const BEST_EFFORT: &str = "BestEffort";
pub const BURSTABLE: &str = "Burstable";
pub const GUARANTEED: &str = "Guaranteed";

/// `isSupportedQoSComputeResource`: only these two count.
const COMPUTE_RESOURCES: [&str; 2] = ["cpu", "memory"];

/// `ComputePodQOS` without pod-level resources (the PodLevelResources gate is off in 1.32):
/// BestEffort when no container, init containers included, requests or limits any CPU or
/// memory; Guaranteed when every container limits both and the sums of the requests equal
/// the sums of the limits, resource by resource; Burstable otherwise. Quantities are summed
/// in nano units, exact for every suffix Kubernetes accepts.
pub fn compute_pod_qos(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for container in containers {
        let resources = container.resources.as_ref();
        add_positive(&mut requests, resources.and_then(|r| r.requests.as_ref()));
        if add_positive(&mut limits, resources.and_then(|r| r.limits.as_ref()))
            < COMPUTE_RESOURCES.len()
        {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return BEST_EFFORT;
    }
    guaranteed = guaranteed
        && requests
            .iter()
            .all(|(name, request)| limits.get(name) == Some(request));
    if guaranteed && requests.len() == limits.len() {
        GUARANTEED
    } else {
        BURSTABLE
    }
}

/// Adds the positive CPU and memory quantities of one container's list to `sums`; returns how
/// many of the two it had.
fn add_positive<'a>(
    sums: &mut BTreeMap<&'a str, i128>,
    list: Option<&'a BTreeMap<String, Quantity>>,
) -> usize {
    let mut found = 0;
    for (name, quantity) in list.into_iter().flatten() {
        if !COMPUTE_RESOURCES.contains(&name.as_str()) {
            continue;
        }
        if let Some(v) = nano_value(&quantity.0).filter(|v| *v > 0) {
            *sums.entry(name.as_str()).or_default() += v;
            found += 1;
        }
    }
    found
}
