//! The kinds kbatch admits, and the one place that maps apiVersion/kind to a Rust type.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// A kind kbatch serves and admits: its group, version, kind and REST names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// API group; "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural resource name, as in URLs.
    pub plural: &'static str,
    pub namespaced: bool,
}

impl Kind {
    /// `batch/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Job.batch` or `Pod`: how apimachinery names a kind in error messages (`Job.batch "pi" is invalid`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_owned()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

pub const JOB: Kind = Kind {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    namespaced: true,
};
pub const CRONJOB: Kind = Kind {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    namespaced: true,
};
pub const POD: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    namespaced: true,
};
pub const NAMESPACE: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    namespaced: false,
};

pub const EVENT: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    namespaced: true,
};
pub const NODE: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    namespaced: false,
};
pub const LEASE: Kind = Kind {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    namespaced: true,
};

pub const CONFIGMAP: Kind = Kind {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    namespaced: true,
};
pub const SECRET: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    namespaced: true,
};

pub const SERVICEACCOUNT: Kind = Kind {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    namespaced: true,
};
/// Not stored: who the caller is (`kubectl auth whoami`).
pub const SELFSUBJECTREVIEW: Kind = Kind {
    group: "authentication.k8s.io",
    version: "v1",
    kind: "SelfSubjectReview",
    plural: "selfsubjectreviews",
    namespaced: false,
};
/// Not stored: the question and answer of `kubectl auth can-i`.
pub const SELFSUBJECTACCESSREVIEW: Kind = Kind {
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectAccessReview",
    plural: "selfsubjectaccessreviews",
    namespaced: false,
};
/// Not stored: the question and answer of `kubectl auth can-i --list`.
pub const SELFSUBJECTRULESREVIEW: Kind = Kind {
    group: "authorization.k8s.io",
    version: "v1",
    kind: "SelfSubjectRulesReview",
    plural: "selfsubjectrulesreviews",
    namespaced: false,
};
/// Not stored: the body and answer of the `serviceaccounts/token` subresource.
pub const TOKENREQUEST: Kind = Kind {
    group: "authentication.k8s.io",
    version: "v1",
    kind: "TokenRequest",
    plural: "tokenrequests",
    namespaced: true,
};
pub const PERSISTENTVOLUMECLAIM: Kind = Kind {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    namespaced: true,
};
pub const STORAGECLASS: Kind = Kind {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
    namespaced: false,
};
pub const RUNTIME_CLASS: Kind = Kind {
    group: "node.k8s.io",
    version: "v1",
    kind: "RuntimeClass",
    plural: "runtimeclasses",
    namespaced: false,
};

/// Every kind that admission (defaulting + validation) knows.
pub const ADMITTED_KINDS: &[Kind] = &[
    JOB,
    CRONJOB,
    POD,
    NAMESPACE,
    EVENT,
    NODE,
    LEASE,
    CONFIGMAP,
    SECRET,
    SERVICEACCOUNT,
    PERSISTENTVOLUMECLAIM,
    STORAGECLASS,
    RUNTIME_CLASS,
];

