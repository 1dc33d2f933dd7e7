//! Hall agent tokens (admin): issue, list, revoke; and `GET /api/v1/agent/whoami` for an
//! agent to check its token.

use crate::accounts::{self, Staff};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::{require_role, AgentHall};
use crate::state::AppState;
use crate::wire::accounts::*;
use crate::wire::agent::WhoAmI;
use actix_web::{get, post, web, HttpResponse};

#[utoipa::path(tag = "staff", security(("staff" = [])), request_body = CreateAgentTokenRequest, responses((status = 201, body = CreatedAgentToken)))]
#[post("/api/v1/agent-tokens")]
pub async fn create_agent_token(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<CreateAgentTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let CreateAgentTokenRequest { hall, kind } = body.into_inner();
    let now = state.now();
    let h = hall.clone();
    let (id, token) = state
        .db(move |conn| accounts::issue_agent_token(conn, &h, kind, &staff.username, now))
        .await?;
    Ok(HttpResponse::Created().json(CreatedAgentToken {
        id,
        hall,
        kind,
        token,
    }))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), params(AgentTokensQuery), responses((status = 200, body = Vec<AgentTokenView>)))]
#[get("/api/v1/agent-tokens")]
pub async fn list_agent_tokens(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<AgentTokensQuery>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let hall = query.into_inner().hall;
    let rows = state
        .db(move |conn| crate::storage::agent_tokens::list_agent_tokens(conn, hall.as_deref()))
        .await?;
    let tokens: Vec<_> = rows
        .into_iter()
        .map(|t| AgentTokenView {
            id: t.id,
            hall: t.hall_code,
            kind: t.kind,
            created_at: crate::storage::from_db_time(t.created_at).to_rfc3339(),
            revoked_at: t
                .revoked_at
                .map(|r| crate::storage::from_db_time(r).to_rfc3339()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(tokens))
}

#[utoipa::path(tag = "staff", security(("staff" = [])), responses((status = 200, body = RevokedAgentToken)))]
#[post("/api/v1/agent-tokens/{id}/revoke")]
pub async fn revoke_agent_token(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_role(&staff, &[Role::Admin])?;
    let id = path.into_inner();
    let now = state.now();
    let changed = state
        .db(move |conn| accounts::revoke_agent_token(conn, id, &staff.username, now))
        .await?;
    // Revoked here: this process stops honouring the token now; others within the cache TTL.
    state.agent_auth.invalidate();
    Ok(HttpResponse::Ok().json(RevokedAgentToken {
        id,
        revoked: true,
        changed,
    }))
}

#[utoipa::path(tag = "agent", security(("agent" = [])), responses((status = 200, body = WhoAmI)))]
#[get("/api/v1/agent/whoami")]
pub async fn whoami(agent: AgentHall) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI {
        hall: agent.hall_code,
        kind: agent.kind,
    })
}
