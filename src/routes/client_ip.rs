//! The client's address: the TCP peer, unless the peer is a trusted proxy
//! (`CROSSCERT_TRUSTED_PROXIES`); then the right-most address of `X-Forwarded-For` that is not
//! a trusted proxy. Addresses further left were written by the client itself and prove
//! nothing. Login throttling, sessions, logs and audit rows use this address.

use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use ipnet::IpNet;
use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr};

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// An address as written in `X-Forwarded-For` (a bare IPv4/IPv6 address, or one with a port).
fn parse_forwarded(item: &str) -> Option<IpAddr> {
    let item = item.trim().trim_matches('"');
    item.parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

pub fn resolve(peer: Option<IpAddr>, forwarded_for: &[&str], proxies: &[IpNet]) -> IpAddr {
    let Some(mut ip) = peer else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    if !trusted(ip, proxies) {
        return ip;
    }
    // Walk right to left through every header line's entries.
    let entries = forwarded_for
        .iter()
        .flat_map(|line| line.split(','))
        .collect::<Vec<_>>();
    for item in entries.iter().rev() {
        match parse_forwarded(item) {
            Some(hop) => {
                ip = hop;
                if !trusted(hop, proxies) {
                    break;
                }
            }
            // Garbage: the hops left of it cannot be trusted; keep the last good one.
            None => break,
        }
    }
    ip
}

pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let proxies = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.trusted_proxies.as_slice())
        .unwrap_or(&[]);
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    resolve(req.peer_addr().map(|a| a.ip()), &lines, proxies)
}

/// The client's address as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = Ready<Result<ClientIp, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientIp(client_ip(req))))
    }
}

/// The request span of every log line: like tracing-actix-web's default, but its client
/// address is [`client_ip`] (the default believes any client's `X-Forwarded-For`).
pub struct ClientIpSpan;

impl tracing_actix_web::RootSpanBuilder for ClientIpSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_string());
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
            http.client_ip = %client_ip(request.request()),
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        <tracing_actix_web::DefaultRootSpanBuilder as tracing_actix_web::RootSpanBuilder>::on_request_end(
            span, outcome,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // Untrusted peer: its header is ignored.
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &["1.2.3.4"], &proxies),
            ip("203.0.113.9")
        );
        // Trusted peer: the right-most untrusted hop, not what the client wrote further left.
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                &["6.6.6.6, 198.51.100.7", "10.0.0.5"],
                &proxies
            ),
            ip("198.51.100.7")
        );
        // Trusted peer without a header: the peer.
        assert_eq!(resolve(Some(ip("10.0.0.2")), &[], &proxies), ip("10.0.0.2"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            resolve(
                Some(ip("10.0.0.2")),
                &["1.1.1.1, nonsense, 10.0.0.7"],
                &proxies
            ),
            ip("10.0.0.7")
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &["[2001:db8::1]:443"], &proxies),
            ip("2001:db8::1")
        );
    }
}
