//! The built-in demo upstream: a small OpenAI-compatible server on loopback, so the default
//! configuration answers its first request on a fresh machine. Also the `stav-mock-upstream`
//! binary's engine.

pub mod reply;

use crate::json_at::At;
use async_trait::async_trait;
use bytes::Bytes;
use pingora_core::apps::{HttpServerApp, ReusedHttpStream};
use pingora_core::protocols::http::ServerSession;
use pingora_core::server::ShutdownWatch;
use pingora_http::ResponseHeader;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub struct DemoUpstream {
    pub token_delay: Duration,
    /// Largest request body accepted.
    pub max_body: usize,
    /// When set, every text answer is this many one-word chunks (benchmarks want fixed sizes).
    pub chunks: Option<usize>,
}

enum Reply {
    Json(u16, Value),
    Events(Vec<String>),
}

fn error(status: u16, message: &str) -> Reply {
    Reply::Json(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

/// An error as Anthropic's API words it.
fn anthropic_error(status: u16, message: &str) -> Reply {
    Reply::Json(
        status,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}}),
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Route one request; paths are matched on their last segments so any `/v1` prefix works.
fn handle(method: &str, path: &str, body: &[u8], chunks: Option<usize>) -> Reply {
    let path = path.trim_end_matches('/');
    if method == "GET" && path.ends_with("/models") {
        return Reply::Json(
            200,
            json!({"object": "list", "data": [{"id": "stav-demo", "object": "model", "created": 0, "owned_by": "stav"}]}),
        );
    }
    if method != "POST" {
        return error(404, "not found");
    }
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return error(400, "body is not JSON");
    };
    if path.ends_with("/messages/count_tokens") {
        return match reply::anthropic_request(&req) {
            Ok(c) => Reply::Json(200, json!({"input_tokens": c.prompt_tokens})),
            Err(m) => anthropic_error(400, &m),
        };
    }
    if path.ends_with("/messages") {
        let mut c = match reply::anthropic_request(&req) {
            Ok(c) => c,
            Err(m) => return anthropic_error(400, &m),
        };
        if let Some(n) = chunks {
            c.answers = vec![reply::Answer::Text("token ".repeat(n))];
        }
        return if req.get("stream").and_then(Value::as_bool) == Some(true) {
            Reply::Events(reply::anthropic_events(&c))
        } else {
            Reply::Json(200, reply::anthropic_json(&c))
        };
    }
    if path.ends_with("/chat/completions") {
        let mut c = reply::complete(&req);
        if let Some(n) = chunks {
            c.answers = vec![reply::Answer::Text("token ".repeat(n)); c.answers.len()];
        }
        if req.get("stream").and_then(Value::as_bool) == Some(true) {
            let usage = req
                .at("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true);
            Reply::Events(reply::completion_events(&c, unix_now(), usage))
        } else {
            Reply::Json(200, reply::completion_json(&c, unix_now()))
        }
    } else if path.ends_with("/embeddings") {
        match reply::embeddings_json(&req) {
            Ok(v) => Reply::Json(200, v),
            Err(m) => error(400, &m),
        }
    } else {
        error(404, "not found")
    }
}

impl DemoUpstream {
    async fn serve(&self, http: &mut ServerSession) -> pingora_error::Result<()> {
        let method = http.req_header().method.to_string();
        let path = http.req_header().uri.path().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = http.read_request_body().await? {
            body.extend_from_slice(&chunk);
            if body.len() > self.max_body {
                break;
            }
        }
        match handle(&method, &path, &body, self.chunks) {
            Reply::Json(status, v) => {
                let bytes = serde_json::to_vec(&v).expect("json serializes");
                let mut resp = ResponseHeader::build(status, Some(2))?;
                resp.insert_header("content-type", "application/json")?;
                resp.insert_header("content-length", bytes.len().to_string())?;
                http.write_response_header(Box::new(resp)).await?;
                http.write_response_body(Bytes::from(bytes), true).await?;
            }
            Reply::Events(events) => {
                let mut resp = ResponseHeader::build(200, Some(3))?;
                resp.insert_header("content-type", "text/event-stream")?;
                resp.insert_header("cache-control", "no-cache")?;
                resp.insert_header("transfer-encoding", "chunked")?;
                http.write_response_header(Box::new(resp)).await?;
                for e in events {
                    if !self.token_delay.is_zero() {
                        tokio::time::sleep(self.token_delay).await;
                    }
                    http.write_response_body(Bytes::from(e), false).await?;
                }
                http.finish_body().await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl HttpServerApp for DemoUpstream {
    async fn process_new_http(
        self: &Arc<Self>,
        mut http: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !http.read_request().await.ok()? {
            return None;
        }
        http.set_keepalive(Some(60));
        if let Err(e) = self.serve(&mut http).await {
            log::debug!("demo upstream: {e}");
            return None;
        }
        let settings = pingora_core::apps::HttpPersistentSettings::for_session(&http);
        http.finish()
            .await
            .ok()
            .flatten()
            .map(|s| ReusedHttpStream::from_reusable_stream(s, settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_suffix() {
        assert!(matches!(
            handle("GET", "/v1/models", b"", None),
            Reply::Json(200, _)
        ));
        assert!(matches!(
            handle("POST", "/v1/chat/completions", b"{\"messages\":[]}", None),
            Reply::Json(200, _)
        ));
        assert!(matches!(
            handle(
                "POST",
                "/v1/chat/completions",
                b"{\"messages\":[],\"stream\":true}",
                Some(3)
            ),
            Reply::Events(_)
        ));
        assert!(matches!(
            handle("POST", "/v1/embeddings", b"{\"input\":\"x\"}", None),
            Reply::Json(200, _)
        ));
        assert!(matches!(
            handle("POST", "/v1/embeddings", b"nope", None),
            Reply::Json(400, _)
        ));
        assert!(matches!(
            handle("POST", "/v1/other", b"{}", None),
            Reply::Json(404, _)
        ));
    }
}
