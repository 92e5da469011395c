//! OpenAI Chat Completions answers → Anthropic Messages answers (non-streaming), plus the shared
//! stop-reason and usage mappings and error translation.

use super::ids;
use super::request::MessagesMeta;
use crate::usage::Usage;
use serde_json::{json, Value};

/// Anthropic usage from an OpenAI `usage` object. OpenAI's `prompt_tokens` include cached tokens;
/// Anthropic's `input_tokens` exclude them.
pub fn anthropic_usage(u: Option<&Value>, input_estimate: u64) -> Value {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return json!({"input_tokens": input_estimate, "output_tokens": 0,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    };
    let get = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let cache_read = get("/prompt_tokens_details/cached_tokens");
    let cache_write = get("/prompt_tokens_details/cache_write_tokens");
    let mut out = json!({
        "input_tokens": get("/prompt_tokens").saturating_sub(cache_read + cache_write),
        "output_tokens": get("/completion_tokens"),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    });
    if let Some(r) = u
        .pointer("/completion_tokens_details/reasoning_tokens")
        .and_then(Value::as_u64)
    {
        out["output_tokens_details"] = json!({"reasoning_tokens": r});
    }
    out
}

/// For metrics: total prompt and completion tokens of an Anthropic usage object.
pub fn usage_totals(u: &Value) -> Usage {
    let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: get("input_tokens")
            + get("cache_read_input_tokens")
            + get("cache_creation_input_tokens"),
        output_tokens: get("output_tokens"),
    }
}

/// `(stop_reason, stop_sequence)`. A tool call always means `tool_use`, whatever `finish_reason`
/// says (named tool choices and several compat servers answer `stop`).
pub fn stop_reason(
    finish: Option<&str>,
    saw_tool: bool,
    refused: bool,
    matched_stop: Option<&str>,
    meta: &MessagesMeta,
) -> (&'static str, Value) {
    if saw_tool {
        return ("tool_use", Value::Null);
    }
    if refused || finish == Some("content_filter") {
        return ("refusal", Value::Null);
    }
    match finish {
        Some("length") => ("max_tokens", Value::Null),
        Some("tool_calls") | Some("function_call") => ("tool_use", Value::Null),
        _ => match matched_stop.filter(|s| meta.stop_sequences.iter().any(|x| x == s)) {
            Some(s) => ("stop_sequence", json!(s)),
            None => ("end_turn", Value::Null),
        },
    }
}

/// Parse tool arguments; a model's broken JSON becomes `{}` rather than an error the SDK cannot
/// recover from.
pub fn parse_arguments(args: &str) -> Option<Value> {
    if args.trim().is_empty() {
        return Some(json!({}));
    }
    serde_json::from_str::<Value>(args)
        .ok()
        .filter(Value::is_object)
}

pub fn chat_to_message(resp: &Value, meta: &MessagesMeta) -> Value {
    let choice = resp.pointer("/choices/0").unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let mut content = Vec::new();
    if meta.thinking {
        if let Some(r) = msg
            .get("reasoning_content")
            .or_else(|| msg.get("reasoning"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
    }
    if let Some(t) = msg
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({"type": "text", "text": t}));
    }
    let refusal = msg
        .get("refusal")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    if let Some(r) = refusal {
        content.push(json!({"type": "text", "text": r}));
    }
    let mut saw_tool = false;
    for tc in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let args = tc
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = parse_arguments(args).unwrap_or_else(|| {
            log::warn!("upstream tool call arguments are not a JSON object; sent as {{}}");
            json!({})
        });
        saw_tool = true;
        content.push(json!({
            "type": "tool_use",
            "id": ids::to_anthropic(tc.get("id").and_then(Value::as_str)),
            "name": tc.pointer("/function/name").and_then(Value::as_str).unwrap_or(""),
            "input": input,
        }));
    }
    let (stop, seq) = stop_reason(
        choice.get("finish_reason").and_then(Value::as_str),
        saw_tool,
        refusal.is_some(),
        choice.get("stop_reason").and_then(Value::as_str),
        meta,
    );
    let mut msg = json!({
        "id": ids::message_id(resp.get("id").and_then(Value::as_str)),
        "type": "message",
        "role": "assistant",
        "model": meta.client_model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": seq,
        "usage": anthropic_usage(resp.get("usage"), meta.input_estimate),
    });
    if let Some(r) = &meta.routing {
        msg["routing_metadata"] = r.clone();
    }
    msg
}

/// Status and Anthropic error type for an upstream error status on a translated route.
pub fn map_error_status(status: u16) -> (u16, &'static str) {
    match status {
        400 | 422 => (400, "invalid_request_error"),
        401 | 403 => (502, "api_error"),
        404 => (404, "not_found_error"),
        413 => (413, "request_too_large"),
        429 => (429, "rate_limit_error"),
        503 | 529 => (529, "overloaded_error"),
        504 => (504, "timeout_error"),
        s if s >= 500 => (500, "api_error"),
        _ => (400, "invalid_request_error"),
    }
}

/// An upstream error body (OpenAI-shaped, or anything) → an Anthropic error body.
pub fn error_to_anthropic(upstream_body: &[u8], ty: &str, request_id: &str) -> Vec<u8> {
    let message = serde_json::from_slice::<Value>(upstream_body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("detail"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "The model's upstream returned an error.".to_string());
    serde_json::to_vec(&json!({"type": "error", "error": {"type": ty, "message": message}, "request_id": request_id}))
        .expect("json serializes")
}
