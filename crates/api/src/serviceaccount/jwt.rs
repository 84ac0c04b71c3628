//! Service account tokens as JSON Web Tokens: compact JWS, ES256, the claims
//! `k8s.io/kubernetes/pkg/serviceaccount` puts in bound tokens (`claims.go`).
//!
//! Written on ring, which the server already uses for TLS and encryption at rest, rather than
//! on a JWT crate: the compact form is three base64url parts, and ring's fixed-size ECDSA
//! signature (`r || s`) is exactly JWS ES256's (docs/dependencies.md says more).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How far a token's `exp` and `nbf` may be off the clock (go-jose's `DefaultLeeway`, which
/// the service account validator uses).
pub const LEEWAY_SECONDS: i64 = 60;

/// Why a signing key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the service account signing key: {0}")]
pub struct KeyError(String);

/// Why a token is not a valid token of this issuer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or one another issuer made: another authenticator's business.
    #[error("not a service account token of this issuer")]
    NotOurs,
    #[error("invalid signature")]
    Signature,
    #[error("service account token has expired")]
    Expired,
    #[error("service account token is not valid yet")]
    NotYetValid,
    #[error("token audiences {token:?} is invalid for the target audiences {target:?}")]
    Audience {
        token: Vec<String>,
        target: Vec<String>,
    },
}

/// An object a token names: its name and uid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` claim: whose token it is and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
}

/// A bound token's claims, named as in the JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

/// A node's credential (`kbatch agent` on another machine): the node by name, and the Secret
/// in kube-system whose deletion revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kbatch.dev/node")]
    pub node: NodeBinding,
}

/// What a node credential names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBinding {
    pub name: String,
    pub secret: Ref,
}

/// The registered claims every token of this issuer has, checked before the rest is read.
#[derive(Deserialize)]
struct Registered {
    iss: String,
    aud: Vec<String>,
    exp: i64,
    nbf: i64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: String,
}

