//! Service account tokens: the TokenRequest API that issues them
//! (`pkg/registry/core/serviceaccount/storage/token.go`) and the authenticator that accepts
//! them (`pkg/serviceaccount/claims.go`'s validator), so that a pod calls the API as its
//! service account.
//!
//! Tokens are bound: each names its service account and, for a pod's, the pod, by name and
//! uid, and is valid only while both exist (up to a minute after the pod's deletion, as in
//! Kubernetes) and until it expires. The signing key is the server's (`pki/service-account.key`,
//! shared by the servers of one cluster through the bootstrap record).
//!
//! kbatch has no authorizer yet: an authenticated service account may do what the admin may
//! (kube-apiserver's `AlwaysAllow` mode).

pub mod jwt;

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kbatch_core::field::{ErrorList, FieldError, Path};
use kbatch_core::object::{Kind, Object, POD, SECRET, SERVICEACCOUNT, TOKENREQUEST};
use kbatch_core::status;

use crate::authn::User;
use crate::error::{ApiError, Result};
use crate::registry::Registry;

pub use jwt::{Claims, KeyError, NodeClaims, Signer, TokenError, generate_key_pem};

/// Where kubelet mounts a pod's service account token (`DefaultAPITokenMountPath`).
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the projected volume admission adds (`ServiceAccountVolumeName`).
pub const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";
/// The ConfigMap in every namespace that holds the API server's CA (`RootCACertConfigMapName`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// The key of the CA in [`ROOT_CA_CONFIG_MAP`].
pub const ROOT_CA_KEY: &str = "ca.crt";
/// The lifetime of automounted tokens (`WarnOnlyBoundTokenExpirationSeconds`); kubelet's token
/// manager replaces them after 80 % of it.
pub const AUTOMOUNT_EXPIRATION_SECONDS: i64 = 3607;
/// The issuer and API audience kubeadm configures (`--service-account-issuer`).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Where node credentials' Secrets live (`bootstrap.rs`'s node-credential-<node>).
pub const NODE_CREDENTIAL_NAMESPACE: &str = "kube-system";
/// How long after a bound object's deletion its tokens still work (the validator's
/// `invalidIfDeletedBefore`).
const DELETION_GRACE_SECONDS: i64 = 60;

/// The service account user name (`serviceaccount.MakeUsername`).
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Issues and checks the tokens of one server.
#[derive(Debug)]
pub struct TokenIssuer {
    signer: Signer,
    /// The API server's audiences: a token must name one, and a request naming none gets them.
    audiences: Vec<String>,
    /// The CA bundle clients verify the server with (published as `kube-root-ca.crt`).
    root_ca: String,
}

impl TokenIssuer {
    /// The issuer [`DEFAULT_ISSUER`] with the PKCS#8 PEM key `key_pem`, for a server whose
    /// clients trust `root_ca` (PEM).
    pub fn new(key_pem: &str, root_ca: &str) -> std::result::Result<Arc<TokenIssuer>, KeyError> {
        Ok(Arc::new(TokenIssuer {
            signer: Signer::new(key_pem, DEFAULT_ISSUER)?,
            audiences: vec![DEFAULT_ISSUER.to_owned()],
            root_ca: root_ca.to_owned(),
        }))
    }

    pub fn root_ca(&self) -> &str {
        &self.root_ca
    }

    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
}

