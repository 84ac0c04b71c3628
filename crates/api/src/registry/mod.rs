//! The registry: Kubernetes' REST semantics over the store, in process and typed — what
//! `k8s.io/apiserver/pkg/registry/generic/registry.Store` and the per-kind strategies do.
//! The HTTP layer is a thin surface over it, and the controllers and the agent call it
//! directly, so every write goes through the same admission, preconditions and bookkeeping.
//!
//! Objects are stored as JSON under `/registry/<resource>/<namespace>/<name>` (cluster-scoped:
//! `/registry/<resource>/<name>`) without their resourceVersion, which is the store revision of
//! the write and is filled in on every read.

mod binding;
pub mod correlator;
mod delete;
mod events;
pub mod fields;
mod lister;
mod namespaces;
pub mod plugins;
pub mod runtime_classes;
mod watch;
mod write;

use std::sync::Arc;

use kbatch_core::admission::apply_defaults;
use kbatch_core::object::{Kind, NAMESPACE, Object};
use kbatch_core::selector::{FieldSelector, LabelSelector};
use kbatch_core::status;
use kbatch_store::{KeyValue, ListOptions, Revision, Store};

use crate::clock::Clock;
use crate::error::{ApiError, Result};
use crate::serviceaccount::TokenIssuer;

pub use delete::{DeleteOptions, DeleteOutcome, Preconditions, Propagation};
pub use events::EventSpec;
pub(crate) use lister::{Reflection, reflect};
pub use watch::{
    SharedWatchEvent, SharedWatchStream, WatchEvent, WatchEventType, WatchParams, WatchStream,
};
pub use write::{FieldValidation, PatchType, WriteOptions, Written};

/// Kubernetes' REST semantics over a store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// The event correlators of the components recording through this registry; shared by
    /// its clones. See `correlator.rs`.
    events: Arc<correlator::EventCorrelators>,
    /// Objects decoded for watchers, shared by all of them; see `watch.rs`.
    decoded: watch::DecodeCache,
    /// Issues and checks service account tokens; `None` on a server without credentials.
    tokens: Option<Arc<TokenIssuer>>,
    /// What the DefaultTolerationSeconds plugin gives pods.
    tolerations: plugins::DefaultTolerations,
    /// The Node authorizer's graph; see `node_graph.rs`.
    node_graph: crate::node_graph::NodeGraph,
    /// Watch-fed copies of what admission reads on every create; see `lister.rs`.
    listers: lister::Listers,
}

