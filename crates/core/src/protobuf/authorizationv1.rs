//! authorization.k8s.io/v1: the self reviews `kubectl auth can-i` sends (the question only;
//! the status is the server's answer).

use k8s_pb::api::authorization::v1 as pb;

use super::convert::to_json;

to_json! {
    pb::SelfSubjectAccessReview {
        req metadata: "metadata",
        req spec: "spec",
    }
    pb::SelfSubjectAccessReviewSpec {
        ptr resource_attributes: "resourceAttributes",
        ptr non_resource_attributes: "nonResourceAttributes",
    }
    pb::ResourceAttributes {
        omit namespace: "namespace",
        omit verb: "verb",
        omit group: "group",
        omit version: "version",
        omit resource: "resource",
        omit subresource: "subresource",
        omit name: "name",
    }
    pb::NonResourceAttributes {
        omit path: "path",
        omit verb: "verb",
    }
    pb::SelfSubjectRulesReview {
        req metadata: "metadata",
        req spec: "spec",
    }
    pb::SelfSubjectRulesReviewSpec {
        omit namespace: "namespace",
    }
}
