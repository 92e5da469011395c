//! OpenAI Chat Completions answers → Anthropic Messages answers (non-streaming), plus the shared
//! stop-reason and usage mappings and error translation.

use super::ids;
use super::request::MessagesMeta;
use crate::json_at::At;
use crate::usage::Usage;
use serde::Serialize;
use serde_json::{json, Value};

/// Anthropic usage from an OpenAI `usage` object. OpenAI's `prompt_tokens` include cached tokens;
/// Anthropic's `input_tokens` exclude them.
pub fn anthropic_usage(u: Option<&Value>, input_estimate: u64) -> Value {
    serde_json::to_value(usage_of(u, input_estimate)).expect("json serializes")
}

#[derive(Serialize)]
struct UsageOut {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens_details: Option<ReasoningOut>,
}

#[derive(Serialize)]
struct ReasoningOut {
    reasoning_tokens: u64,
}

fn usage_of(u: Option<&Value>, input_estimate: u64) -> UsageOut {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return UsageOut {
            input_tokens: input_estimate,
            output_tokens: 0,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens_details: None,
        };
    };
    let get = |p: &str| u.at(p).and_then(Value::as_u64);
    let cache_read = get("/prompt_tokens_details/cached_tokens").unwrap_or(0);
    let cache_write = get("/prompt_tokens_details/cache_write_tokens").unwrap_or(0);
    UsageOut {
        input_tokens: get("/prompt_tokens")
            .unwrap_or(0)
            .saturating_sub(cache_read + cache_write),
        output_tokens: get("/completion_tokens").unwrap_or(0),
        cache_creation_input_tokens: cache_write,
        cache_read_input_tokens: cache_read,
        output_tokens_details: get("/completion_tokens_details/reasoning_tokens").map(|r| {
            ReasoningOut {
                reasoning_tokens: r,
            }
        }),
    }
}

/// The totals of an Anthropic usage object (as `anthropic_usage` writes it from OpenAI's).
pub fn usage_totals(u: &Value) -> Usage {
    crate::usage::anthropic_counts(u)
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

/// An Anthropic message, in the order Anthropic writes its fields. Typed rather than built as a
/// `Value`: no per-key allocation or hashing on the hot path of every translated answer.
#[derive(Serialize)]
pub struct MessageOut<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Value,
    usage: UsageOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_metadata: Option<&'a Value>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'static str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Value,
    },
}

pub fn chat_to_message<'a>(resp: &'a Value, meta: &'a MessagesMeta) -> MessageOut<'a> {
    let choice = resp
        .get("choices")
        .and_then(|c| c.get(0))
        .unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let text = |v: Option<&'a Value>| v.and_then(Value::as_str).filter(|t| !t.is_empty());
    let mut content = Vec::new();
    if meta.thinking {
        // `reasoning` only when there is no `reasoning_content` member at all.
        if let Some(r) = text(
            msg.get("reasoning_content")
                .or_else(|| msg.get("reasoning")),
        ) {
            content.push(Block::Thinking {
                thinking: r,
                signature: "",
            });
        }
    }
    if let Some(t) = text(msg.get("content")) {
        content.push(Block::Text { text: t });
    }
    let refusal = text(msg.get("refusal"));
    if let Some(r) = refusal {
        content.push(Block::Text { text: r });
    }
    let mut saw_tool = false;
    for tc in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = tc.get("function").unwrap_or(&Value::Null);
        let args = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = parse_arguments(args).unwrap_or_else(|| {
            log::warn!("upstream tool call arguments are not a JSON object; sent as {{}}");
            json!({})
        });
        saw_tool = true;
        content.push(Block::ToolUse {
            id: ids::to_anthropic(tc.get("id").and_then(Value::as_str)),
            name: function.get("name").and_then(Value::as_str).unwrap_or(""),
            input,
        });
    }
    let (stop, seq) = stop_reason(
        choice.get("finish_reason").and_then(Value::as_str),
        saw_tool,
        refusal.is_some(),
        choice.get("stop_reason").and_then(Value::as_str),
        meta,
    );
    MessageOut {
        id: ids::message_id(resp.get("id").and_then(Value::as_str)),
        kind: "message",
        role: "assistant",
        model: &meta.client_model,
        content,
        stop_reason: stop,
        stop_sequence: seq,
        usage: usage_of(resp.get("usage"), meta.input_estimate),
        routing_metadata: meta.routing.as_ref(),
    }
}

