//! What a caller may do (`k8s.io/apiserver/pkg/authorization`). kbatch has no RBAC: the admin
//! and service accounts may do anything (kube-apiserver's `AlwaysAllow`); a bootstrap token
//! may only exchange itself for a node credential; a node may do what a kubelet needs and
//! no more — kube-apiserver's Node authorizer and NodeRestriction admission, in spirit: read
//! pods, nodes and the classes; read the ConfigMaps, Secrets and claims its own pods use; write
//! its own Node and Lease, the status of its own pods and their final deletion, and events.

use k8s_openapi::api::core::v1::Pod;
use kbatch_core::object::{
    CONFIGMAP, EVENT, Kind, LEASE, NODE, Object, PERSISTENTVOLUMECLAIM, POD, RUNTIME_CLASS, SECRET,
    STORAGECLASS,
};
use kbatch_core::selector::FieldSelector;
use kbatch_core::status;

use crate::authn::User;
use crate::error::{ApiError, Result};
use crate::registry::{ListParams, Registry};

/// The namespace of nodes' Leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a request does (`authorizer.AttributesRecord`, for resource requests).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'a str,
    pub kind: &'a Kind,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

impl Registry {
    /// Allows the request or says why not (403 with kube-apiserver's message).
    pub async fn authorize(&self, user: &User, attrs: &Attributes<'_>) -> Result<()> {
        match self.decide(user, attrs).await? {
            None => Ok(()),
            Some(why) => Err(forbidden(user, attrs, Some(why))),
        }
    }

    /// Whether `user` may do anything (the admin and service accounts: kube-apiserver's
    /// `AlwaysAllow`), and so also what no served kind covers (non-resource URLs, kinds
    /// kbatch does not serve).
    pub fn unrestricted(user: &User) -> bool {
        !user.is_bootstrapper() && user.node_name().is_none()
    }

    /// The authorizers' decision: `None` when `user` may, else why not (empty when no
    /// authorizer gives a reason).
    pub async fn decide(&self, user: &User, attrs: &Attributes<'_>) -> Result<Option<String>> {
        if user.is_bootstrapper() {
            return Ok(Some(String::new()));
        }
        match user.node_name() {
            None => Ok(None),
            Some(node) => self.node_may(node, attrs).await,
        }
    }

    /// `NodeAuthorizer.Authorize` and NodeRestriction, as far as kbatch's agent goes: `None`
    /// when `node` may, else why not.
    async fn node_may(&self, node: &str, attrs: &Attributes<'_>) -> Result<Option<String>> {
        let read = matches!(attrs.verb, "get" | "list" | "watch");
        let kind = attrs.kind;
        let own_name = attrs.name == Some(node);
        let no_relationship = || {
            Some(format!(
                "no relationship found between node '{node}' and this object"
            ))
        };
        let allowed = if *kind == POD {
            match (attrs.verb, attrs.subresource) {
                // Not `log`: system:node may not read logs, so a node cannot read another
                // node's pods' logs through the API either.
                ("get" | "list" | "watch", None) => true,
                // Status writes and the final deletion of the node's own pods only.
                ("update" | "patch", Some("status")) | ("delete", None) => {
                    return Ok(match self.pod_of(attrs).await? {
                        Some(pod) if pod_node(&pod) == Some(node) => None,
                        _ => no_relationship(),
                    });
                }
                _ => false,
            }
        } else if *kind == NODE {
            // A create names its object in the body: [`Registry::node_restriction`].
            read || attrs.verb == "create" || (matches!(attrs.verb, "update" | "patch") && own_name)
        } else if *kind == LEASE {
            attrs.namespace == Some(NODE_LEASE_NAMESPACE)
                && (attrs.verb == "create"
                    || (own_name && matches!(attrs.verb, "get" | "update" | "patch")))
        } else if *kind == EVENT {
            matches!(attrs.verb, "create" | "update" | "patch")
        } else if *kind == RUNTIME_CLASS || *kind == STORAGECLASS || *kind == PERSISTENTVOLUMECLAIM
        {
            // Claims too, unlike upstream: the agent lists them to remove the directories of
            // deleted claims from its disk, and a claim holds no secret.
            read
        } else if *kind == CONFIGMAP || *kind == SECRET {
            if attrs.verb != "get" {
                false
            } else {
                return Ok(if self.used_by_pod_on(node, kind, attrs).await? {
                    None
                } else {
                    no_relationship()
                });
            }
        } else {
            // ServiceAccount tokens are requested through `serviceaccounts/token`, which
            // `http/token.rs` checks against the pod they are bound to.
            kind.kind == "ServiceAccount"
                && attrs.subresource == Some("token")
                && attrs.verb == "create"
        };
        Ok(if allowed { None } else { Some(String::new()) })
    }

