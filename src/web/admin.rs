//! Administrators: halls and partner agreements (expired ones highlighted), security stock
//! batches, staff accounts, hall agent tokens (shown once) and the trust list with the
//! active signer. The same service functions as the admin API routes; the role check is the
//! one those routes make.

use super::page::{html, see_other, Chrome, PageError};
use super::session::{FormPost, Session};
use crate::accounts::lifecycle::{self, Actor, UserPatch};
use crate::accounts::{self, NewAccount};
use crate::distribution::stock;
use crate::domain::hall::{Covers, HallKind};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::routes::auth::require_role;
use crate::routes::client_ip::ClientIp;
use crate::state::AppState;
use crate::storage;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

fn admin_only(session: &Session) -> Result<(), PageError> {
    require_role(&session.staff, &[Role::Admin]).map_err(PageError::from)
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct AdminHome {
    chrome: Chrome,
}

#[get("/admin")]
pub async fn admin_home(session: Session) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    html(
        StatusCode::OK,
        &AdminHome {
            chrome: Chrome::new("管理", &session),
        },
    )
}

// ---- halls -----------------------------------------------------------------------------

pub struct HallLine {
    pub code: String,
    pub name: String,
    pub kind_label: &'static str,
    pub place: String,
    pub active: bool,
    pub agreement: String,
    pub covers: String,
    pub expired: bool,
}

pub struct KindOption {
    pub key: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin_halls.html")]
struct HallsPage {
    chrome: Chrome,
    kinds: Vec<KindOption>,
    halls: Vec<HallLine>,
    expired: usize,
}

#[derive(Deserialize)]
pub struct KindQuery {
    kind: Option<String>,
}

#[get("/admin/halls")]
pub async fn halls_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<KindQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    // Partners first: their agreements are what needs watching.
    let kind = match query.kind.as_deref() {
        None => Some(HallKind::Partner),
        Some("") | Some("all") => None,
        Some(k) => HallKind::parse(k),
    };
    let today = state.now().date_naive();
    let all = state.db(storage::halls::list_halls).await?;
    let halls: Vec<HallLine> = all
        .into_iter()
        .filter(|h| kind.is_none_or(|k| h.kind == k))
        .map(|h| {
            let expired = h.agreement.as_ref().is_some_and(|a| a.valid_to < today);
            HallLine {
                code: h.code,
                kind_label: h.kind.label_zh(),
                place: format!("{} {} {}", h.province, h.city, h.county),
                active: h.active,
                agreement: h.agreement.as_ref().map_or(String::new(), |a| {
                    format!("{} 至 {}", a.valid_from, a.valid_to)
                }),
                covers: h
                    .agreement
                    .as_ref()
                    .map_or(String::new(), |a| match &a.covers {
                        Covers::All => "全部类型".to_string(),
                        // Domain keys and type codes, named as staff know them.
                        Covers::List(items) => items
                            .iter()
                            .map(|i| match crate::catalog::Domain::parse(i) {
                                Some(d) => d.label_zh().to_string(),
                                None => state.catalog.get(i).map_or(i.clone(), |t| t.name.clone()),
                            })
                            .collect::<Vec<_>>()
                            .join("、"),
                    }),
                expired,
                name: h.name,
            }
        })
        .collect();
    let expired = halls.iter().filter(|h| h.expired).count();
    let mut kinds = vec![KindOption {
        key: "all",
        label: "全部",
        selected: kind.is_none(),
    }];
    kinds.extend(HallKind::ALL.iter().map(|k| KindOption {
        key: k.as_str(),
        label: k.label_zh(),
        selected: Some(*k) == kind,
    }));
    html(
        StatusCode::OK,
        &HallsPage {
            chrome: Chrome::new("大厅与合作协议", &session),
            kinds,
            halls,
            expired,
        },
    )
}

