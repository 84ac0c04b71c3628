//! The OpenAPI v3 documents of the served group-versions (`GET /openapi/v3` and
//! `GET /openapi/v3/apis/batch/v1`, ...), generated from k8s-openapi's `schemars` schemas.
//!
//! kubectl reads them for three things:
//! - server-side field validation: it sends `?fieldValidation=Strict` only when the kind's PATCH
//!   operation lists a `fieldValidation` query parameter (cli-runtime's
//!   `queryParamVerifierV3`), and otherwise falls back to OpenAPI v2, which kbatch does not serve;
//! - client-side `kubectl apply`: when the kind's PATCH operation accepts
//!   `application/strategic-merge-patch+json`, the three-way patch is computed from
//!   `components.schemas` (`x-kubernetes-patch-merge-key` / `-strategy`; kubectl's
//!   `Patcher.buildStrategicMergePatchFromOpenAPIV3`);
//! - `kubectl explain`: the schema carrying the kind in `x-kubernetes-group-version-kind`, its
//!   `description`, `properties` and `required`.
//!
//! Each document is built once and served as fixed bytes; its SHA-512 goes into the root
//! listing's `serverRelativeURL` (`?hash=`), as kube-openapi's `handler3` does, so that kubectl
//! caches the document.
//!
//! `GET /openapi/v2` serves all of them as one Swagger 2.0 document ([`swagger`]), in JSON or
//! in gnostic's protobuf ([`gnostic`]), for the kubectls (1.27, 1.28) that read v2.

mod gnostic;
mod paths;
mod schemas;
mod swagger;

use std::fmt;
use std::fmt::Write as _;
use std::sync::OnceLock;

use k8s_openapi::ListableResource;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::storage::v1::StorageClass;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use crate::object::{
    CONFIGMAP, CRONJOB, EVENT, JOB, Kind, LEASE, NAMESPACE, NODE, PERSISTENTVOLUMECLAIM, POD,
    RUNTIME_CLASS, SECRET, SERVICEACCOUNT, STORAGECLASS,
};

/// The OpenAPI v3 root listing and one document per served group-version.
pub struct OpenApi {
    documents: Vec<Document>,
    /// Built on the first `GET /openapi/v2`: only the older kubectls ask for it.
    v2: OnceLock<V2>,
}

/// The OpenAPI v2 document in both the forms it is served in.
#[derive(Clone, PartialEq, Eq)]
pub struct V2 {
    pub json: Vec<u8>,
    pub protobuf: Vec<u8>,
    /// Upper-case hex SHA-512 of `json`, the document's ETag.
    pub hash: String,
}

struct Document {
    /// `apis/batch/v1`, `api/v1`: the group-version's path below `/openapi/v3/`.
    path: String,
    bytes: Vec<u8>,
    /// Upper-case hex SHA-512 of `bytes` (kube-openapi's `computeETag`).
    hash: String,
}

impl OpenApi {
    /// Generates every served group-version's document.
    pub fn build() -> OpenApi {
        let documents = GROUP_VERSIONS
            .iter()
            .map(|gv| {
                let bytes = serde_json::to_vec(&document(gv))
                    .expect("a serde_json::Value always serializes");
                let hash = sha512_hex(&bytes);
                Document {
                    path: gv.path(),
                    bytes,
                    hash,
                }
            })
            .collect();
        OpenApi {
            documents,
            v2: OnceLock::new(),
        }
    }

    /// The OpenAPI v2 document of every served group-version.
    pub fn v2(&self) -> &V2 {
        self.v2.get_or_init(|| {
            let v3: Vec<Value> = self
                .documents
                .iter()
                .map(|d| {
                    serde_json::from_slice(&d.bytes).expect("the document was serialized here")
                })
                .collect();
            let doc = swagger::document(&v3);
            let json = serde_json::to_vec(&doc).expect("a serde_json::Value always serializes");
            V2 {
                protobuf: gnostic::encode(&doc),
                hash: sha512_hex(&json),
                json,
            }
        })
    }

    /// The `GET /openapi/v3` listing:
    /// `{"paths":{"apis/batch/v1":{"serverRelativeURL":"/openapi/v3/apis/batch/v1?hash=..."}}}`.
    pub fn root(&self) -> Value {
        let paths: Map<String, Value> = self
            .documents
            .iter()
            .map(|d| {
                let url = format!("/openapi/v3/{}?hash={}", d.path, d.hash);
                (d.path.clone(), json!({ "serverRelativeURL": url }))
            })
            .collect();
        json!({ "paths": paths })
    }

