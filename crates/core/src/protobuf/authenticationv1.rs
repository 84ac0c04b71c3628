//! authentication.k8s.io/v1: TokenRequest, which `kubectl create token` sends.

use k8s_pb::api::authentication::v1 as pb;

use super::convert::to_json;

to_json! {
    pb::TokenRequest {
        req metadata: "metadata",
        req spec: "spec",
    }
    pb::TokenRequestSpec {
        list audiences: "audiences",
        ptr expiration_seconds: "expirationSeconds",
        ptr bound_object_ref: "boundObjectRef",
    }
    pb::BoundObjectReference {
        omit kind: "kind",
        omit api_version: "apiVersion",
        omit name: "name",
        omit u_id: "uid",
    }
}
