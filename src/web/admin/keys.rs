//! `/admin/keys`: the trust list with the active signer.

use super::*;

pub struct SignerLine {
    pub kid: String,
    pub sign_from: String,
    pub sign_until: String,
    pub active: bool,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
pub(super) struct KeysPage {
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
