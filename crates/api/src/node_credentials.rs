//! How an agent on another machine joins (`kbatch token create`, then `kbatch agent --token
//! … --ca-cert-hash …`), the way k3s and kubeadm join nodes:
//!
//! 1. `GET /kbatch/v1/cacerts` (no credentials, as k3s's `/cacerts`) gives the cluster's CA;
//!    the agent trusts it only if its SHA-256 is the `--ca-cert-hash` it was given.
//! 2. `POST /kbatch/v1/node-credentials` `{"nodeName": N}` with a bootstrap token gives the
//!    node its own credential: a token of this server's issuer naming `system:node:N` (group
//!    `system:nodes`), bound to the Secret `kube-system/node-credential-N`. Deleting that
//!    Secret revokes it; asking again replaces it (and revokes the old one). Kubernetes gets a
//!    client certificate through a CertificateSigningRequest instead; the node's identity and
//!    what the Node authorizer lets it do ([`crate::authz`]) are the same.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::object::{Object, SECRET};
use kbatch_core::status;
use kbatch_core::validation::names::is_dns1123_subdomain;

use crate::authn::User;
use crate::error::{ApiError, Result};
use crate::registry::{DeleteOptions, Registry, WriteOptions};
use crate::serviceaccount::NODE_CREDENTIAL_NAMESPACE;
use crate::serviceaccount::jwt::{NodeBinding, NodeClaims, Ref};

/// The type of a node credential's Secret.
pub const NODE_CREDENTIAL_SECRET_TYPE: &str = "kbatch.dev/node-credential";
/// How long a node credential lasts (k3s's node certificates last a year too).
const LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// The name of node `node`'s credential Secret.
pub fn secret_name(node: &str) -> String {
    format!("node-credential-{node}")
}

impl Registry {
    /// A new credential for node `node`, for a bootstrap token's user or the admin.
    pub async fn issue_node_credential(&self, user: &User, node: &str) -> Result<String> {
        if !user.is_bootstrapper() && user.groups.iter().all(|g| g != "system:masters") {
            return Err(status::forbidden_request(
                &SECRET,
                None,
                Some(&secret_name(node)),
                format!(
                    "User {:?} cannot obtain a node credential: only a bootstrap token (kbatch token create) can",
                    user.name
                ),
            )
            .into());
        }
        let problems = is_dns1123_subdomain(node);
        if !problems.is_empty() {
            return Err(ApiError::bad_request(format!(
                "invalid node name {node:?}: {}",
                problems.join("; ")
            )));
        }
        let issuer = self.token_issuer().ok_or_else(|| {
            ApiError::from(status::service_unavailable(
                "this server issues no credentials (it serves without them)",
            ))
        })?;
        let name = secret_name(node);
        // A new Secret (new uid) for every credential, so the previous one stops working.
        match self
            .delete(
                &SECRET,
                NODE_CREDENTIAL_NAMESPACE,
                &name,
                &DeleteOptions::default(),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(NODE_CREDENTIAL_NAMESPACE.to_owned()),
                ..Default::default()
            },
            type_: Some(NODE_CREDENTIAL_SECRET_TYPE.to_owned()),
            data: Some(BTreeMap::from([(
                "node-name".to_owned(),
                ByteString(node.as_bytes().to_vec()),
            )])),
            ..Default::default()
        };
        let opts = WriteOptions {
            field_manager: Some("kbatch-node-credentials".to_owned()),
            ..Default::default()
        };
        let written = self
            .create(
                &SECRET,
                NODE_CREDENTIAL_NAMESPACE,
                Object::Secret(secret),
                &opts,
                Vec::new(),
            )
            .await?;
        let uid = written.object.metadata().uid.clone().unwrap_or_default();
        let now = self.clock().now().as_second();
        let claims = NodeClaims {
            iss: issuer.signer().issuer().to_owned(),
            sub: User::node(node).name,
            aud: issuer.audiences().to_vec(),
            exp: now + LIFETIME_SECONDS,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            node: NodeBinding {
                name: node.to_owned(),
                secret: Ref { name, uid },
            },
        };
        issuer
            .signer()
            .sign(&claims)
            .map_err(|e| ApiError::internal(e.to_string()))
    }
}