/// Finds the kind for an apiVersion and kind pair, exactly (kinds are case-sensitive, as in Kubernetes).
pub fn lookup(api_version: &str, kind: &str) -> Option<Kind> {
    ADMITTED_KINDS
        .iter()
        .copied()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// One admitted object of a known kind. Not boxed: an object is moved a handful of times per
/// request, and callers match on it everywhere.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Job(Job),
    CronJob(CronJob),
    Pod(Pod),
    Namespace(Namespace),
    Event(Event),
    Node(Node),
    Lease(Lease),
    ConfigMap(ConfigMap),
    Secret(Secret),
    ServiceAccount(ServiceAccount),
    PersistentVolumeClaim(PersistentVolumeClaim),
    StorageClass(StorageClass),
    RuntimeClass(RuntimeClass),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Job(_) => JOB,
            Object::CronJob(_) => CRONJOB,
            Object::Pod(_) => POD,
            Object::Namespace(_) => NAMESPACE,
            Object::Event(_) => EVENT,
            Object::Node(_) => NODE,
            Object::Lease(_) => LEASE,
            Object::ConfigMap(_) => CONFIGMAP,
            Object::Secret(_) => SECRET,
            Object::ServiceAccount(_) => SERVICEACCOUNT,
            Object::PersistentVolumeClaim(_) => PERSISTENTVOLUMECLAIM,
            Object::StorageClass(_) => STORAGECLASS,
            Object::RuntimeClass(_) => RUNTIME_CLASS,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::Event(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Lease(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
            Object::RuntimeClass(o) => &o.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Job(o) => &mut o.metadata,
            Object::CronJob(o) => &mut o.metadata,
            Object::Pod(o) => &mut o.metadata,
            Object::Namespace(o) => &mut o.metadata,
            Object::Event(o) => &mut o.metadata,
            Object::Node(o) => &mut o.metadata,
            Object::Lease(o) => &mut o.metadata,
            Object::ConfigMap(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::ServiceAccount(o) => &mut o.metadata,
            Object::PersistentVolumeClaim(o) => &mut o.metadata,
            Object::StorageClass(o) => &mut o.metadata,
            Object::RuntimeClass(o) => &mut o.metadata,
        }
    }

    /// A copy without `metadata.managedFields`, which are not copied at all (for the kinds
    /// written per pod) rather than copied and dropped: they are half of a decoded object.
    pub fn clone_without_managed_fields(&self) -> Object {
        match self {
            Object::Pod(o) => Object::Pod(Pod {
                metadata: meta_without_managed_fields(&o.metadata),
                spec: o.spec.clone(),
                status: o.status.clone(),
            }),
            Object::Job(o) => Object::Job(Job {
                metadata: meta_without_managed_fields(&o.metadata),
                spec: o.spec.clone(),
                status: o.status.clone(),
            }),
            Object::CronJob(o) => Object::CronJob(CronJob {
                metadata: meta_without_managed_fields(&o.metadata),
                spec: o.spec.clone(),
                status: o.status.clone(),
            }),
            other => {
                let mut copy = other.clone();
                copy.metadata_mut().managed_fields = None;
                copy
            }
        }
    }

    /// `metadata.name`, or "" when unset.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// Reads an object of `kind` from JSON written by [`Object::to_json`] (stored objects):
    /// no strict checks, unknown fields ignored.
    pub fn from_json_slice(kind: &Kind, bytes: &[u8]) -> Result<Object, serde_json::Error> {
        Ok(match kind.kind {
            "Job" => Object::Job(serde_json::from_slice(bytes)?),
            "CronJob" => Object::CronJob(serde_json::from_slice(bytes)?),
            "Pod" => Object::Pod(serde_json::from_slice(bytes)?),
            "Event" => Object::Event(serde_json::from_slice(bytes)?),
            "Node" => Object::Node(serde_json::from_slice(bytes)?),
            "Lease" => Object::Lease(serde_json::from_slice(bytes)?),
            "ConfigMap" => Object::ConfigMap(serde_json::from_slice(bytes)?),
            "Secret" => Object::Secret(serde_json::from_slice(bytes)?),
            "ServiceAccount" => Object::ServiceAccount(serde_json::from_slice(bytes)?),
            "PersistentVolumeClaim" => {
                Object::PersistentVolumeClaim(serde_json::from_slice(bytes)?)
            }
            "StorageClass" => Object::StorageClass(serde_json::from_slice(bytes)?),
            "RuntimeClass" => Object::RuntimeClass(serde_json::from_slice(bytes)?),
            _ => Object::Namespace(serde_json::from_slice(bytes)?),
        })
    }

    /// Like [`Object::from_json_slice`], from a JSON value.
    pub fn from_value(kind: &Kind, value: serde_json::Value) -> Result<Object, serde_json::Error> {
        Ok(match kind.kind {
            "Job" => Object::Job(serde_json::from_value(value)?),
            "CronJob" => Object::CronJob(serde_json::from_value(value)?),
            "Pod" => Object::Pod(serde_json::from_value(value)?),
            "Event" => Object::Event(serde_json::from_value(value)?),
            "Node" => Object::Node(serde_json::from_value(value)?),
            "Lease" => Object::Lease(serde_json::from_value(value)?),
            "ConfigMap" => Object::ConfigMap(serde_json::from_value(value)?),
            "Secret" => Object::Secret(serde_json::from_value(value)?),
            "ServiceAccount" => Object::ServiceAccount(serde_json::from_value(value)?),
            "PersistentVolumeClaim" => {
                Object::PersistentVolumeClaim(serde_json::from_value(value)?)
            }
            "StorageClass" => Object::StorageClass(serde_json::from_value(value)?),
            "RuntimeClass" => Object::RuntimeClass(serde_json::from_value(value)?),
            _ => Object::Namespace(serde_json::from_value(value)?),
        })
    }

    /// The object's JSON bytes, serialised straight from the typed object: the same bytes as
    /// `serde_json::to_vec(&self.to_json())` without building the intermediate value.
    pub fn to_json_vec(&self) -> Vec<u8> {
        fn ser<T: Serialize>(o: &T) -> Vec<u8> {
            serde_json::to_vec(o).unwrap_or_default()
        }
        match self {
            Object::Job(o) => ser(o),
            Object::CronJob(o) => ser(o),
            Object::Pod(o) => ser(o),
            Object::Namespace(o) => ser(o),
            Object::Event(o) => ser(o),
            Object::Node(o) => ser(o),
            Object::Lease(o) => ser(o),
            Object::ConfigMap(o) => ser(o),
            Object::Secret(o) => ser(o),
            Object::ServiceAccount(o) => ser(o),
            Object::PersistentVolumeClaim(o) => ser(o),
            Object::StorageClass(o) => ser(o),
            Object::RuntimeClass(o) => ser(o),
        }
    }

    /// The object as JSON, with `apiVersion` and `kind` first, as the apiserver writes it.
    pub fn to_json(&self) -> serde_json::Value {
        fn ser<T: Serialize>(o: &T) -> serde_json::Value {
            // k8s-openapi's Serialize impls write apiVersion and kind themselves and cannot fail
            // for these plain data types.
            serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
        }
        match self {
            Object::Job(o) => ser(o),
            Object::CronJob(o) => ser(o),
            Object::Pod(o) => ser(o),
            Object::Namespace(o) => ser(o),
            Object::Event(o) => ser(o),
            Object::Node(o) => ser(o),
            Object::Lease(o) => ser(o),
            Object::ConfigMap(o) => ser(o),
            Object::Secret(o) => ser(o),
            Object::ServiceAccount(o) => ser(o),
            Object::PersistentVolumeClaim(o) => ser(o),
            Object::StorageClass(o) => ser(o),
            Object::RuntimeClass(o) => ser(o),
        }
    }
}

/// `meta` without its managedFields (see [`Object::clone_without_managed_fields`]).
fn meta_without_managed_fields(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        annotations: meta.annotations.clone(),
        creation_timestamp: meta.creation_timestamp.clone(),
        deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
        deletion_timestamp: meta.deletion_timestamp.clone(),
        finalizers: meta.finalizers.clone(),
        generate_name: meta.generate_name.clone(),
        generation: meta.generation,
        labels: meta.labels.clone(),
        managed_fields: None,
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        owner_references: meta.owner_references.clone(),
        resource_version: meta.resource_version.clone(),
        self_link: meta.self_link.clone(),
        uid: meta.uid.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything but managedFields is copied, for the kinds copied field by field and for
    /// the others.
    #[test]
    fn a_copy_without_managed_fields_keeps_the_rest() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        let meta = ObjectMeta {
            name: Some("p".into()),
            namespace: Some("ns".into()),
            uid: Some("u".into()),
            labels: Some([("a".to_owned(), "b".to_owned())].into()),
            annotations: Some([("c".to_owned(), "d".to_owned())].into()),
            finalizers: Some(vec!["f".into()]),
            generate_name: Some("g-".into()),
            generation: Some(3),
            resource_version: Some("7".into()),
            deletion_grace_period_seconds: Some(30),
            managed_fields: Some(vec![ManagedFieldsEntry {
                manager: Some("m".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let objects = [
            Object::Pod(Pod {
                metadata: meta.clone(),
                spec: Some(Default::default()),
                status: Some(Default::default()),
            }),
            Object::Job(Job {
                metadata: meta.clone(),
                spec: Some(Default::default()),
                status: None,
            }),
            Object::CronJob(CronJob {
                metadata: meta.clone(),
                ..Default::default()
            }),
            Object::ConfigMap(ConfigMap {
                metadata: meta.clone(),
                data: Some([("k".to_owned(), "v".to_owned())].into()),
                ..Default::default()
            }),
        ];
        for obj in objects {
            let copy = obj.clone_without_managed_fields();
            let mut expected = obj.clone();
            expected.metadata_mut().managed_fields = None;
            assert_eq!(copy, expected);
            assert!(obj.metadata().managed_fields.is_some());
        }
    }

    /// Stored bytes and responses use `to_json_vec`; it must be the bytes of `to_json`.
    #[test]
    fn json_bytes_match_the_json_value() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "labels": {"b": "1", "a": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        }))
        .unwrap();
        let obj = Object::Job(job);
        assert_eq!(
            obj.to_json_vec(),
            serde_json::to_vec(&obj.to_json()).unwrap()
        );
    }
}
