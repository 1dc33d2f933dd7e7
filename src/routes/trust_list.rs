//! `GET /api/v1/trust-list`: the root and every signer with its kid (public).

use crate::state::AppState;
use crate::wire::verify::TrustList;
use actix_web::{get, web, HttpResponse};

#[utoipa::path(tag = "public", responses((status = 200, body = TrustList)))]
#[get("/api/v1/trust-list")]
pub async fn trust_list(state: web::Data<AppState>) -> HttpResponse {
    let list = crate::verification::TrustList::from_keyset(state.sealer.keys(), state.now());
    HttpResponse::Ok().json(list)
}