/// Options of a list: selectors, paging and the resourceVersion to read at.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub label_selector: Option<LabelSelector>,
    pub field_selector: Option<FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// `resourceVersion`: "" or absent = the latest, "0" = any, N = not older than N (or
    /// exactly N with `resource_version_match` Exact).
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// One page of a list, read at one revision.
#[derive(Debug, Clone)]
pub struct ObjectList {
    pub kind: Kind,
    pub items: Vec<Object>,
    pub resource_version: Revision,
    pub continue_token: Option<String>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Registry {
            store,
            clock,
            events: Default::default(),
            decoded: Default::default(),
            tokens: None,
            tolerations: plugins::DefaultTolerations::default(),
            node_graph: Default::default(),
            listers: Default::default(),
        }
    }

    /// This registry, giving pods `tolerations` (kube-apiserver's
    /// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`).
    pub fn with_default_tolerations(mut self, tolerations: plugins::DefaultTolerations) -> Self {
        self.tolerations = tolerations;
        self
    }

    /// This registry, issuing and accepting service account tokens with `issuer`.
    pub fn with_token_issuer(mut self, issuer: Arc<TokenIssuer>) -> Self {
        self.tokens = Some(issuer);
        self
    }

    /// The service account token issuer, when the server has one.
    pub fn token_issuer(&self) -> Option<&Arc<TokenIssuer>> {
        self.tokens.as_ref()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn node_graph(&self) -> &crate::node_graph::NodeGraph {
        &self.node_graph
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The storage key of one object.
    pub fn key(kind: &Kind, namespace: &str, name: &str) -> String {
        if kind.namespaced {
            format!("/registry/{}/{}/{}", kind.plural, namespace, name)
        } else {
            format!("/registry/{}/{}", kind.plural, name)
        }
    }

    /// The key prefix of a collection: one namespace, or every namespace with `None`.
    pub fn prefix(kind: &Kind, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if kind.namespaced => format!("/registry/{}/{}/", kind.plural, ns),
            _ => format!("/registry/{}/", kind.plural),
        }
    }

    /// Reads one object with its resourceVersion.
    pub async fn get(&self, kind: &Kind, namespace: &str, name: &str) -> Result<Object> {
        Ok(self.read(kind, namespace, name).await?.0)
    }

    /// [`Registry::get`] for a reader that only looks: the object as the watchers share it,
    /// not a copy.
    pub(crate) async fn get_shared(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Object>> {
        Ok(self.read_stored(kind, namespace, name).await?.0)
    }

    /// Reads one object of a kind admission reads on every create (namespaces, service
    /// accounts, runtime classes) from its watch-fed copy, or from the store when the copy
    /// does not have it; see `lister.rs`.
    pub(crate) async fn get_cached(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
    ) -> Result<Object> {
        let cached = self
            .listers
            .of(kind)
            .and_then(|l| l.get(self, namespace, name));
        match cached {
            Some(obj) => Ok(Arc::unwrap_or_clone(obj)),
            None => self.get(kind, namespace, name).await,
        }
    }

    /// `kind`'s object was deleted or marked for deletion at `at`: its watch-fed copy no
    /// longer answers for it until the watch shows that.
    fn forget_cached(&self, kind: &Kind, namespace: &str, name: &str, at: Revision) {
        if let Some(lister) = self.listers.of(kind) {
            lister.invalidate(namespace, name, at);
        }
    }

    /// The stored object and the revision it was written at.
    async fn read(&self, kind: &Kind, namespace: &str, name: &str) -> Result<(Object, Revision)> {
        let (obj, revision, _) = self.read_stored(kind, namespace, name).await?;
        Ok((Arc::unwrap_or_clone(obj), revision))
    }

    /// [`Registry::read`], with the bytes stored, and the object as the watchers share it:
    /// a write reads the version it replaces without copying it, and copies only what it
    /// changes.
    async fn read_stored(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
    ) -> Result<(Arc<Object>, Revision, Vec<u8>)> {
        check_name(kind, name)?;
        let kv = self
            .store
            .get(&Self::key(kind, namespace, name))
            .await
            .map_err(|e| ApiError::from_store(e, kind, name))?;
        let obj = match self.decoded.get(kind, &kv) {
            Some(shared) => shared,
            // Not decodable: the error, as the decode gives it.
            None => Arc::new(decode_stored(kind, &kv)?),
        };
        Ok((obj, kv.mod_revision, kv.value))
    }

    /// Lists a collection (`namespace` None: every namespace), filtered by the selectors.
    /// With a limit, pages hold up to `limit` matching items and a continue token, as
    /// Kubernetes' storage fills a page through its predicate.
    pub async fn list(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList> {
        if let Some(fs) = &params.field_selector {
            fields::check_supported(kind, fs)?;
        }
        let prefix = Self::prefix(kind, namespace);
        let mut revision = self.list_revision(params).await?;
        let mut continue_token = params.continue_token.clone().filter(|t| !t.is_empty());
        if continue_token.is_some() {
            revision = None;
        }
        let mut items = Vec::new();
        loop {
            let page = self
                .store
                .list(
                    &prefix,
                    ListOptions {
                        revision,
                        limit: params.limit,
                        continue_token: continue_token.take(),
                    },
                )
                .await
                .map_err(|e| list_error(e, kind, params))?;
            let page_revision = page.revision;
            let mut last_key = None;
            for kv in &page.items {
                let mut obj = decode_stored(kind, kv)?;
                set_resource_version(&mut obj, kv.mod_revision);
                last_key = Some(kv.key.clone());
                if matches(&obj, params) {
                    items.push(obj);
                    if params.limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            let full = params.limit.is_some_and(|l| items.len() >= l);
            match (full, page.continue_token, last_key) {
                // The page filled up: resume right after the last key looked at, which may
                // be in the middle of the store's page.
                (true, more, Some(last)) => {
                    let is_last_of_page = page.items.last().map(|kv| &kv.key) == Some(&last);
                    let token = if is_last_of_page && more.is_none() {
                        None
                    } else {
                        Some(kbatch_store::continue_after(page_revision, &last))
                    };
                    return Ok(ObjectList {
                        kind: *kind,
                        items,
                        resource_version: page_revision,
                        continue_token: token,
                    });
                }
                (_, Some(more), _) => {
                    continue_token = Some(more);
                    revision = None;
                }
                _ => {
                    return Ok(ObjectList {
                        kind: *kind,
                        items,
                        resource_version: page_revision,
                        continue_token: None,
                    });
                }
            }
        }
    }

    /// The revision a list reads at: `None` for the latest. `resourceVersionMatch=Exact`
    /// reads at the given revision; a not-older-than read of a revision the store has not
    /// reached is a 504 Timeout, as the apiserver answers after waiting for its cache.
    async fn list_revision(&self, params: &ListParams) -> Result<Option<Revision>> {
        let rv = params.resource_version.as_deref().unwrap_or("");
        let matching = params.resource_version_match.as_deref().unwrap_or("");
        if !matching.is_empty() && rv.is_empty() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if rv.is_empty() || rv == "0" {
            return match matching {
                "" | "NotOlderThan" => Ok(None),
                "Exact" if rv == "0" => Err(ApiError::bad_request(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                )),
                other => Err(unsupported_match(other)),
            };
        }
        let revision = parse_resource_version(rv)?;
        match matching {
            "Exact" => Ok(Some(revision)),
            "" | "NotOlderThan" => {
                let current = self
                    .store
                    .current_revision()
                    .await
                    .map_err(|e| ApiError::from_store(e, &NAMESPACE, ""))?;
                if revision > current {
                    Err(status::timeout_resource_version(revision, current).into())
                } else {
                    Ok(None)
                }
            }
            other => Err(unsupported_match(other)),
        }
    }

    /// Makes sure the namespaces every server has exist (the apiserver's
    /// `system-namespaces` controller) and the default StorageClass `local`, and resumes deleting namespaces a stopped server left
    /// terminating.
    pub async fn bootstrap(&self) -> Result<()> {
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            namespaces::ensure(self, name).await?;
        }
        self.ensure_default_storage_class().await?;
        runtime_classes::ensure_defaults(self).await?;
        namespaces::resume_terminating(self).await
    }
}

/// A store error of a list, in the apiserver's list wording (`interpretListError`).
fn list_error(e: kbatch_store::Error, kind: &Kind, params: &ListParams) -> ApiError {
    match e {
        kbatch_store::Error::Compacted { .. }
            if params
                .continue_token
                .as_deref()
                .is_some_and(|t| !t.is_empty()) =>
        {
            status::gone(CONTINUE_EXPIRED).into()
        }
        kbatch_store::Error::Compacted { .. } => {
            status::gone("The resourceVersion for the provided list is too old.").into()
        }
        other => ApiError::from_store(other, kind, ""),
    }
}

/// apimachinery's text for a continue token whose revision was compacted.
const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn unsupported_match(value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "resourceVersionMatch: Unsupported value: {value:?}: supported values: \"Exact\", \"NotOlderThan\""
    ))
}

/// A resourceVersion from a client: a positive decimal revision.
pub fn parse_resource_version(rv: &str) -> Result<Revision> {
    rv.parse::<Revision>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

/// A name that can be part of a key: anything else cannot exist (the apiserver's path
/// segment rules, `rest.ValidatePathSegmentName`).
pub fn check_name(kind: &Kind, name: &str) -> Result<()> {
    let bad = if name == "." || name == ".." {
        Some(format!("may not be '{name}'"))
    } else if name.contains('/') {
        Some("may not contain '/'".to_owned())
    } else if name.contains('%') {
        Some("may not contain '%'".to_owned())
    } else {
        None
    };
    match bad {
        Some(why) => Err(ApiError::bad_request(format!(
            "{} name {name:?} {why}",
            kind.kind
        ))),
        None => Ok(()),
    }
}

/// A stored object as clients see it: defaulted (Kubernetes defaults on every decode) and
/// with its resourceVersion.
pub(crate) fn decode_stored(kind: &Kind, kv: &KeyValue) -> Result<Object> {
    let mut obj = Object::from_json_slice(kind, &kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is unreadable: {e}", kv.key)))?;
    apply_defaults(&mut obj);
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

pub(crate) fn set_resource_version(obj: &mut Object, revision: Revision) {
    obj.metadata_mut().resource_version = Some(revision.to_string());
}

/// The bytes stored for an object: its JSON without resourceVersion.
pub(crate) fn encode_stored(obj: &mut Object) -> Vec<u8> {
    let rv = obj.metadata_mut().resource_version.take();
    let bytes = obj.to_json_vec();
    obj.metadata_mut().resource_version = rv;
    bytes
}

/// Whether an object passes a list's or watch's selectors.
pub fn matches(obj: &Object, params: &ListParams) -> bool {
    selectors_match(
        obj,
        params.label_selector.as_ref(),
        params.field_selector.as_ref(),
    )
}

pub(crate) fn selectors_match(
    obj: &Object,
    labels: Option<&LabelSelector>,
    fields_sel: Option<&FieldSelector>,
) -> bool {
    if let Some(ls) = labels {
        let empty = Default::default();
        if !ls.matches(obj.metadata().labels.as_ref().unwrap_or(&empty)) {
            return false;
        }
    }
    if let Some(fs) = fields_sel
        && !fs.matches(&|f: &str| fields::value(obj, f))
    {
        return false;
    }
    true
}
