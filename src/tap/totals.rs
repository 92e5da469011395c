//! Every tap, reached through the bridge a real request would get, reports exactly the usage the
//! upstream sent: totals, cache reads and writes, reasoning. These are the counts the request
//! ledger bills, so a tap that rounds, drops the cache or loses a stream's last event fails here.

use crate::bridge::Answer;
use crate::config::Config;
use crate::contract::routes::ClientApi;
use crate::contract::Contract;
use crate::plan::{plan, Caller, Decision, Plan};
use crate::request::ClientRequest;
use crate::tap::{run, TapEnv};
use crate::usage::Usage;
use bytes::Bytes;
use pingora_http::ResponseHeader;
use serde_json::json;
use std::path::Path;

fn config() -> Config {
    let dir = std::env::temp_dir().join(format!("stav-totals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keys.toml"), "").unwrap();
    let text = r#"
[[providers]]
name = "vllm"
api = "openai"
base_url = "http://127.0.0.1:1/v1"
[[providers]]
name = "anthropic"
api = "anthropic"
base_url = "https://api.anthropic.com"
[[models]]
name = "qwen3-32b"
provider = "vllm"
tier = "sovereign"
[[models]]
name = "claude-*"
provider = "anthropic"
tier = "global-commercial"
"#;
    Config::from_toml(text, &dir, Path::new("t.toml")).unwrap()
}

fn planned(api: ClientApi, model: &str, stream: bool) -> Box<Plan> {
    let cfg = config();
    let team = cfg.team("t");
    let caller = Caller {
        team: &team,
        key_max_tier: None,
        header_max_tier: None,
        models: &[],
    };
    let body = match api {
        ClientApi::Responses => json!({"model": model, "input": "hi", "stream": stream}),
        _ => json!({"model": model, "max_tokens": 50, "stream": stream,
                    "messages": [{"role": "user", "content": "hi"}]}),
    };
    let body = Bytes::from(serde_json::to_vec(&body).unwrap());
    match plan(
        &cfg,
        &caller,
        &ClientRequest::new(api, &body, None).unwrap(),
    )
    .unwrap()
    {
        Decision::Proxy(p) => p,
        Decision::Answer { .. } => panic!("expected a proxied plan"),
    }
}

/// What an OpenAI-compatible upstream reports: 120 prompt tokens of which 100 from the cache,
/// 40 completion tokens of which 25 reasoning.
const OPENAI_USAGE: &str = r#"{"prompt_tokens":120,"completion_tokens":40,"total_tokens":160,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":25}}"#;
const FROM_OPENAI: Usage = Usage {
    input_tokens: 120,
    output_tokens: 40,
    cached_tokens: 100,
    cache_write_tokens: 0,
    reasoning_tokens: 25,
};

/// What Anthropic reports: 20 uncached input tokens, 100 read from the cache, 7 written to it;
/// 40 output tokens (the stream's `message_delta` carries the final, cumulative count).
const FROM_ANTHROPIC: Usage = Usage {
    input_tokens: 127,
    output_tokens: 40,
    cached_tokens: 100,
    cache_write_tokens: 7,
    reasoning_tokens: 0,
};

fn openai_whole() -> String {
    format!(
        r#"{{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hi"}},"finish_reason":"stop"}}],"usage":{OPENAI_USAGE}}}"#
    )
}

fn openai_stream() -> String {
    let chunk = |choices: &str, usage: &str| {
        format!(
            r#"data: {{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":{choices},"usage":{usage}}}"#
        ) + "\n\n"
    };
    [
        chunk(
            r#"[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]"#,
            "null",
        ),
        chunk(r#"[{"index":0,"delta":{},"finish_reason":"stop"}]"#, "null"),
        chunk("[]", OPENAI_USAGE),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat()
}

fn anthropic_whole() -> String {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
           "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": null,
           "usage": {"input_tokens": 20, "cache_read_input_tokens": 100,
                     "cache_creation_input_tokens": 7, "output_tokens": 40}})
    .to_string()
}