impl Registry {
    /// `TokenREST.Create`: a token for service account `namespace/name`, bound to the object
    /// the request names (a Pod or a Secret), valid for `spec.expirationSeconds`.
    pub async fn create_token(
        &self,
        namespace: &str,
        name: &str,
        mut request: TokenRequest,
    ) -> Result<TokenRequest> {
        let issuer = self.token_issuer().ok_or_else(|| {
            ApiError::from(status::service_unavailable(
                "this server issues no service account tokens (it serves without credentials)",
            ))
        })?;
        let meta = &request.metadata;
        if meta
            .name
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != name)
        {
            let errors = vec![FieldError::invalid(
                &Path::new("metadata").child("name"),
                meta.name.clone().unwrap_or_default(),
                "must match the service account name if specified",
            )];
            return Err(status::invalid(&TOKENREQUEST, name, &errors).into());
        }
        if meta
            .namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != namespace)
        {
            let errors = vec![FieldError::invalid(
                &Path::new("metadata").child("namespace"),
                meta.namespace.clone().unwrap_or_default(),
                "must match the service account namespace if specified",
            )];
            return Err(status::invalid(&TOKENREQUEST, name, &errors).into());
        }
        let account = self.get_shared(&SERVICEACCOUNT, namespace, name).await?;
        let Object::ServiceAccount(account) = &*account else {
            return Err(status::not_found(&SERVICEACCOUNT, name).into());
        };
        if request.spec.audiences.is_empty() {
            request.spec.audiences = issuer.audiences.clone();
        }
        // `SetDefaults_TokenRequestSpec`.
        let expiration = *request.spec.expiration_seconds.get_or_insert(3600);
        request.metadata.name = Some(name.to_owned());
        request.metadata.namespace = Some(namespace.to_owned());
        let now = self.clock().now();
        request.metadata.creation_timestamp = Some(Time(now));
        request.status = None;
        validate(&request)?;
        let mut bound = jwt::KubernetesClaims {
            namespace: namespace.to_owned(),
            serviceaccount: jwt::Ref {
                name: name.to_owned(),
                uid: account.metadata.uid.clone().unwrap_or_default(),
            },
            pod: None,
            node: None,
            secret: None,
        };
        if let Some(reference) = &request.spec.bound_object_ref {
            let kind = reference.kind.as_deref().unwrap_or("");
            let api_version = reference.api_version.as_deref().unwrap_or("");
            let object_name = reference.name.as_deref().unwrap_or("");
            let uid = match (api_version, kind) {
                ("v1" | "", "Pod") => {
                    let pod = self.get_shared(&POD, namespace, object_name).await?;
                    let Object::Pod(pod) = &*pod else {
                        return Err(status::not_found(&POD, object_name).into());
                    };
                    let runs_as = pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.service_account_name.as_deref());
                    if runs_as != Some(name) {
                        return Err(ApiError::bad_request(format!(
                            "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                        )));
                    }
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    bound.pod = Some(jwt::Ref {
                        name: object_name.to_owned(),
                        uid: uid.clone(),
                    });
                    if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                        // `ServiceAccountTokenPodNodeInfo`: the node by name; kbatch's nodes
                        // are looked up by name only, so the uid stays empty.
                        bound.node = Some(jwt::Ref {
                            name: node,
                            uid: String::new(),
                        });
                    }
                    uid
                }
                ("v1" | "", "Secret") => {
                    let secret = self.get(&SECRET, namespace, object_name).await?;
                    let uid = secret.metadata().uid.clone().unwrap_or_default();
                    bound.secret = Some(jwt::Ref {
                        name: object_name.to_owned(),
                        uid: uid.clone(),
                    });
                    uid
                }
                _ => {
                    let gvk = if api_version.is_empty() {
                        format!(", Kind={kind}")
                    } else {
                        format!("{api_version}, Kind={kind}")
                    };
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token to object of type {gvk}"
                    )));
                }
            };
            if let Some(wanted) = reference.uid.as_deref().filter(|u| !u.is_empty())
                && wanted != uid
            {
                let kind: &'static str = if kind == "Pod" { "Pod" } else { "Secret" };
                let kind = Kind {
                    group: "",
                    version: "v1",
                    kind,
                    plural: kind,
                    namespaced: true,
                };
                return Err(status::conflict_with(
                    &kind,
                    object_name,
                    format!(
                        "the UID in the bound object reference ({wanted}) does not match the UID in record. The object might have been deleted and then recreated"
                    ),
                )
                .into());
            }
        }
        let issued = now.as_second();
        let claims = Claims {
            iss: issuer.signer.issuer().to_owned(),
            sub: username(namespace, name),
            aud: request.spec.audiences.clone(),
            exp: issued + expiration,
            iat: issued,
            nbf: issued,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: bound,
        };
        let token = issuer
            .signer
            .sign(&claims)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let expires = now
            .checked_add(jiff::SignedDuration::from_secs(expiration))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        request.status = Some(TokenRequestStatus {
            token,
            expiration_timestamp: Time(expires),
        });
        Ok(request)
    }

    /// Who a bearer token of this server's issuer authenticates: a service account (bound
    /// tokens) or a node (node credentials); `None` when the token is not one of this
    /// issuer's; an error (401) when it is one but not valid now: expired, or of a deleted or
    /// replaced account, pod, Secret.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<User>> {
        let Some(issuer) = self.token_issuer() else {
            return Ok(None);
        };
        let now = self.clock().now().as_second();
        match issuer
            .signer
            .verify::<Claims>(token, now, &issuer.audiences)
        {
            Ok(claims) => return self.service_account_user(&claims, now).await.map(Some),
            Err(TokenError::NotOurs) => {}
            Err(e) => return Err(unauthorized(&e.to_string())),
        }
        match issuer
            .signer
            .verify::<NodeClaims>(token, now, &issuer.audiences)
        {
            Ok(claims) => self.node_user(&claims, now).await.map(Some),
            Err(TokenError::NotOurs) => Ok(None),
            Err(e) => Err(unauthorized(&e.to_string())),
        }
    }

    /// The validator's checks of a service account token's bound objects.
    async fn service_account_user(&self, claims: &Claims, now: i64) -> Result<User> {
        let k = &claims.kubernetes;
        self.still_bound(&SERVICEACCOUNT, &k.namespace, &k.serviceaccount, now)
            .await?;
        if let Some(pod) = &k.pod {
            self.still_bound(&POD, &k.namespace, pod, now).await?;
        }
        if let Some(secret) = &k.secret {
            self.still_bound(&SECRET, &k.namespace, secret, now).await?;
        }
        Ok(User::service_account(
            &k.namespace,
            &k.serviceaccount.name,
            &k.serviceaccount.uid,
        ))
    }

    /// A node credential is valid while the Secret it names exists (deleting it revokes it).
    async fn node_user(&self, claims: &NodeClaims, now: i64) -> Result<User> {
        self.still_bound(&SECRET, NODE_CREDENTIAL_NAMESPACE, &claims.node.secret, now)
            .await?;
        Ok(User::node(&claims.node.name))
    }

    /// Fails (401) unless the object `reference` names exists with its uid, and was not
    /// deleted more than a minute ago.
    async fn still_bound(
        &self,
        kind: &Kind,
        namespace: &str,
        reference: &jwt::Ref,
        now: i64,
    ) -> Result<()> {
        let object = self
            .get(kind, namespace, &reference.name)
            .await
            .map_err(|e| unauthorized(&format!("{}: {e}", kind.kind)))?;
        let meta = object.metadata();
        if meta.uid.as_deref() != Some(reference.uid.as_str()) || deleted_too_long_ago(meta, now) {
            return Err(unauthorized(&format!(
                "{} {namespace}/{} has been deleted or replaced",
                kind.kind, reference.name
            )));
        }
        Ok(())
    }
}

