//! The ConfigMaps and Secrets a pod refers to, read through the API before a container's
//! environment or the pod's volumes are made from them (kubelet's configmap and secret
//! managers, without their caches: the agent reads each when it needs it), and the service
//! account tokens its projected volumes hold ([`crate::tokens`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Pod, Secret, ServiceAccountTokenProjection,
};

/// What was read: `None` for an object that does not exist.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    pub secrets: BTreeMap<String, Option<Secret>>,
    /// The pod's tokens by what they were asked for, or why there is none.
    pub tokens: BTreeMap<TokenWanted, Result<String, String>>,
}

/// A service account token a projected volume holds: its audience ("" for the API server's)
/// and lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenWanted {
    pub audience: String,
    pub expiration_seconds: i64,
}

impl TokenWanted {
    /// What a `serviceAccountToken` projection asks for (its lifetime defaults to an hour).
    pub fn of(projection: &ServiceAccountTokenProjection) -> TokenWanted {
        TokenWanted {
            audience: projection.audience.clone().unwrap_or_default(),
            expiration_seconds: projection.expiration_seconds.unwrap_or(3600),
        }
    }
}

/// The names a pod (or one of its containers) refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub config_maps: Vec<String>,
    pub secrets: Vec<String>,
    pub tokens: Vec<TokenWanted>,
}

impl Wanted {
    fn config_map(&mut self, name: &str) {
        if !self.config_maps.iter().any(|n| n == name) {
            self.config_maps.push(name.to_owned());
        }
    }

    fn secret(&mut self, name: &str) {
        if !self.secrets.iter().any(|n| n == name) {
            self.secrets.push(name.to_owned());
        }
    }

    fn token(&mut self, token: TokenWanted) {
        if !self.tokens.contains(&token) {
            self.tokens.push(token);
        }
    }

    /// Adds what `other` names.
    pub fn extend(&mut self, other: Wanted) {
        for name in &other.config_maps {
            self.config_map(name);
        }
        for name in &other.secrets {
            self.secret(name);
        }
        for token in other.tokens {
            self.token(token);
        }
    }

    /// What a container's `env` and `envFrom` refer to.
    pub fn of_container(container: &Container) -> Wanted {
        let mut w = Wanted::default();
        for from in container.env_from.iter().flatten() {
            if let Some(cm) = &from.config_map_ref {
                w.config_map(&cm.name);
            }
            if let Some(s) = &from.secret_ref {
                w.secret(&s.name);
            }
        }
        for var in container.env.iter().flatten() {
            let Some(source) = &var.value_from else {
                continue;
            };
            if let Some(cm) = &source.config_map_key_ref {
                w.config_map(&cm.name);
            }
            if let Some(s) = &source.secret_key_ref {
                w.secret(&s.name);
            }
        }
        w
    }

    /// What a pod's volumes refer to.
    pub fn of_volumes(pod: &Pod) -> Wanted {
        let mut w = Wanted::default();
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
        for v in volumes.into_iter().flatten() {
            if let Some(cm) = &v.config_map {
                w.config_map(&cm.name);
            }
            if let Some(s) = &v.secret
                && let Some(name) = &s.secret_name
            {
                w.secret(name);
            }
            let projected = v.projected.as_ref().and_then(|p| p.sources.as_ref());
            for source in projected.into_iter().flatten() {
                if let Some(cm) = &source.config_map {
                    w.config_map(&cm.name);
                }
                if let Some(s) = &source.secret {
                    w.secret(&s.name);
                }
                if let Some(t) = &source.service_account_token {
                    w.token(TokenWanted::of(t));
                }
            }
        }
        w
    }
}
