//! `/admin/users`: staff accounts and their lifecycle actions.

use super::*;

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
pub(super) struct UsersPage {
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
pub(super) struct UsersMessage {
    form: (String, String),
    notice: Option<String>,
    temporary: Option<(String, String)>,
    error: Option<String>,
}

pub(super) fn short_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub(super) async fn render_users(
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
            role_label: Role::parse(&u.role).map_or("?", crate::web::page::role_label),
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
pub(super) async fn users_error(
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
