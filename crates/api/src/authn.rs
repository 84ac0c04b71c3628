//! Who is calling (`k8s.io/apiserver/pkg/authentication`): a bearer token is the admin's
//! (the kubeconfig's), a bootstrap token (`kbatch token create`, kubeadm's
//! `bootstrap.kubernetes.io/token` Secrets in kube-system), or a JWT of this server's issuer —
//! a service account's or a node's ([`crate::serviceaccount`]). Anything else is 401.

use k8s_openapi::api::core::v1::Secret;
use kbatch_core::object::{Object, SECRET};
use kbatch_core::validation::secret::TYPE_BOOTSTRAP_TOKEN;

use crate::error::Result;
use crate::registry::Registry;
use crate::serviceaccount::unauthorized;

/// The user name of the admin token (`kubernetes-admin` in kubeadm's admin.conf).
pub const ADMIN_USER: &str = "kubernetes-admin";
/// The group of every node credential (`user.NodesGroup`).
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of a node's user name (`nodeidentifier`'s `system:node:`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// Where bootstrap tokens are kept, and the prefix of their Secrets' names
/// (`bootstrapapi.BootstrapTokenSecretPrefix`).
pub const BOOTSTRAP_TOKEN_NAMESPACE: &str = "kube-system";
pub const BOOTSTRAP_TOKEN_SECRET_PREFIX: &str = "bootstrap-token-";
/// The group of every bootstrap token's user (`bootstrapapi.BootstrapDefaultGroup`).
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";

/// An authenticated caller (`user.Info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl User {
    /// The holder of the admin token: everything is allowed.
    pub fn admin() -> User {
        User {
            name: ADMIN_USER.to_owned(),
            uid: String::new(),
            groups: vec![
                "system:masters".to_owned(),
                "system:authenticated".to_owned(),
            ],
        }
    }

    /// A service account (`serviceaccount.UserInfo`).
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> User {
        User {
            name: crate::serviceaccount::username(namespace, name),
            uid: uid.to_owned(),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        }
    }

    /// A node: `system:node:<name>` in `system:nodes`.
    pub fn node(name: &str) -> User {
        User {
            name: format!("{NODE_USER_PREFIX}{name}"),
            uid: String::new(),
            groups: vec![NODES_GROUP.to_owned(), "system:authenticated".to_owned()],
        }
    }

    /// A bootstrap token's user (`bootstrap.TokenAuthenticator`).
    fn bootstrapper(id: &str, extra_groups: Vec<String>) -> User {
        let mut groups = vec![BOOTSTRAPPERS_GROUP.to_owned()];
        groups.extend(extra_groups);
        groups.push("system:authenticated".to_owned());
        User {
            name: format!("system:bootstrap:{id}"),
            uid: String::new(),
            groups,
        }
    }

    /// The node this user is, if it is a node (`nodeidentifier.NodeIdentity`).
    pub fn node_name(&self) -> Option<&str> {
        if !self.groups.iter().any(|g| g == NODES_GROUP) {
            return None;
        }
        self.name
            .strip_prefix(NODE_USER_PREFIX)
            .filter(|n| !n.is_empty())
    }

    pub fn is_bootstrapper(&self) -> bool {
        self.groups.iter().any(|g| g == BOOTSTRAPPERS_GROUP)
    }
}

/// `<id>.<secret>`: 6 and 16 characters of `[a-z0-9]` (`bootstraputil.BootstrapTokenRegexp`).
pub fn parse_bootstrap_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// Whether two byte strings are equal, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && diff == 0
}

impl Registry {
    /// Who `token` (a bearer token) is: `admin` (the admin token, when the server has one),
    /// a bootstrap token, a service account's or a node's token. 401 otherwise.
    pub async fn authenticate(&self, admin: &str, token: &str) -> Result<User> {
        if token.is_empty() {
            return Err(unauthorized("no bearer token"));
        }
        if constant_time_eq(token.as_bytes(), admin.as_bytes()) {
            return Ok(User::admin());
        }
        if let Some((id, secret)) = parse_bootstrap_token(token) {
            return self.bootstrap_user(id, secret).await;
        }
        match self.authenticate_token(token).await? {
            Some(user) => Ok(user),
            None => Err(unauthorized("unknown bearer token")),
        }
    }

    /// `TokenAuthenticator.AuthenticateToken` of bootstrap tokens: the Secret
    /// `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`, its
    /// `token-secret`, `usage-bootstrap-authentication: "true"`, and no `expiration` past.
    async fn bootstrap_user(&self, id: &str, secret: &str) -> Result<User> {
        let name = format!("{BOOTSTRAP_TOKEN_SECRET_PREFIX}{id}");
        let stored = match self.get(&SECRET, BOOTSTRAP_TOKEN_NAMESPACE, &name).await {
            Ok(Object::Secret(s)) => s,
            _ => return Err(unauthorized("no such bootstrap token")),
        };
        let value = |key: &str| {
            stored
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        };
        let valid = stored.type_.as_deref() == Some(TYPE_BOOTSTRAP_TOKEN)
            && stored.metadata.deletion_timestamp.is_none()
            && value("token-id").as_deref() == Some(id)
            && value("token-secret")
                .is_some_and(|s| constant_time_eq(s.as_bytes(), secret.as_bytes()))
            && value("usage-bootstrap-authentication").as_deref() == Some("true")
            && !expired(&stored, self.clock().now());
        if !valid {
            return Err(unauthorized("bootstrap token refused"));
        }
        let extra = value("auth-extra-groups")
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| g.starts_with("system:bootstrappers:"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(User::bootstrapper(id, extra))
    }
}

/// Whether a bootstrap token's `expiration` (RFC 3339) has passed; an unreadable one has.
fn expired(secret: &Secret, now: jiff::Timestamp) -> bool {
    let Some(raw) = secret.data.as_ref().and_then(|d| d.get("expiration")) else {
        return false;
    };
    match String::from_utf8_lossy(&raw.0).parse::<jiff::Timestamp>() {
        Ok(t) => t <= now,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_tokens_have_kubeadms_shape() {
        assert_eq!(
            parse_bootstrap_token("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        for bad in [
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdef",
            "abcdef.0123456789abcde",
            "abcdef.0123456789abcdef.x",
            "",
        ] {
            assert_eq!(parse_bootstrap_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn node_users_are_named_by_their_node() {
        assert_eq!(User::node("n1").node_name(), Some("n1"));
        assert_eq!(User::admin().node_name(), None);
        // The name alone is not enough: kube-apiserver's node identifier wants the group too.
        let impostor = User {
            name: "system:node:n1".to_owned(),
            uid: String::new(),
            groups: vec![],
        };
        assert_eq!(impostor.node_name(), None);
    }
}
