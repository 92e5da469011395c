//! Anthropic Messages answer → OpenAI chat completion, and the shared mappings.

use super::request::ChatMeta;
use crate::json_at::At;
use serde_json::{json, Value};

pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI usage from Anthropic usage: `prompt_tokens` include cache reads and writes.
pub fn openai_usage(u: &Value) -> Value {
    let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = get("cache_read_input_tokens");
    let prompt = get("input_tokens") + cached + get("cache_creation_input_tokens");
    let completion = get("output_tokens");
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached}})
}

pub fn chat_id(msg_id: Option<&str>) -> String {
    format!("chatcmpl-{}", msg_id.unwrap_or("stav"))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn message_to_chat(msg: &Value, meta: &ChatMeta) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in msg
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match b.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
            "thinking" => {
                reasoning.push_str(b.get("thinking").and_then(Value::as_str).unwrap_or(""))
            }
            "tool_use" => calls.push(json!({
                "id": b.get("id").and_then(Value::as_str).unwrap_or(""),
                "type": "function",
                "function": {"name": b.get("name").and_then(Value::as_str).unwrap_or(""),
                             "arguments": b.get("input").unwrap_or(&json!({})).to_string()},
            })),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }, "refusal": null});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let mut out = json!({
        "id": chat_id(msg.get("id").and_then(Value::as_str)),
        "object": "chat.completion",
        "created": unix_now(),
        "model": meta.client_model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": finish_reason(msg.get("stop_reason").and_then(Value::as_str))}],
        "usage": openai_usage(msg.get("usage").unwrap_or(&Value::Null)),
    });
    if let Some(r) = &meta.routing {
        out["routing_metadata"] = r.clone();
    }
    out
}

/// An Anthropic error body → an OpenAI error body.
pub fn error_to_openai(upstream_body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(upstream_body).unwrap_or(Value::Null);
    let message = v
        .at("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("The model's upstream returned an error.");
    let ty = v
        .at("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("api_error");
    serde_json::to_vec(
        &json!({"error": {"message": message, "type": ty, "param": null, "code": null}}),
    )
    .expect("json serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_tools_usage_and_stop() {
        let meta = ChatMeta {
            client_model: "claude-x".into(),
            ..Default::default()
        };
        let c = message_to_chat(
            &json!({"id": "msg_1", "content": [
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_9", "name": "w", "input": {"city": "Oslo"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 1, "output_tokens": 4}}),
            &meta,
        );
        assert_eq!(c["id"], "chatcmpl-msg_1");
        assert_eq!(c["model"], "claude-x");
        let m = &c["choices"][0]["message"];
        assert_eq!(m["content"], "Let me look.");
        assert_eq!(m["reasoning_content"], "hm");
        assert_eq!(
            m["tool_calls"][0],
            json!({"id": "toolu_9", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Oslo\"}"}})
        );
        assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            c["usage"],
            json!({"prompt_tokens": 16, "completion_tokens": 4, "total_tokens": 20, "prompt_tokens_details": {"cached_tokens": 5}})
        );
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("stop_sequence")), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("refusal")), "content_filter");
        assert_eq!(finish_reason(None), "stop");
    }

    #[test]
    fn errors() {
        let e: Value = serde_json::from_slice(&error_to_openai(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ))
        .unwrap();
        assert_eq!(
            e,
            json!({"error": {"message": "Overloaded", "type": "overloaded_error", "param": null, "code": null}})
        );
    }
}
