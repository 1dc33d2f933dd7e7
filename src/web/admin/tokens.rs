//! `/admin/tokens`: hall agent tokens (shown once) and their revocation.

use super::*;

pub struct TokenLine {
    pub id: i64,
    pub hall: String,
    pub kind: &'static str,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
pub(super) struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenLine>,
    new_token: Option<(String, String)>,
    error: Option<String>,
}

pub(super) async fn render_tokens(
    state: &web::Data<AppState>,
    session: &Session,
    status: StatusCode,
    new_token: Option<(String, String)>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let rows = state
        .db(|conn| storage::agent_tokens::list_agent_tokens(conn, None))
        .await?;
    let time = |t| {
        storage::from_db_time(t)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let tokens = rows
        .into_iter()
        .map(|t| TokenLine {
            id: t.id,
            hall: t.hall_code,
            kind: match t.kind {
                crate::domain::job::AgentKind::Counter => "打印代理",
                crate::domain::job::AgentKind::Kiosk => "自助终端",
            },
            created_at: time(t.created_at),
            revoked_at: t.revoked_at.map(time),
        })
        .collect();
    html(
        status,
        &TokensPage {
            chrome: Chrome::new("打印代理令牌", session),
            tokens,
            new_token,
            error,
        },
    )
}

#[get("/admin/agent-tokens")]
pub async fn tokens_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    render_tokens(&state, &session, StatusCode::OK, None, None).await
}

/// The token is in this answer only (stored hashed), like the pickup code.
#[post("/admin/agent-tokens")]
pub async fn issue_token(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let hall = post.form.text("hall").to_string();
    let kind = match post.form.text("kind") {
        "kiosk" => crate::domain::job::AgentKind::Kiosk,
        _ => crate::domain::job::AgentKind::Counter,
    };
    let now = state.now();
    let actor = post.session.staff.username.clone();
    let h = hall.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(accounts::issue_agent_token(conn, &h, kind, &actor, now)))
        .await?;
    match outcome {
        Ok((_, token)) => {
            render_tokens(
                &state,
                &post.session,
                StatusCode::CREATED,
                Some((hall, token)),
                None,
            )
            .await
        }
        Err(accounts::AccountError::UnknownHall(h)) => {
            render_tokens(
                &state,
                &post.session,
                StatusCode::BAD_REQUEST,
                None,
                Some(format!("没有代码为 {h} 的大厅。")),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/agent-tokens/{id}/revoke")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    post: FormPost,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let id = path.into_inner();
    let now = state.now();
    let actor = post.session.staff.username.clone();
    state
        .db(move |conn| accounts::revoke_agent_token(conn, id, &actor, now))
        .await?;
    // Agent token lookups are cached: a revocation takes effect in this process at once.
    state.agent_auth.invalidate();
    Ok(see_other("/admin/agent-tokens"))
}
