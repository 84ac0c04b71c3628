//! A pod's service account tokens, as kubelet's token manager (`pkg/kubelet/token`) keeps
//! them: asked of the TokenRequest API bound to the pod, kept, and asked again once 80 % of
//! their lifetime (or 24 hours) has passed, less a few seconds' jitter so that many pods do
//! not all ask at once. Each pod worker has its own, dropped with the pod.

use std::collections::BTreeMap;

use crate::api::NodeApi;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::Pod;
use kbatch_api::clock::Clock;

use crate::sources::TokenWanted;

/// Tokens older than this are replaced whatever their lifetime (`maxTTL`).
const MAX_TTL: SignedDuration = SignedDuration::from_hours(24);
/// Up to this much earlier than due, chosen at random per check (`maxJitter`).
const MAX_JITTER_SECONDS: f64 = 10.0;

#[derive(Debug, Clone)]
struct Issued {
    token: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
}

/// The tokens of one pod.
#[derive(Debug, Default)]
pub struct PodTokens {
    issued: BTreeMap<TokenWanted, Issued>,
}

impl PodTokens {
    /// The token `wanted` names for `pod`: the one held, unless it is due for replacement.
    pub async fn get(
        &mut self,
        api: &dyn NodeApi,
        clock: &dyn Clock,
        pod: &Pod,
        wanted: &TokenWanted,
    ) -> Result<String, String> {
        let now = clock.now();
        if let Some(held) = self.issued.get(wanted)
            && !requires_refresh(held, now, rand::random::<f64>() * MAX_JITTER_SECONDS)
        {
            return Ok(held.token.clone());
        }
        match request(api, pod, wanted).await {
            Ok(issued) => {
                let token = issued.token.clone();
                self.issued.insert(wanted.clone(), issued);
                Ok(token)
            }
            // `GetServiceAccountToken`: a token still valid is better than none.
            Err(e) => match self.issued.get(wanted) {
                Some(held) if now < held.expires_at => {
                    tracing::warn!(error = %e, "renewing a service account token; the current one is kept");
                    Ok(held.token.clone())
                }
                _ => Err(e),
            },
        }
    }
}

/// `requiresRefresh`: past 24 hours of age, or within 20 % of the lifetime of expiring, each
/// `jitter` seconds early.
fn requires_refresh(held: &Issued, now: Timestamp, jitter: f64) -> bool {
    let jitter = SignedDuration::from_secs_f64(jitter);
    let lifetime = held.expires_at.duration_since(held.issued_at);
    let aged_out = held
        .issued_at
        .checked_add(MAX_TTL - jitter)
        .is_ok_and(|t| now > t);
    let fifth = lifetime / 5;
    let nearly_expired = held
        .expires_at
        .checked_sub(fifth + jitter)
        .is_ok_and(|t| now > t);
    aged_out || nearly_expired
}

/// A TokenRequest bound to `pod`, through the API the agent uses for all else.
async fn request(api: &dyn NodeApi, pod: &Pod, wanted: &TokenWanted) -> Result<Issued, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_default();
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: if wanted.audience.is_empty() {
                Vec::new()
            } else {
                vec![wanted.audience.clone()]
            },
            expiration_seconds: Some(wanted.expiration_seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Pod".to_owned()),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
            }),
        },
        ..Default::default()
    };
    let answered = api
        .create_token(&namespace, &account, request)
        .await
        .map_err(|e| e.to_string())?;
    let status = answered
        .status
        .ok_or_else(|| "the TokenRequest was answered without a token".to_owned())?;
    let expires_at = status.expiration_timestamp.0;
    let issued_at = expires_at
        .checked_sub(SignedDuration::from_secs(wanted.expiration_seconds))
        .map_err(|e| e.to_string())?;
    Ok(Issued {
        token: status.token,
        issued_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn held(lifetime: i64) -> Issued {
        Issued {
            token: "t".to_owned(),
            issued_at: at(1_000_000),
            expires_at: at(1_000_000 + lifetime),
        }
    }

    #[test]
    fn a_token_is_replaced_after_80_percent_of_its_lifetime() {
        // 3607 s: due after 2885.6 s (less the jitter).
        let h = held(3607);
        assert!(!requires_refresh(&h, at(1_000_000 + 2885), 0.0));
        assert!(requires_refresh(&h, at(1_000_000 + 2886), 0.0));
        assert!(requires_refresh(&h, at(1_000_000 + 2880), 10.0));
    }

    #[test]
    fn a_long_lived_token_is_replaced_after_a_day() {
        let h = held(10 * 24 * 3600);
        assert!(!requires_refresh(&h, at(1_000_000 + 24 * 3600 - 1), 0.0));
        assert!(requires_refresh(&h, at(1_000_000 + 24 * 3600 + 1), 0.0));
    }
}