    async fn pod_of(&self, attrs: &Attributes<'_>) -> Result<Option<Pod>> {
        let (Some(ns), Some(name)) = (attrs.namespace, attrs.name) else {
            return Ok(None);
        };
        match self.get(&POD, ns, name).await {
            Ok(Object::Pod(pod)) => Ok(Some(pod)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a pod bound to `node` in the object's namespace refers to it: the Node
    /// authorizer's graph (`node_graph.rs`) when it knows, else a list of the node's pods in
    /// the namespace.
    async fn used_by_pod_on(
        &self,
        node: &str,
        kind: &Kind,
        attrs: &Attributes<'_>,
    ) -> Result<bool> {
        let (Some(ns), Some(name)) = (attrs.namespace, attrs.name) else {
            return Ok(false);
        };
        if self
            .node_graph()
            .uses(self, kind.plural, ns, name, node)
            .is_some()
        {
            return Ok(true);
        }
        let params = ListParams {
            field_selector: Some(FieldSelector::equal("spec.nodeName", node)),
            ..Default::default()
        };
        let pods = self.list(&POD, Some(ns), &params).await?;
        Ok(pods.items.iter().any(|o| match o {
            Object::Pod(pod) => pod_refers_to(pod, kind, name),
            _ => false,
        }))
    }

    /// NodeRestriction for creates, whose object's name is in the body: a node may create its
    /// own Node and Lease only.
    pub fn node_restriction(&self, user: &User, kind: &Kind, object: &Object) -> Result<()> {
        let Some(node) = user.node_name() else {
            return Ok(());
        };
        if (*kind == NODE || *kind == LEASE) && object.name() != node {
            let attrs = Attributes {
                verb: "create",
                kind,
                subresource: None,
                namespace: object.metadata().namespace.as_deref(),
                name: Some(object.name()),
            };
            return Err(forbidden(
                user,
                &attrs,
                Some(format!(
                    "node '{node}' may only create its own {}",
                    kind.kind
                )),
            ));
        }
        Ok(())
    }

    /// NodeRestriction for TokenRequests: a node may only ask for tokens bound to a pod it
    /// runs, of that pod's service account.
    pub async fn node_may_request_token(
        &self,
        user: &User,
        namespace: &str,
        account: &str,
        bound_pod: Option<&str>,
    ) -> Result<()> {
        let Some(node) = user.node_name() else {
            return Ok(());
        };
        let refuse = |why: &str| -> ApiError {
            status::forbidden_request(
                &kbatch_core::object::SERVICEACCOUNT,
                Some("token"),
                Some(account),
                format!(
                    "User {:?} cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace {namespace:?}: {why}",
                    user.name
                ),
            )
            .into()
        };
        let Some(pod_name) = bound_pod else {
            return Err(refuse("a node may only request tokens bound to its pods"));
        };
        let pod = match self.get(&POD, namespace, pod_name).await {
            Ok(Object::Pod(pod)) => pod,
            _ => {
                return Err(refuse(&format!(
                    "no relationship found between node '{node}' and this object"
                )));
            }
        };
        let runs_as = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.as_deref());
        if pod_node(&pod) != Some(node) || runs_as != Some(account) {
            return Err(refuse(&format!(
                "no relationship found between node '{node}' and this object"
            )));
        }
        Ok(())
    }
}

fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// Whether `pod` names the ConfigMap, Secret or claim `name` (env, envFrom, volumes,
/// projected sources, image pull secrets).
fn pod_refers_to(pod: &Pod, kind: &Kind, name: &str) -> bool {
    references(pod)
        .iter()
        .any(|(plural, n)| *plural == kind.plural && *n == name)
}

/// The ConfigMaps, Secrets and claims `pod` names, as (kind's plural, name).
pub(crate) fn references(pod: &Pod) -> Vec<(&'static str, &str)> {
    let mut found: Vec<(&'static str, &str)> = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return found;
    };
    let (config_map, secret, claim) = (
        CONFIGMAP.plural,
        SECRET.plural,
        PERSISTENTVOLUMECLAIM.plural,
    );
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                found.push((config_map, &r.name));
            }
            if let Some(r) = &from.secret_ref {
                found.push((secret, &r.name));
            }
        }
        for var in c.env.iter().flatten() {
            if let Some(source) = &var.value_from {
                if let Some(r) = &source.config_map_key_ref {
                    found.push((config_map, &r.name));
                }
                if let Some(r) = &source.secret_key_ref {
                    found.push((secret, &r.name));
                }
            }
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        found.push((secret, &s.name));
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            found.push((config_map, &cm.name));
        }
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) {
            found.push((secret, name));
        }
        if let Some(c) = &v.persistent_volume_claim {
            found.push((claim, &c.claim_name));
        }
        let projected = v.projected.as_ref().and_then(|p| p.sources.as_ref());
        for source in projected.into_iter().flatten() {
            if let Some(cm) = &source.config_map {
                found.push((config_map, &cm.name));
            }
            if let Some(s) = &source.secret {
                found.push((secret, &s.name));
            }
        }
    }
    found
}

/// RBAC's wording: `User "system:node:n1" cannot delete resource "jobs" in API group "batch"
/// in the namespace "default"`, with the Node authorizer's reason after it when there is one.
fn forbidden(user: &User, attrs: &Attributes<'_>, why: Option<String>) -> ApiError {
    let resource = match attrs.subresource {
        Some(sub) => format!("{}/{sub}", attrs.kind.plural),
        None => attrs.kind.plural.to_owned(),
    };
    let scope = match attrs.namespace {
        Some(ns) => format!("in the namespace {ns:?}"),
        None => "at the cluster scope".to_owned(),
    };
    let mut reason = format!(
        "User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
        user.name, attrs.verb, attrs.kind.group
    );
    if let Some(why) = why.filter(|w| !w.is_empty()) {
        reason = format!("{reason}: {why}");
    }
    status::forbidden_request(attrs.kind, attrs.subresource, attrs.name, reason).into()
}
