//! What a request path and query name: `k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory`
//! for the resources kbatch serves, and the query parameters of each verb.

use std::collections::HashMap;

use kbatch_core::object::{ADMITTED_KINDS, Kind};

use crate::error::{ApiError, Result};

/// The resource a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub kind: Kind,
    /// The namespace in the path (None for cluster-scoped kinds and all-namespace lists).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// A path under `/api/v1` or `/apis/<group>/<version>`, split into its resource parts.
/// `Ok(None)` means the path names a group-version document, not a resource.
pub fn parse_resource_path(path: &str) -> Result<Option<(String, String, Vec<String>)>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Ok(None),
    };
    let mut decoded = Vec::with_capacity(rest.len());
    for p in rest {
        let d = percent_encoding::percent_decode_str(p)
            .decode_utf8()
            .map_err(|_| ApiError::bad_request("the request path is not valid UTF-8"))?;
        decoded.push(d.into_owned());
    }
    Ok(Some((group.to_owned(), version.to_owned(), decoded)))
}

/// Resolves the resource parts of a path (`namespaces/default/jobs/pi/status`).
pub fn resolve(group: &str, version: &str, parts: &[String]) -> Option<ResourceRequest> {
    let find = |plural: &str| {
        ADMITTED_KINDS
            .iter()
            .copied()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    // `namespaces/<ns>/<resource>...` addresses namespaced content; `namespaces`,
    // `namespaces/<name>` and `namespaces/<name>/status` address namespaces themselves.
    let (namespace, rest): (Option<&str>, &[&str]) = match parts.as_slice() {
        ["namespaces", "", ..] => return None,
        ["namespaces", ns, resource, rest @ ..]
            if *resource != "status" && *resource != "finalize" =>
        {
            let mut all = vec![*resource];
            all.extend_from_slice(rest);
            return resolve_in(find, Some(ns), &all);
        }
        rest => (None, rest),
    };
    resolve_in(find, namespace, rest)
}

fn resolve_in(
    find: impl Fn(&str) -> Option<Kind>,
    namespace: Option<&str>,
    parts: &[&str],
) -> Option<ResourceRequest> {
    let (plural, name, sub) = match parts {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return None,
    };
    let kind = find(plural)?;
    // A namespaced object is addressed in its namespace (only whole-collection reads go
    // across namespaces); a cluster-scoped one never is.
    let addressable = match (kind.namespaced, namespace.is_some()) {
        (true, true) | (false, false) => true,
        (true, false) => name.is_none(),
        (false, true) => false,
    };
    if !addressable {
        return None;
    }
    if name == Some("") {
        return None;
    }
    Some(ResourceRequest {
        kind,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        subresource: sub.map(str::to_owned),
    })
}

/// The query of a request, with Kubernetes' parameter parsing.
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Result<Self> {
        let mut map = HashMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| ApiError::bad_request("the query is not valid UTF-8"))
            };
            map.insert(decode(k)?, decode(v)?);
        }
        Ok(Query(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it; absent is false.
    pub fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{key}: invalid boolean value {other:?}"
            ))),
        }
    }

    /// A non-negative integer parameter.
    pub fn number(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{key}: invalid value {v:?}: must be a non-negative integer"
                    ))
                }),
        }
    }

    /// `dryRun`: only `All` is defined.
    pub fn dry_run(&self) -> Result<bool> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kbatch_core::object::{JOB, NAMESPACE, POD};

    fn parts(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = resolve("batch", "v1", &parts("namespaces/default/jobs/pi/status")).unwrap();
        assert_eq!(r.kind, JOB);
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("pi"));
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let all = resolve("batch", "v1", &parts("jobs")).unwrap();
        assert_eq!(all.namespace, None);
        assert_eq!(all.name, None);

        let ns = resolve("", "v1", &parts("namespaces/team-a")).unwrap();
        assert_eq!(ns.kind, NAMESPACE);
        assert_eq!(ns.name.as_deref(), Some("team-a"));
        let ns_status = resolve("", "v1", &parts("namespaces/team-a/status")).unwrap();
        assert_eq!(ns_status.subresource.as_deref(), Some("status"));

        let log = resolve("", "v1", &parts("namespaces/default/pods/p/log")).unwrap();
        assert_eq!(log.kind, POD);
        assert_eq!(log.subresource.as_deref(), Some("log"));
    }

    #[test]
    fn unknown_or_malformed_paths() {
        assert!(resolve("batch", "v1", &parts("deployments")).is_none());
        assert!(resolve("batch", "v2", &parts("jobs")).is_none());
        assert!(resolve("batch", "v1", &parts("jobs/pi")).is_none());
        assert!(resolve("batch", "v1", &parts("namespaces/default/jobs/a/b/c")).is_none());
    }

    #[test]
    fn query_flags_parse_like_go() {
        let q = Query::parse(Some("watch=1&limit=500&labelSelector=a%3Db%2Cc")).unwrap();
        assert!(q.flag("watch").unwrap());
        assert_eq!(q.number("limit").unwrap(), Some(500));
        assert_eq!(q.get("labelSelector"), Some("a=b,c"));
        assert!(
            Query::parse(Some("watch=yes"))
                .unwrap()
                .flag("watch")
                .is_err()
        );
        assert!(
            Query::parse(Some("limit=-1"))
                .unwrap()
                .number("limit")
                .is_err()
        );
    }
}
