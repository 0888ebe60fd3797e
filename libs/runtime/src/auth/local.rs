//! Tokens signed with the installation's own HS256 key: `switchboard token`,
//! local development, tests, and services' narrow credentials.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{AuthError, Caller, LEEWAY_SECONDS, Role, Scopes, TenantId, Via, check_claims};

/// A scope entry naming one method a service credential may call.
const METHOD_SCOPE: &str = "method:";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tenant: String,
    role: Role,
    iat: u64,
    exp: u64,
    /// The calling service, on a service credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    svc: Option<String>,
    /// Space-separated scopes (RFC 8693 style), on a service credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The HS256 key and the checks around it.
#[derive(Clone)]
pub(super) struct Local {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    max_lifetime: Duration,
}

impl Local {
    pub(super) fn new(secret: &SecretString, max_lifetime: Duration) -> Self {
        let key = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            max_lifetime,
        }
    }

    pub(super) fn with_max_lifetime(&self, max_lifetime: Duration) -> Self {
        Self {
            max_lifetime,
            ..self.clone()
        }
    }

    pub(super) fn issue(&self, caller: &Caller, ttl: Duration) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let (svc, scope) = match &caller.via {
            Via::Service {
                name,
                scopes,
                methods,
            } => {
                let methods = methods.iter().map(|m| format!("{METHOD_SCOPE}{m}"));
                let all: Vec<String> = scopes.names().into_iter().chain(methods).collect();
                (Some(name.clone()), Some(all.join(" ")))
            }
            // Integrations are API tokens, never JWTs; a person needs nothing more.
            Via::Person | Via::Integration { .. } => (None, None),
        };
        let claims = Claims {
            sub: caller.user.clone(),
            tenant: caller.tenant.as_str().to_owned(),
            role: caller.role,
            iat: now,
            exp: now + ttl.as_secs(),
            svc,
            scope,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    pub(super) fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?
            .claims;
        check_claims(claims.iat, claims.exp, &claims.sub, self.max_lifetime)?;
        let tenant = TenantId::parse(&claims.tenant).map_err(AuthError::Invalid)?;
        let via = match claims.svc {
            None => Via::Person,
            Some(name) => {
                let (methods, scopes): (Vec<&str>, Vec<&str>) = claims
                    .scope
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .partition(|s| s.starts_with(METHOD_SCOPE));
                let scopes = Scopes::parse(scopes).map_err(AuthError::Invalid)?;
                let methods = methods
                    .into_iter()
                    .map(|m| m[METHOD_SCOPE.len()..].to_owned())
                    .collect();
                Via::Service {
                    name,
                    scopes,
                    methods,
                }
            }
        };
        Ok(Caller {
            tenant,
            user: claims.sub,
            role: claims.role,
            via,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Access, Area, Authenticator};
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn local(secret: &str) -> Local {
        Local::new(
            &SecretString::from(secret.to_owned()),
            Duration::from_secs(7 * 86_400),
        )
    }

    fn acme_agent() -> Caller {
        Caller::person(TenantId::parse("acme").unwrap(), "u-1", Role::Agent)
    }

    #[tokio::test]
    async fn issued_tokens_verify_to_the_same_caller() {
        let a = Authenticator::hs256(&SecretString::from(KEY.to_owned()));
        let token = a.issue(&acme_agent(), Duration::from_secs(60));
        assert_eq!(
            a.verify_header(Some(&format!("Bearer {token}")))
                .await
                .unwrap(),
            acme_agent()
        );
    }

    #[tokio::test]
    async fn wrong_key_missing_and_malformed_are_refused() {
        let a = Authenticator::hs256(&SecretString::from(KEY.to_owned()));
        let b = local("fedcba9876543210fedcba9876543210");
        let token = b.issue(&acme_agent(), Duration::from_secs(60));
        assert!(matches!(
            a.verify_header(Some(&format!("Bearer {token}"))).await,
            Err(AuthError::Invalid(_))
        ));
        assert_eq!(a.verify_header(None).await, Err(AuthError::Missing));
        assert_eq!(
            a.verify_header(Some(&format!("Basic {token}"))).await,
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn service_credentials_keep_their_name_and_scopes() {
        let l = local(KEY);
        let routing = Caller {
            via: Via::Service {
                name: "routing".into(),
                scopes: Scopes::NONE.with(Area::Ticket, Access::Write),
                methods: vec!["/switchboard.ticket.v1.TicketService/AssignTicket".into()],
            },
            ..Caller::person(
                TenantId::parse("acme").unwrap(),
                "service:routing",
                Role::Agent,
            )
        };
        let back = l
            .verify(&l.issue(&routing, Duration::from_secs(60)))
            .unwrap();
        assert_eq!(back, routing);
        assert!(!back.scopes().allows(Area::Routing, Access::Read));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let l = local(KEY);
        let now = jsonwebtoken::get_current_timestamp();
        let token = signed(&l, claims(now - 7200, now - 3600));
        let err = l.verify(&token).unwrap_err().to_string();
        assert!(err.contains("Expired"), "{err}");
    }

    fn signed(l: &Local, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::default(), &claims, &l.encoding).unwrap()
    }

    fn claims(iat: u64, exp: u64) -> serde_json::Value {
        serde_json::json!({"sub": "u", "tenant": "acme", "role": "admin", "iat": iat, "exp": exp})
    }

    #[test]
    fn tokens_not_yet_valid_are_refused() {
        let l = local(KEY);
        let now = jsonwebtoken::get_current_timestamp();
        let mut future_nbf = claims(now, now + 600);
        future_nbf["nbf"] = (now + 300).into();
        assert!(l.verify(&signed(&l, future_nbf)).is_err());
        let future_iat = claims(now + 300, now + 600);
        assert!(l.verify(&signed(&l, future_iat)).is_err());
        // Clock skew within the leeway is tolerated.
        let mut skewed = claims(now + 10, now + 600);
        skewed["nbf"] = (now + 10).into();
        assert!(l.verify(&signed(&l, skewed)).is_ok());
    }

    #[test]
    fn tokens_living_longer_than_the_maximum_are_refused() {
        let l = local(KEY).with_max_lifetime(Duration::from_secs(3600));
        let now = jsonwebtoken::get_current_timestamp();
        let err = l
            .verify(&signed(&l, claims(now, now + 3601 + 60)))
            .unwrap_err();
        assert!(err.to_string().contains("lifetime"), "{err}");
        assert!(l.verify(&signed(&l, claims(now, now + 3600))).is_ok());
        // Without `iat` the lifetime cannot be known.
        let no_iat =
            serde_json::json!({"sub": "u", "tenant": "acme", "role": "admin", "exp": now + 60});
        assert!(l.verify(&signed(&l, no_iat)).is_err());
    }
}