/// `chat_to_message`, serialized: what goes to the client.
pub fn chat_to_message_json(resp: &Value, meta: &MessagesMeta) -> Vec<u8> {
    serde_json::to_vec(&chat_to_message(resp, meta)).expect("json serializes")
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
            v.at("/error/message")
                .or_else(|| v.get("message"))
                .or_else(|| v.get("detail"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "The model's upstream returned an error.".to_string());
    serde_json::to_vec(&json!({"type": "error", "error": {"type": ty, "message": message}, "request_id": request_id}))
        .expect("json serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> MessagesMeta {
        MessagesMeta {
            client_model: "qwen-client".into(),
            input_estimate: 42,
            stop_sequences: vec!["END".into()],
            ..MessagesMeta::default()
        }
    }

    /// The answer as the client's SDK reads it: compared byte for byte, key order included.
    fn translate(resp: Value, meta: &MessagesMeta) -> String {
        String::from_utf8(chat_to_message_json(&resp, meta)).unwrap()
    }

    #[test]
    fn text_answer_with_cached_and_reasoning_usage() {
        let out = translate(
            json!({"id": "chatcmpl-abc.1", "choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "Hi \"there\"\n"}}],
                   "usage": {"prompt_tokens": 100, "completion_tokens": 7,
                             "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 10},
                             "completion_tokens_details": {"reasoning_tokens": 3}}}),
            &meta(),
        );
        assert_eq!(
            out,
            r#"{"id":"msg_chatcmpl_abc_1","type":"message","role":"assistant","model":"qwen-client","content":[{"type":"text","text":"Hi \"there\"\n"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":7,"cache_creation_input_tokens":10,"cache_read_input_tokens":60,"output_tokens_details":{"reasoning_tokens":3}}}"#
        );
    }

    #[test]
    fn tool_calls_win_over_finish_reason_and_odd_ids_are_encoded() {
        let out = translate(
            json!({"id": "c1", "choices": [{"finish_reason": "stop", "message": {"content": null,
                   "tool_calls": [
                     {"id": "functions.Bash:0", "type": "function",
                      "function": {"name": "bash", "arguments": "{\"cmd\": \"ls\", \"n\": 1.5}"}},
                     {"id": "call_2", "type": "function", "function": {"name": "noop", "arguments": ""}},
                     {"id": "call_3", "type": "function", "function": {"name": "bad", "arguments": "[1,"}}]}}]}),
            &meta(),
        );
        assert_eq!(
            out,
            r#"{"id":"msg_c1","type":"message","role":"assistant","model":"qwen-client","content":[{"type":"tool_use","id":"toolu_x66756e6374696f6e732e426173683a30","name":"bash","input":{"cmd":"ls","n":1.5}},{"type":"tool_use","id":"call_2","name":"noop","input":{}},{"type":"tool_use","id":"call_3","name":"bad","input":{}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#
        );
    }

    #[test]
    fn thinking_refusal_and_stop_reasons() {
        let thinking = MessagesMeta {
            thinking: true,
            ..meta()
        };
        let v: Value = serde_json::from_str(&translate(
            json!({"id": "c", "choices": [{"finish_reason": "length", "message": {
                   "reasoning_content": "hmm", "content": "partial"}}]}),
            &thinking,
        ))
        .unwrap();
        assert_eq!(
            v["content"],
            json!([{"type": "thinking", "thinking": "hmm", "signature": ""},
                   {"type": "text", "text": "partial"}])
        );
        assert_eq!(v["stop_reason"], "max_tokens");
        // Without thinking asked for, reasoning is not shown.
        let v: Value = serde_json::from_str(&translate(
            json!({"choices": [{"finish_reason": "stop", "message": {"reasoning": "hmm", "content": "ok"}}]}),
            &meta(),
        ))
        .unwrap();
        assert_eq!(v["content"], json!([{"type": "text", "text": "ok"}]));
        assert!(v["id"].as_str().unwrap().starts_with("msg_"));
        let v: Value = serde_json::from_str(&translate(
            json!({"choices": [{"finish_reason": "stop", "message": {"content": "", "refusal": "no"}}]}),
            &meta(),
        ))
        .unwrap();
        assert_eq!(v["content"], json!([{"type": "text", "text": "no"}]));
        assert_eq!(v["stop_reason"], "refusal");
        for (finish, stop_reason, seq) in [
            (
                json!({"finish_reason": "content_filter"}),
                "refusal",
                Value::Null,
            ),
            (
                json!({"finish_reason": "stop", "stop_reason": "END"}),
                "stop_sequence",
                json!("END"),
            ),
            (
                json!({"finish_reason": "stop", "stop_reason": "OTHER"}),
                "end_turn",
                Value::Null,
            ),
            (
                json!({"finish_reason": "tool_calls"}),
                "tool_use",
                Value::Null,
            ),
        ] {
            let mut choice = finish;
            choice["message"] = json!({"content": "x"});
            let v: Value =
                serde_json::from_str(&translate(json!({"choices": [choice]}), &meta())).unwrap();
            assert_eq!(
                (v["stop_reason"].as_str().unwrap(), &v["stop_sequence"]),
                (stop_reason, &seq)
            );
        }
    }

    #[test]
    fn routing_metadata_comes_last_and_an_empty_answer_is_still_a_message() {
        let routed = MessagesMeta {
            routing: Some(json!({"selected_model": "m"})),
            ..meta()
        };
        let out = translate(json!({"id": "x", "choices": []}), &routed);
        assert_eq!(
            out,
            r#"{"id":"msg_x","type":"message","role":"assistant","model":"qwen-client","content":[],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0},"routing_metadata":{"selected_model":"m"}}"#
        );
    }
}