fn anthropic_stream() -> String {
    let ev = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
    [
        ev("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "claude-x", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 20, "cache_read_input_tokens": 100,
                      "cache_creation_input_tokens": 7, "output_tokens": 1}}})),
        ev("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Hi"}})),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ev("message_delta", json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 40}})),
        ev("message_stop", json!({"type": "message_stop"})),
    ]
    .concat()
}

/// The usage the bridge's tap reports after the whole upstream body, split at every offset for
/// streams (events arriving across reads must not be miscounted).
fn reported(api: ClientApi, model: &str, stream: bool, body: &str) -> Usage {
    let p = planned(api, model, stream);
    let contract = match api {
        ClientApi::Messages => Contract::Anthropic,
        _ => Contract::OpenAi,
    };
    let env = TapEnv {
        contract,
        request_id: "req_t",
    };
    let splits: Vec<usize> = if stream {
        (0..body.len()).step_by(7).collect()
    } else {
        vec![body.len() / 2]
    };
    let mut seen = None;
    for at in splits {
        let mut h = ResponseHeader::build(200, None).unwrap();
        let ct = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        h.insert_header("content-type", ct).unwrap();
        let a = Answer {
            status: 200,
            sse: stream,
            request_id: "req_t",
            routing: None,
        };
        let mut head = crate::headers::ClientHead::take(&mut h).unwrap();
        let mut tap = p.bridge.answer(&a, &mut head).unwrap();
        run(
            tap.as_mut(),
            &[&body.as_bytes()[..at], &body.as_bytes()[at..]],
            &env,
        );
        let u = tap.usage().expect("usage reported");
        assert!(seen.is_none_or(|s| s == u), "split {at}: {u:?}");
        seen = Some(u);
    }
    seen.unwrap()
}

#[test]
fn openai_clients_on_openai_upstreams() {
    let chat = ClientApi::ChatCompletions;
    assert_eq!(
        reported(chat, "qwen3-32b", false, &openai_whole()),
        FROM_OPENAI
    );
    assert_eq!(
        reported(chat, "qwen3-32b", true, &openai_stream()),
        FROM_OPENAI
    );
}

#[test]
fn anthropic_clients_on_anthropic_upstreams() {
    let msgs = ClientApi::Messages;
    assert_eq!(
        reported(msgs, "claude-x", false, &anthropic_whole()),
        FROM_ANTHROPIC
    );
    assert_eq!(
        reported(msgs, "claude-x", true, &anthropic_stream()),
        FROM_ANTHROPIC
    );
}

#[test]
fn anthropic_clients_on_openai_upstreams() {
    let msgs = ClientApi::Messages;
    assert_eq!(
        reported(msgs, "qwen3-32b", false, &openai_whole()),
        FROM_OPENAI
    );
    assert_eq!(
        reported(msgs, "qwen3-32b", true, &openai_stream()),
        FROM_OPENAI
    );
}

#[test]
fn openai_clients_on_anthropic_upstreams() {
    let chat = ClientApi::ChatCompletions;
    assert_eq!(
        reported(chat, "claude-x", false, &anthropic_whole()),
        FROM_ANTHROPIC
    );
    assert_eq!(
        reported(chat, "claude-x", true, &anthropic_stream()),
        FROM_ANTHROPIC
    );
}

#[test]
fn responses_api_on_both_upstreams() {
    let r = ClientApi::Responses;
    assert_eq!(
        reported(r, "qwen3-32b", false, &openai_whole()),
        FROM_OPENAI
    );
    assert_eq!(
        reported(r, "qwen3-32b", true, &openai_stream()),
        FROM_OPENAI
    );
    assert_eq!(
        reported(r, "claude-x", false, &anthropic_whole()),
        FROM_ANTHROPIC
    );
    assert_eq!(
        reported(r, "claude-x", true, &anthropic_stream()),
        FROM_ANTHROPIC
    );
}
