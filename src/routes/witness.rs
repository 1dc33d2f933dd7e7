//! The witness process's HTTP side (`crosscert witness serve`): tlog-witness
//! `POST /add-checkpoint` over `tlog::witness::Witness`, which decides every answer.

use crate::tlog::witness::{Answer, Witness};
use actix_web::{web, App, HttpResponse, HttpServer};

async fn add_checkpoint(w: web::Data<Witness>, body: String) -> HttpResponse {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let w2 = w.clone();
    let answer = web::block(move || w2.add_checkpoint(&body, now))
        .await
        .unwrap_or(Answer::Unprocessable("witness busy"));
    match answer {
        Answer::Cosigned(line) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(line),
        Answer::Conflict(size) => HttpResponse::Conflict()
            .content_type("text/x.tlog.size")
            .body(format!("{size}\n")),
        Answer::BadRequest(m) => HttpResponse::BadRequest().body(format!("{m}\n")),
        Answer::Forbidden => {
            HttpResponse::Forbidden().body("no valid signature by the log's key\n")
        }
        Answer::UnknownLog => HttpResponse::NotFound().body("unknown log origin\n"),
        Answer::Unprocessable(m) => HttpResponse::UnprocessableEntity().body(format!("{m}\n")),
    }
}

/// Serve until stopped; prints the bound address (`listening on ADDR`) on stdout.
pub async fn serve(witness: Witness, bind: &str) -> std::io::Result<()> {
    let data = web::Data::new(witness);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::default().limit(64 * 1024))
            .route("/add-checkpoint", web::post().to(add_checkpoint))
    })
    .workers(1)
    .bind(bind)?;
    for addr in server.addrs() {
        println!("listening on {addr}");
    }
    server.run().await
}

/// Runs the witness server on its own actix system until stopped (the CLI's entry point).
pub fn run(witness: Witness, bind: &str) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(serve(witness, bind))
}