/// Whether an object a token is bound to was deleted more than a minute ago (the validator's
/// `invalidIfDeletedBefore`); `now` in Unix seconds.
fn deleted_too_long_ago(meta: &ObjectMeta, now: i64) -> bool {
    meta.deletion_timestamp
        .as_ref()
        .is_some_and(|t| t.0.as_second() < now - DELETION_GRACE_SECONDS)
}

/// A rejected token: 401 with the apiserver's plain message; why goes to the server's log,
/// as kube-apiserver logs it, never to the caller.
pub(crate) fn unauthorized(why: &str) -> ApiError {
    tracing::debug!(reason = why, "service account token rejected");
    status::unauthorized().into()
}

/// `ValidateTokenRequest`.
fn validate(request: &TokenRequest) -> Result<()> {
    let path = Path::new("spec").child("expirationSeconds");
    let seconds = request.spec.expiration_seconds.unwrap_or(0);
    let mut errors: ErrorList = Vec::new();
    if seconds < 600 {
        errors.push(FieldError::invalid(
            &path,
            kbatch_core::field::BadValue::Int(seconds),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > 1 << 32 {
        errors.push(FieldError::invalid(
            &path,
            kbatch_core::field::BadValue::Int(seconds),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(status::invalid(&TOKENREQUEST, "", &errors).into())
    }
}