    /// The serialized JSON document of a group-version, by its path below `/openapi/v3/`
    /// (`apis/batch/v1`, `api/v1`, `apis/coordination.k8s.io/v1`).
    pub fn document(&self, gv_path: &str) -> Option<&[u8]> {
        self.find(gv_path).map(|d| d.bytes.as_slice())
    }

    /// The hash that [`OpenApi::root`] puts into the group-version's `serverRelativeURL`.
    pub fn hash(&self, gv_path: &str) -> Option<&str> {
        self.find(gv_path).map(|d| d.hash.as_str())
    }

    fn find(&self, gv_path: &str) -> Option<&Document> {
        self.documents.iter().find(|d| d.path == gv_path)
    }
}

impl fmt::Debug for OpenApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for d in &self.documents {
            list.entry(&format_args!(
                "{} ({} bytes, hash {})",
                d.path,
                d.bytes.len(),
                d.hash
            ));
        }
        list.finish()
    }
}

impl fmt::Debug for V2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V2")
            .field("json", &format_args!("{} bytes", self.json.len()))
            .field("protobuf", &format_args!("{} bytes", self.protobuf.len()))
            .field("hash", &self.hash)
            .finish()
    }
}

/// Upper-case hex SHA-512 (kube-openapi's `computeETag`).
fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes)
        .iter()
        .fold(String::with_capacity(128), |mut hex, byte| {
            write!(hex, "{byte:02X}").expect("writing to a String cannot fail");
            hex
        })
}

/// A group-version and the resources kbatch serves in it.
struct GroupVersion {
    group: &'static str,
    version: &'static str,
    resources: &'static [Served],
}

impl GroupVersion {
    /// `api/v1` for the core group, `apis/<group>/<version>` otherwise.
    fn path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }
}

/// A served resource: its kind, its subresources and the k8s-openapi type behind both.
struct Served {
    kind: Kind,
    subresources: &'static [Subresource],
    /// Adds the kind's and its list's schemas to a generator.
    register: fn(&mut SchemaGenerator) -> SchemaNames,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subresource {
    /// `<resource>/status`: get, put and patch of the whole object.
    Status,
    /// `pods/log`: the container log as text.
    Log,
}

/// The `components.schemas` names of a kind and of its list.
struct SchemaNames {
    item: String,
    list: String,
}

const fn served<T: JsonSchema + ListableResource>(
    kind: Kind,
    subresources: &'static [Subresource],
) -> Served {
    Served {
        kind,
        subresources,
        register: schemas::register::<T>,
    }
}

/// Ordered by path, as kube-openapi's root listing (a marshalled Go map) is.
const GROUP_VERSIONS: &[GroupVersion] = &[
    GroupVersion {
        group: "",
        version: "v1",
        resources: &[
            served::<Pod>(POD, &[Subresource::Status, Subresource::Log]),
            served::<Event>(EVENT, &[]),
            served::<Namespace>(NAMESPACE, &[Subresource::Status]),
            served::<Node>(NODE, &[Subresource::Status]),
            served::<ConfigMap>(CONFIGMAP, &[]),
            served::<Secret>(SECRET, &[]),
            served::<ServiceAccount>(SERVICEACCOUNT, &[]),
            served::<PersistentVolumeClaim>(PERSISTENTVOLUMECLAIM, &[Subresource::Status]),
        ],
    },
    GroupVersion {
        group: "batch",
        version: "v1",
        resources: &[
            served::<Job>(JOB, &[Subresource::Status]),
            served::<CronJob>(CRONJOB, &[Subresource::Status]),
        ],
    },
    GroupVersion {
        group: "coordination.k8s.io",
        version: "v1",
        resources: &[served::<Lease>(LEASE, &[])],
    },
    GroupVersion {
        group: "storage.k8s.io",
        version: "v1",
        resources: &[served::<StorageClass>(STORAGECLASS, &[])],
    },
    GroupVersion {
        group: "node.k8s.io",
        version: "v1",
        resources: &[served::<RuntimeClass>(RUNTIME_CLASS, &[])],
    },
];

/// One group-version's document, keys sorted at every level as Go's JSON encoding of
/// kube-openapi's maps sorts them.
fn document(gv: &GroupVersion) -> Value {
    let mut generator = schemas::generator();
    let names: Vec<SchemaNames> = gv
        .resources
        .iter()
        .map(|served| (served.register)(&mut generator))
        .collect();
    let components = schemas::components(generator, gv, &names);
    let paths = paths::paths(gv, &names);
    let mut doc = json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": "unversioned" },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "name": "authorization",
                    "in": "header",
                    "description": "Bearer Token authentication",
                },
            },
        },
    });
    sort_keys(&mut doc);
    doc
}

fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
