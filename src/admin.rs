//! The private admin listener: `GET /metrics` (Prometheus text) and `GET /healthz`.

use async_trait::async_trait;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

pub struct Admin;

fn response(status: u16, content_type: &str, body: Vec<u8>) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .body(body)
        .expect("static response parts are valid")
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/metrics" => {
                let (body, ty) = crate::metrics::render();
                response(200, &ty, body)
            }
            "/healthz" => response(200, "application/json", br#"{"status":"ok"}"#.to_vec()),
            _ => response(
                404,
                "application/json",
                br#"{"error":"not found"}"#.to_vec(),
            ),
        }
    }
}