/// Signs and verifies the tokens of one issuer with one P-256 key.
pub struct Signer {
    key: EcdsaKeyPair,
    key_id: String,
    issuer: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A new P-256 signing key, as PKCS#8 PEM.
pub fn generate_key_pem() -> Result<String, KeyError> {
    KeyPair::generate()
        .map(|k| k.serialize_pem())
        .map_err(|e| KeyError(e.to_string()))
}

impl Signer {
    /// The signer of `issuer` with the PKCS#8 PEM key `pem` (a P-256 key).
    pub fn new(pem: &str, issuer: impl Into<String>) -> Result<Signer, KeyError> {
        let pair = KeyPair::from_pem(pem).map_err(|e| KeyError(e.to_string()))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .map_err(|e| KeyError(format!("not a P-256 key: {e}")))?;
        // kube-apiserver's `keyIDFromPublicKey`: the SHA-256 of the PKIX public key, base64url.
        let key_id = URL_SAFE_NO_PAD.encode(Sha256::digest(pair.subject_public_key_info()));
        Ok(Signer {
            key,
            key_id,
            issuer: issuer.into(),
            rng,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, KeyError> {
        let header = Header {
            alg: "ES256".to_owned(),
            kid: self.key_id.clone(),
        };
        let part = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        let header = serde_json::to_vec(&header).map_err(|e| KeyError(e.to_string()))?;
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError(e.to_string()))?;
        let signing_input = format!("{}.{}", part(&header), part(&payload));
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| KeyError("signing failed".to_owned()))?;
        Ok(format!("{signing_input}.{}", part(signature.as_ref())))
    }

    /// The claims of `token` if this issuer signed it, it is valid at `now` (Unix seconds,
    /// with [`LEEWAY_SECONDS`]) and names one of `audiences`: a service account's
    /// ([`Claims`]) or a node's ([`NodeClaims`]), as the caller asks; claims of the other
    /// kind are [`TokenError::NotOurs`].
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        now: i64,
        audiences: &[String],
    ) -> Result<C, TokenError> {
        let Some((signing_input, signature)) = token.rsplit_once('.') else {
            return Err(TokenError::NotOurs);
        };
        let Some((header, payload)) = signing_input.split_once('.') else {
            return Err(TokenError::NotOurs);
        };
        if payload.contains('.') {
            return Err(TokenError::NotOurs);
        }
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| TokenError::NotOurs);
        let header: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::NotOurs)?;
        let payload = decode(payload)?;
        let claims: Registered =
            serde_json::from_slice(&payload).map_err(|_| TokenError::NotOurs)?;
        // Like the apiserver's JWT authenticator, a token of another issuer is left alone.
        if claims.iss != self.issuer {
            return Err(TokenError::NotOurs);
        }
        if header.alg != "ES256" {
            return Err(TokenError::Signature);
        }
        let signature = decode(signature)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        if now > claims.exp + LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECONDS < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err(TokenError::Audience {
                token: claims.aud,
                target: audiences.to_vec(),
            });
        }
        serde_json::from_slice(&payload).map_err(|_| TokenError::NotOurs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            sub: "system:serviceaccount:default:builder".to_owned(),
            aud: vec![ISSUER.to_owned()],
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: "a".to_owned(),
            kubernetes: KubernetesClaims {
                namespace: "default".to_owned(),
                serviceaccount: Ref {
                    name: "builder".to_owned(),
                    uid: "u1".to_owned(),
                },
                pod: Some(Ref {
                    name: "p".to_owned(),
                    uid: "u2".to_owned(),
                }),
                node: None,
                secret: None,
            },
        }
    }

    fn signer() -> Signer {
        Signer::new(&generate_key_pem().unwrap(), ISSUER).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_with_its_claims() {
        let s = signer();
        let c = claims(1_000_000);
        let token = s.sign(&c).unwrap();
        assert_eq!(token.split('.').count(), 3);
        let aud = vec![ISSUER.to_owned()];
        assert_eq!(s.verify::<Claims>(&token, 1_000_010, &aud).unwrap(), c);
        // The payload is the JWT claim set kube-apiserver writes.
        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["kubernetes.io"]["serviceaccount"]["name"], "builder");
        assert_eq!(json["kubernetes.io"]["pod"]["uid"], "u2");
        assert!(json["kubernetes.io"].get("node").is_none());
    }

    #[test]
    fn expiry_not_before_audience_and_signature_are_checked() {
        let s = signer();
        let c = claims(1_000_000);
        let token = s.sign(&c).unwrap();
        let aud = vec![ISSUER.to_owned()];
        assert_eq!(
            s.verify::<Claims>(&token, c.exp + LEEWAY_SECONDS + 1, &aud),
            Err(TokenError::Expired)
        );
        assert!(
            s.verify::<Claims>(&token, c.exp + LEEWAY_SECONDS, &aud)
                .is_ok()
        );
        assert_eq!(
            s.verify::<Claims>(&token, c.nbf - LEEWAY_SECONDS - 1, &aud),
            Err(TokenError::NotYetValid)
        );
        assert!(matches!(
            s.verify::<Claims>(&token, 1_000_000, &["vault".to_owned()]),
            Err(TokenError::Audience { .. })
        ));
        // Another key's signature over the same claims fails; so does an altered payload.
        let other = signer().sign(&c).unwrap();
        assert_eq!(
            s.verify::<Claims>(&other, 1_000_000, &aud),
            Err(TokenError::Signature)
        );
        let mut forged = c.clone();
        forged.kubernetes.serviceaccount.name = "admin".to_owned();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(
            s.verify::<Claims>(&parts.join("."), 1_000_000, &aud),
            Err(TokenError::Signature)
        );
        // "alg": "none" is refused, whatever the signature part holds.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        parts[0] = &none;
        parts[1] = token.split('.').nth(1).unwrap();
        assert_eq!(
            s.verify::<Claims>(&parts.join("."), 1_000_000, &aud),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn what_is_not_a_token_of_this_issuer_is_not_ours() {
        let s = signer();
        let aud = vec![ISSUER.to_owned()];
        for t in ["", "abc", "a.b", "a.b.c.d", "x.y.z", "admin-token-0123"] {
            assert_eq!(
                s.verify::<Claims>(t, 0, &aud),
                Err(TokenError::NotOurs),
                "{t}"
            );
        }
        let mut c = claims(0);
        c.iss = "https://elsewhere".to_owned();
        let token = s.sign(&c).unwrap();
        assert_eq!(
            s.verify::<Claims>(&token, 0, &aud),
            Err(TokenError::NotOurs)
        );
    }

    #[test]
    fn a_key_that_is_not_p256_is_refused() {
        assert!(Signer::new("not a key", ISSUER).is_err());
    }
}
