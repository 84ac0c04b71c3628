//! API discovery: the aggregated form (apidiscovery.k8s.io/v2, two requests for a cold
//! kubectl) and the legacy `APIVersions` / `APIGroupList` / `APIResourceList` documents for
//! clients that do not ask for it. Both are generated from one table, so they cannot disagree.

use kbatch_core::object::{
    CONFIGMAP, CRONJOB, EVENT, JOB, Kind, LEASE, NAMESPACE, NODE, PERSISTENTVOLUMECLAIM, POD,
    RUNTIME_CLASS, SECRET, SELFSUBJECTACCESSREVIEW, SELFSUBJECTREVIEW, SELFSUBJECTRULESREVIEW,
    SERVICEACCOUNT, STORAGECLASS,
};
use serde_json::{Value, json};

/// A served resource as discovery describes it.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub kind: Kind,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Subresources and their verbs.
    pub subresources: &'static [(&'static str, &'static [&'static str])],
    /// The resource's own verbs.
    pub verbs: &'static [&'static str],
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS: (&str, &[&str]) = ("status", &["get", "patch", "update"]);

/// Every resource kbatch serves, in discovery order (kubectl expands `all` in this order).
pub const RESOURCES: &[Resource] = &[
    Resource {
        kind: POD,
        singular: "pod",
        short_names: &["po"],
        categories: &["all"],
        subresources: &[("log", &["get"]), STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: EVENT,
        singular: "event",
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: NAMESPACE,
        singular: "namespace",
        short_names: &["ns"],
        categories: &[],
        subresources: &[STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: NODE,
        singular: "node",
        short_names: &["no"],
        categories: &[],
        subresources: &[STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: CONFIGMAP,
        singular: "configmap",
        short_names: &["cm"],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: SECRET,
        singular: "secret",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: SERVICEACCOUNT,
        singular: "serviceaccount",
        short_names: &["sa"],
        categories: &[],
        subresources: &[("token", &["create"])],
        verbs: VERBS,
    },
    Resource {
        kind: PERSISTENTVOLUMECLAIM,
        singular: "persistentvolumeclaim",
        short_names: &["pvc"],
        categories: &[],
        subresources: &[STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: JOB,
        singular: "job",
        short_names: &[],
        categories: &["all"],
        subresources: &[STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: CRONJOB,
        singular: "cronjob",
        short_names: &["cj"],
        categories: &["all"],
        subresources: &[STATUS],
        verbs: VERBS,
    },
    Resource {
        kind: LEASE,
        singular: "lease",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: STORAGECLASS,
        singular: "storageclass",
        short_names: &["sc"],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: RUNTIME_CLASS,
        singular: "runtimeclass",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: VERBS,
    },
    Resource {
        kind: SELFSUBJECTREVIEW,
        singular: "selfsubjectreview",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: &["create"],
    },
    Resource {
        kind: SELFSUBJECTACCESSREVIEW,
        singular: "selfsubjectaccessreview",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: &["create"],
    },
    Resource {
        kind: SELFSUBJECTRULESREVIEW,
        singular: "selfsubjectrulesreview",
        short_names: &[],
        categories: &[],
        subresources: &[],
        verbs: &["create"],
    },
];

/// The served group-versions, core first: (group, version).
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        let gv = (r.kind.group, r.kind.version);
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// The subresources a kind serves (`status`, `log`, `token`).
pub fn subresources(kind: &Kind) -> &'static [(&'static str, &'static [&'static str])] {
    RESOURCES
        .iter()
        .find(|r| r.kind == *kind)
        .map(|r| r.subresources)
        .unwrap_or(&[])
}

/// Whether the client asked for aggregated discovery (v2 or v2beta1).
pub fn wants_aggregated(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for range in accept.split(',') {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("as=APIGroupDiscoveryList") && has("g=apidiscovery.k8s.io") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

/// `GET /api` (core = true) or `GET /apis` as an `APIGroupDiscoveryList`.
pub fn aggregated(core: bool, version: &str) -> Value {
    let items: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(group, v)| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.kind.group == group && r.kind.version == v)
                .map(aggregated_resource)
                .collect();
            json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": [{"version": v, "resources": resources, "freshness": "Current"}]
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &Resource) -> Value {
    let gvk = json!({"group": r.kind.group, "version": r.kind.version, "kind": r.kind.kind});
    let mut v = json!({
        "resource": r.kind.plural,
        "responseKind": gvk,
        "scope": if r.kind.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        let subs: Vec<Value> = r
            .subresources
            .iter()
            .map(|(name, verbs)| {
                let kind = if *name == "log" {
                    json!({"group": "", "version": "", "kind": "string"})
                } else if *name == "token" {
                    json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"})
                } else {
                    gvk.clone()
                };
                json!({"subresource": name, "responseKind": kind, "verbs": verbs})
            })
            .collect();
        v["subresources"] = json!(subs);
    }
    v
}

/// Legacy `GET /api`.
pub fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_value(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// Legacy `GET /apis`.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_value(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/<group>`, or None for a group kbatch does not serve.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = group_versions()
        .into_iter()
        .find(|(g, _)| !g.is_empty() && *g == group)?;
    let mut value = group_value(g, v);
    value["kind"] = json!("APIGroup");
    value["apiVersion"] = json!("v1");
    Some(value)
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`, or None for a group-version not served.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let resources: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.kind.group == group && r.kind.version == version)
        .collect();
    if resources.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in resources {
        let mut v = json!({
            "name": r.kind.plural,
            "singularName": r.singular,
            "namespaced": r.kind.namespaced,
            "kind": r.kind.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        list.push(v);
        for (name, verbs) in r.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", r.kind.plural, name),
                "singularName": "",
                "namespaced": r.kind.namespaced,
                "kind": if *name == "log" { "Pod" } else { r.kind.kind },
                "verbs": verbs,
            });
            if *name == "token" {
                sub["group"] = json!("authentication.k8s.io");
                sub["version"] = json!("v1");
                sub["kind"] = json!("TokenRequest");
            }
            list.push(sub);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_groups_and_resources() {
        let apis = aggregated(false, "v2");
        let names: Vec<&str> = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "batch",
                "coordination.k8s.io",
                "storage.k8s.io",
                "node.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io"
            ]
        );
        let core = aggregated(true, "v2");
        assert_eq!(core["items"][0]["metadata"]["name"], "");
        let pods = &core["items"][0]["versions"][0]["resources"][0];
        assert_eq!(pods["resource"], "pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["subresources"][0]["subresource"], "log");
    }

    #[test]
    fn legacy_documents() {
        let v1 = api_resource_list("", "v1").unwrap();
        let names: Vec<&str> = v1["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods/log"));
        assert!(names.contains(&"namespaces"));
        assert!(api_resource_list("apps", "v1").is_none());
        assert_eq!(
            api_group("batch").unwrap()["preferredVersion"]["groupVersion"],
            "batch/v1"
        );
        assert!(wants_aggregated(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ))
        .is_some());
        assert!(wants_aggregated(Some("application/json, */*")).is_none());
    }
}
