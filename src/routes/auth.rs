//! Extractors for the two kinds of callers: staff (a session bearer token) and hall agents
//! (the hall's agent token). Role and hall checks happen in the service functions.

use crate::accounts::{self, Staff};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{http::header, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

/// The bearer token of a request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// A signed-in caller, whatever the account still has to do (change its password, enrol
/// a second factor): only the routes that let it do that take this extractor.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub auth: accounts::Authenticated,
    pub token: String,
}

async fn signed_in(
    state: Result<web::Data<AppState>, ApiError>,
    token: Option<String>,
) -> Result<SignedIn, ApiError> {
    let state = state?;
    let token = token.ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
    let now = state.now();
    let (t, settings) = (token.clone(), state.settings.clone());
    let auth = state
        .db(move |conn| accounts::authenticate(conn, &t, &settings, now))
        .await?;
    let auth = auth.ok_or_else(|| {
        ApiError::Unauthorized("the session token is unknown, expired or idle too long".into())
    })?;
    Ok(SignedIn { auth, token })
}

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<SignedIn, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(signed_in(app_state(req), bearer_token(req)))
    }
}

/// Staff who may work: signed in, and nothing outstanding on the account.
impl FromRequest for Staff {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Staff, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = signed_in(app_state(req), bearer_token(req));
        Box::pin(async move {
            let SignedIn { auth, .. } = fut.await?;
            if auth.must_change_password {
                return Err(accounts::AccountError::PasswordChangeRequired.into());
            }
            if auth.totp_enrolment_required {
                return Err(accounts::AccountError::TotpEnrolmentRequired.into());
            }
            Ok(auth.staff)
        })
    }
}

/// Refuse unless the caller has one of the roles.
pub fn require_role(staff: &Staff, roles: &[Role]) -> Result<(), ApiError> {
    if roles.contains(&staff.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "the role {} may not do this",
            staff.role
        )))
    }
}

/// A request authenticated by a hall agent token.
#[derive(Debug, Clone)]
pub struct AgentHall {
    pub hall_code: String,
    /// A hall client certificate is a counter agent's.
    pub kind: crate::domain::job::AgentKind,
    /// The token's id (none for a client certificate): a kiosk's id in the audit trail.
    pub token_id: Option<i64>,
}

impl FromRequest for AgentHall {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<AgentHall, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let token = bearer_token(req);
        // Mutual TLS: a verified hall client certificate names its hall.
        let cert_hall = req
            .conn_data::<crate::tls::PeerCertificates>()
            .and_then(|chain| chain.0.first().and_then(crate::tls::hall_of_certificate));
        Box::pin(async move {
            let state = state?;
            if token.is_none() {
                if let Some(hall) = cert_hall {
                    let active = match state.agent_auth.cert_hall_active(&hall) {
                        Some(active) => active,
                        None => {
                            let (st, code) = (state.clone(), hall.clone());
                            state
                                .db(move |conn| st.agent_auth.check_cert_hall(conn, &code))
                                .await?
                        }
                    };
                    return match active {
                        true => Ok(AgentHall {
                            hall_code: hall,
                            kind: crate::domain::job::AgentKind::Counter,
                            token_id: None,
                        }),
                        false => Err(ApiError::Unauthorized(format!(
                            "the client certificate names no active hall ({hall})"
                        ))),
                    };
                }
            }
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized(
                    "a hall agent token or a hall client certificate is required".into(),
                )
            })?;
            let hash = accounts::token_hash(&token);
            let live = agent_token_hall(&state, hash).await?;
            live.map(|t| AgentHall {
                hall_code: t.hall,
                kind: t.kind,
                token_id: Some(t.id),
            })
            .ok_or_else(|| ApiError::Unauthorized("the agent token is unknown or revoked".into()))
        })
    }
}

/// The hall of a live agent token, through the cache (see `distribution::agent_auth`): idle
/// long-polling agents cost no query per request.
async fn agent_token_hall(
    state: &web::Data<AppState>,
    hash: String,
) -> Result<Option<crate::storage::agent_tokens::LiveToken>, ApiError> {
    use crate::distribution::agent_auth::Cached;
    let cache = &state.agent_auth;
    if let Cached::Stale = cache.cached(&hash) {
        let _one_reload = cache.reload_guard().await;
        if let Cached::Stale = cache.cached(&hash) {
            let st = state.clone();
            state.db(move |conn| st.agent_auth.reload(conn)).await?;
        }
    }
    match cache.cached(&hash) {
        Cached::Hall(hall) => Ok(Some(hall)),
        // Not in a fresh snapshot: issued since (remember it) or unknown.
        Cached::Missing | Cached::Stale => {
            let st = state.clone();
            state
                .db(move |conn| {
                    let live = crate::storage::agent_tokens::find_token_hall(conn, &hash)?;
                    if let Some(t) = &live {
                        st.agent_auth.remember(&hash, t);
                    }
                    Ok::<_, crate::storage::StorageError>(live)
                })
                .await
        }
    }
}
