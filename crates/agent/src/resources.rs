//! A container's resources as numbers for cgroup limits and the downward API, through core's
//! `Quantity.Value()` and `Quantity.MilliValue()`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
pub use kbatch_core::validation::pod::{milli_value, value};

use crate::runtime::Limits;

/// What the node offers; a container without a limit may use all of it (kubelet's
/// `MergeContainerResourceLimits` for the downward API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocatable {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
}

fn get<'a>(list: Option<&'a BTreeMap<String, Quantity>>, name: &str) -> Option<&'a str> {
    list.and_then(|l| l.get(name)).map(|q| q.0.as_str())
}

/// The cgroup limits of a container: its memory and CPU limits and its CPU request (the
/// request defaults to the limit, as kubelet's `generateLinuxContainerResources` does for
/// pods created before the apiserver defaulted it).
pub fn limits(container: &Container) -> Limits {
    let resources = container.resources.as_ref();
    let lim = resources.and_then(|r| r.limits.as_ref());
    let req = resources.and_then(|r| r.requests.as_ref());
    let positive = |v: Option<i128>| v.filter(|v| *v > 0).and_then(|v| u64::try_from(v).ok());
    let cpu_millis = positive(get(lim, "cpu").and_then(milli_value));
    Limits {
        memory_bytes: positive(get(lim, "memory").and_then(value)),
        cpu_millis,
        cpu_request_millis: positive(get(req, "cpu").and_then(milli_value)).or(cpu_millis),
    }
}

/// `ExtractContainerResourceValue` with kubelet's node-allocatable defaults for limits:
/// the value a `resourceFieldRef` env var gets.
pub fn downward_value(
    container: &Container,
    resource: &str,
    divisor: Option<&Quantity>,
    node: &Allocatable,
) -> Result<String, String> {
    let divisor = divisor
        .map(|d| d.0.as_str())
        .filter(|d| milli_value(d).is_some_and(|m| m != 0))
        .unwrap_or("1");
    let resources = container.resources.as_ref();
    let lim = resources.and_then(|r| r.limits.as_ref());
    let req = resources.and_then(|r| r.requests.as_ref());
    let node_default = |name: &str| -> i128 {
        match name {
            "cpu" => i128::from(node.cpu_millis),
            "memory" => i128::from(node.memory_bytes),
            _ => i128::from(node.ephemeral_storage_bytes),
        }
    };
    let (list, name, from_node) = match resource {
        "limits.cpu" => (lim, "cpu", true),
        "limits.memory" => (lim, "memory", true),
        "limits.ephemeral-storage" => (lim, "ephemeral-storage", true),
        "requests.cpu" => (req, "cpu", false),
        "requests.memory" => (req, "memory", false),
        "requests.ephemeral-storage" => (req, "ephemeral-storage", false),
        other => match other.split_once('.') {
            Some(("limits" | "requests", name)) if name.starts_with("hugepages-") => {
                let list = if other.starts_with("limits") {
                    lim
                } else {
                    req
                };
                let bytes = get(list, name).and_then(value).unwrap_or(0);
                return Ok(ceil_div(bytes, value(divisor).unwrap_or(1)));
            }
            _ => return Err(format!("unsupported container resource : {other}")),
        },
    };
    let set = get(list, name);
    if name == "cpu" {
        let millis = match set {
            Some(q) => milli_value(q).unwrap_or(0),
            None if from_node => node_default("cpu"),
            None => 0,
        };
        return Ok(ceil_div(millis, milli_value(divisor).unwrap_or(1000)));
    }
    let bytes = match set {
        Some(q) => value(q).unwrap_or(0),
        None if from_node => node_default(name),
        None => 0,
    };
    Ok(ceil_div(bytes, value(divisor).unwrap_or(1)))
}

/// `int64(math.Ceil(float64(a) / float64(b)))`, as kubelet's converters compute it.
fn ceil_div(a: i128, b: i128) -> String {
    if b == 0 {
        return "0".to_owned();
    }
    ((a as f64 / b as f64).ceil() as i64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_up() {
        assert_eq!(value("1Gi"), Some(1 << 30));
        assert_eq!(value("1.5Gi"), Some(3 << 29));
        assert_eq!(value("100M"), Some(100_000_000));
        assert_eq!(value("500m"), Some(1));
        assert_eq!(milli_value("500m"), Some(500));
        assert_eq!(milli_value("2"), Some(2000));
        assert_eq!(milli_value("0.1"), Some(100));
        assert_eq!(milli_value("1e3"), Some(1_000_000));
        assert_eq!(milli_value("1n"), Some(1));
        assert_eq!(value("-1.5"), Some(-2));
        assert_eq!(value("bogus"), None);
    }

    fn container(json: serde_json::Value) -> Container {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn downward_api_resources() {
        let node = Allocatable {
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 100 << 30,
        };
        let c = container(serde_json::json!({
            "name": "c",
            "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}
        }));
        let v = |r: &str, d: Option<&str>| {
            downward_value(&c, r, d.map(|d| Quantity(d.into())).as_ref(), &node).unwrap()
        };
        assert_eq!(v("limits.cpu", None), "2");
        assert_eq!(v("limits.cpu", Some("1m")), "1500");
        assert_eq!(v("requests.cpu", Some("1m")), "250");
        assert_eq!(v("limits.memory", None), "67108864");
        assert_eq!(v("limits.memory", Some("1Mi")), "64");
        assert_eq!(v("requests.memory", None), "0");
        assert_eq!(v("limits.ephemeral-storage", Some("1Gi")), "100");
        let bare = container(serde_json::json!({"name": "c"}));
        assert_eq!(
            downward_value(&bare, "limits.cpu", None, &node).unwrap(),
            "4"
        );
        assert!(downward_value(&bare, "limits.gpu", None, &node).is_err());
    }

    #[test]
    fn cgroup_limits() {
        let c = container(serde_json::json!({
            "name": "c", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}
        }));
        assert_eq!(
            limits(&c),
            Limits {
                memory_bytes: Some(128 << 20),
                cpu_millis: Some(500),
                cpu_request_millis: Some(500),
            }
        );
        assert_eq!(
            limits(&container(serde_json::json!({"name": "c"}))),
            Limits::default()
        );
    }
}