// ---- stock batches ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_stock.html")]
struct StockAdminPage {
    chrome: Chrome,
    hall: String,
    first_serial: String,
    count: String,
    inventory: Option<stock::Inventory>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct HallQuery {
    hall: Option<String>,
    registered: Option<String>,
}

async fn inventory_of(
    state: &web::Data<AppState>,
    session: &Session,
    hall: &str,
) -> Result<Option<stock::Inventory>, PageError> {
    if hall.is_empty() {
        return Ok(None);
    }
    let staff = session.staff.clone();
    let h = hall.to_string();
    let found = state
        .db(move |conn| Ok::<_, ApiError>(stock::inventory(conn, &staff, &h)))
        .await?;
    match found {
        Ok(inv) => Ok(Some(inv)),
        Err(stock::StockError::HallNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[get("/admin/stock")]
pub async fn stock_page(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<HallQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    let hall = query.hall.clone().unwrap_or_default().trim().to_string();
    let inventory = inventory_of(&state, &session, &hall).await?;
    let notice = query
        .registered
        .as_ref()
        .map(|b| format!("批次 {b} 已登记。"));
    html(
        StatusCode::OK,
        &StockAdminPage {
            chrome: Chrome::new("证纸批次", &session),
            hall,
            first_serial: String::new(),
            count: String::new(),
            inventory,
            notice,
            error: None,
        },
    )
}

#[post("/admin/stock")]
pub async fn register_batch(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let hall = post.form.text("hall").to_string();
    let first = post.form.text("first_serial").to_string();
    let count = post.form.text("count").to_string();
    let body = serde_json::json!({
        "hall": hall,
        "first_serial": first,
        // A count that is not a number is refused by the service, naming the field.
        "count": count.parse::<i64>().map_or(serde_json::Value::Null, serde_json::Value::from),
    });
    let staff = post.session.staff.clone();
    let now = state.now();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(stock::register_batch(conn, &staff, &body, now)))
        .await?;
    match outcome {
        Ok(batch) => Ok(see_other(&format!(
            "/admin/stock?hall={}&registered={}",
            batch.hall, batch.id
        ))),
        Err(
            e @ (stock::StockError::Invalid { .. }
            | stock::StockError::UnknownHall(_)
            | stock::StockError::Overlap { .. }),
        ) => {
            let status = if matches!(e, stock::StockError::Overlap { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let inventory = inventory_of(&state, &post.session, &hall).await?;
            html(
                status,
                &StockAdminPage {
                    chrome: Chrome::new("证纸批次", &post.session),
                    hall,
                    first_serial: first,
                    count,
                    inventory,
                    notice: None,
                    error: Some(e.to_string()),
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

// ---- staff accounts ----------------------------------------------------------------------

pub struct UserLine {
    pub username: String,
    pub role_label: &'static str,
    pub hall: String,
    pub active: bool,
    pub locked_until: Option<String>,
    pub totp_enabled: bool,
    pub must_change_password: bool,
    pub last_login_at: String,
}

pub struct HallChoice {
    pub code: String,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserLine>,
    halls: Vec<HallChoice>,
    csrf: String,
    form_username: String,
    notice: Option<String>,
    /// A temporary password just set: (username, password), shown this once.
    temporary: Option<(String, String)>,
    error: Option<String>,
}

/// What the page shows besides the list.
#[derive(Default)]
struct UsersMessage {
    form: (String, String),
    notice: Option<String>,
    temporary: Option<(String, String)>,
    error: Option<String>,
}

fn short_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

async fn render_users(
    state: &web::Data<AppState>,
    session: &Session,
    status: StatusCode,
    message: UsersMessage,
) -> Result<HttpResponse, PageError> {
    let (throttle, now) = (state.settings.login, state.now());
    let (users, halls) = state
        .db(move |conn| {
            let users = accounts::lifecycle::list_users(conn, throttle, now)?;
            let halls = storage::halls::list_halls(conn)?;
            Ok::<_, ApiError>((users, halls))
        })
        .await?;
    let users = users
        .into_iter()
        .map(|u| UserLine {
            role_label: Role::parse(&u.role).map_or("?", super::page::role_label),
            username: u.username,
            hall: u.hall,
            active: u.active,
            locked_until: u.locked_until.as_deref().map(short_time),
            totp_enabled: u.totp_enabled,
            must_change_password: u.must_change_password,
            last_login_at: u
                .last_login_at
                .as_deref()
                .map(short_time)
                .unwrap_or_default(),
        })
        .collect();
    let chosen = &message.form.1;
    let halls = halls
        .into_iter()
        .filter(|h| h.active)
        .map(|h| HallChoice {
            selected: &h.code == chosen,
            code: h.code,
            name: h.name,
        })
        .collect();
    html(
        status,
        &UsersPage {
            chrome: Chrome::new("工作人员账号", session),
            users,
            halls,
            csrf: session.csrf.clone(),
            form_username: message.form.0,
            notice: message.notice,
            temporary: message.temporary,
            error: message.error,
        },
    )
}

#[get("/admin/users")]
pub async fn users_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    render_users(&state, &session, StatusCode::OK, UsersMessage::default()).await
}

/// A refused change as a message on the page; a server failure as the error page.
async fn users_error(
    state: &web::Data<AppState>,
    session: &Session,
    e: ApiError,
    form: (String, String),
) -> Result<HttpResponse, PageError> {
    let status = actix_web::ResponseError::status_code(&e);
    if status.is_server_error() {
        return Err(e.into());
    }
    render_users(
        state,
        session,
        status,
        UsersMessage {
            form,
            error: Some(e.message()),
            ..Default::default()
        },
    )
    .await
}

#[post("/admin/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    post: FormPost,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let username = post.form.text("username").to_string();
    let hall = post.form.text("hall").to_string();
    let password = post
        .form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let Some(role) = Role::parse(post.form.text("role")) else {
        return render_users(
            &state,
            &post.session,
            StatusCode::BAD_REQUEST,
            UsersMessage {
                form: (username, hall),
                error: Some("请选择角色。".into()),
                ..Default::default()
            },
        )
        .await;
    };
    if let Err(e) =
        accounts::validate_username(&username).and_then(|()| accounts::validate_password(&password))
    {
        return users_error(&state, &post.session, e.into(), (username, hall)).await;
    }
    let cost = state.settings.password_hash;
    let p = password.clone();
    let hash = state
        .hash_gate
        .run(move || accounts::hash_password(&p, cost))
        .await
        .and_then(|h| h)?;
    let now = state.now();
    let actor = post.session.staff.username.clone();
    let (u, h) = (username.clone(), hall.clone());
    let outcome = state
        .db(move |conn| {
            Ok::<_, ApiError>(accounts::create_user_hashed(
                conn,
                &NewAccount {
                    username: &u,
                    password: &password,
                    role,
                    hall_code: &h,
                },
                &hash,
                &actor,
                now,
            ))
        })
        .await?;
    match outcome {
        Ok(_) => {
            render_users(
                &state,
                &post.session,
                StatusCode::CREATED,
                UsersMessage {
                    notice: Some(format!("账号 {username} 已创建。")),
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => users_error(&state, &post.session, e.into(), (username, hall)).await,
    }
}

/// One button of an account's row: disable, enable, reset the password, unlock, end
/// sessions, reset the second factor. The same functions as the API's routes.
#[post("/admin/users/{username}/{action}")]
pub async fn user_action(
    state: web::Data<AppState>,
    ip: ClientIp,
    post: FormPost,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    admin_only(&post.session)?;
    let (username, action) = path.into_inner();
    let actor = Actor {
        name: post.session.staff.username.clone(),
        ip: ip.0.to_string(),
    };
    let now = state.now();
    let u = username.clone();
    let done: Result<UsersMessage, ApiError> = match action.as_str() {
        "disable" | "enable" => {
            let patch = UserPatch {
                active: Some(action == "enable"),
                ..Default::default()
            };
            state
                .db(move |conn| lifecycle::update_user(conn, &u, &patch, &actor, now))
                .await
                .map(|_| UsersMessage {
                    notice: Some(if action == "enable" {
                        format!("账号 {username} 已启用。")
                    } else {
                        format!("账号 {username} 已停用，其所有会话已结束。")
                    }),
                    ..Default::default()
                })
        }
        "hall" => {
            let patch = UserPatch {
                hall: Some(post.form.text("hall").to_string()),
                ..Default::default()
            };
            state
                .db(move |conn| lifecycle::update_user(conn, &u, &patch, &actor, now))
                .await
                .map(|v| UsersMessage {
                    notice: Some(format!("账号 {username} 已改属大厅 {}。", v.hall)),
                    ..Default::default()
                })
        }
        "reset-password" => {
            let temporary = lifecycle::temporary_password();
            let (cost, t) = (state.settings.password_hash, temporary.clone());
            let hash = state
                .hash_gate
                .run(move || accounts::hash_password(&t, cost))
                .await
                .and_then(|h| h)?;
            state
                .db(move |conn| lifecycle::reset_password(conn, &u, &hash, &actor, now))
                .await
                .map(|()| UsersMessage {
                    temporary: Some((username.clone(), temporary)),
                    ..Default::default()
                })
        }
        "unlock" => state
            .db(move |conn| lifecycle::unlock(conn, &u, &actor, now))
            .await
            .map(|_| UsersMessage {
                notice: Some(format!("账号 {username} 的登录限制已解除。")),
                ..Default::default()
            }),
        "end-sessions" => state
            .db(move |conn| lifecycle::end_sessions(conn, &u, &actor, now))
            .await
            .map(|n| UsersMessage {
                notice: Some(format!("已结束账号 {username} 的 {n} 个会话。")),
                ..Default::default()
            }),
        "reset-totp" => state
            .db(move |conn| lifecycle::reset_totp(conn, &u, &actor, now))
            .await
            .map(|()| UsersMessage {
                notice: Some(format!(
                    "账号 {username} 的双重验证已重置，下次登录后需重新设置。"
                )),
                ..Default::default()
            }),
        other => Err(ApiError::not_found(format!("no account action {other}"))),
    };
    match done {
        Ok(message) => render_users(&state, &post.session, StatusCode::OK, message).await,
        Err(e) => users_error(&state, &post.session, e, Default::default()).await,
    }
}

// ---- agent tokens ----------------------------------------------------------------------

pub struct TokenLine {
    pub id: i64,
    pub hall: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenLine>,
    new_token: Option<(String, String)>,
    error: Option<String>,
}

async fn render_tokens(
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
    let now = state.now();
    let actor = post.session.staff.username.clone();
    let h = hall.clone();
    let outcome = state
        .db(move |conn| Ok::<_, ApiError>(accounts::issue_agent_token(conn, &h, &actor, now)))
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

// ---- keys ------------------------------------------------------------------------------

pub struct SignerLine {
    pub kid: String,
    pub sign_from: String,
    pub sign_until: String,
    pub active: bool,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct KeysPage {
    chrome: Chrome,
    signers: Vec<SignerLine>,
    active_kid: Option<String>,
    root: String,
    example: bool,
}

#[get("/admin/keys")]
pub async fn keys_page(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    admin_only(&session)?;
    let list = crate::verification::TrustList::from_keyset(state.sealer.keys(), state.now());
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
    let signers: Vec<SignerLine> = list
        .signers
        .iter()
        .map(|s| SignerLine {
            kid: s.kid.clone(),
            sign_from: day(s.sign_from),
            sign_until: day(s.sign_until),
            active: s.active,
            revoked: s.revoked,
        })
        .collect();
    html(
        StatusCode::OK,
        &KeysPage {
            chrome: Chrome::new("信任列表与签章密钥", &session),
            active_kid: signers.iter().find(|s| s.active).map(|s| s.kid.clone()),
            signers,
            root: list.root,
            example: state.sealer.keys().is_example(),
        },
    )
}
