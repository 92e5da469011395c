//! Whole (non-streaming) answers as response objects: from a chat completion, or from an
//! Anthropic message.

use super::object::{
    message_item, reasoning_item, response_object, Counts, Incomplete, ResponsesMeta,
};
use super::request::{new_id, seal_redacted, seal_thinking};
use crate::json_at::At;
use crate::translate::ids;
use serde_json::Value;

/// A chat completion → a response object, with its token counts.
pub fn from_chat(resp: &Value, meta: &ResponsesMeta) -> (Value, Counts) {
    let choice = resp
        .get("choices")
        .and_then(|c| c.get(0))
        .unwrap_or(&Value::Null);
    let msg = choice.get("message").unwrap_or(&Value::Null);
    let text = |k: &str| msg.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
    let mut output = Vec::new();
    if let Some(r) = text("reasoning_content").or_else(|| text("reasoning")) {
        output.push(reasoning_item(&new_id("rs"), "completed", r, None));
    }
    let refusal = text("refusal");
    if let Some(c) = text("content") {
        output.push(message_item(
            &new_id("msg"),
            "completed",
            &[c.to_string()],
            refusal,
        ));
    } else if let Some(r) = refusal {
        output.push(message_item(&new_id("msg"), "completed", &[], Some(r)));
    }
    for call in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = call
            .at("/function/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
            .map_or_else(|| new_id("call"), str::to_string);
        output.push(
            meta.call_item(
                &new_id("fc"),
                "completed",
                &call_id,
                name,
                call.at("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}"),
            ),
        );
    }
    let counts = resp.get("usage").map(Counts::from_chat).unwrap_or_default();
    let incomplete = match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => Some(Incomplete::MaxOutputTokens),
        Some("content_filter") => Some(Incomplete::ContentFilter),
        _ => None,
    };
    let status = if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    (
        response_object(meta, status, output, Some(counts.json()), incomplete, None),
        counts,
    )
}

/// An Anthropic message → a response object, with its token counts.
pub fn from_message(msg: &Value, meta: &ResponsesMeta) -> (Value, Counts) {
    let mut output = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    let flush = |texts: &mut Vec<String>, output: &mut Vec<Value>| {
        if !texts.is_empty() {
            output.push(message_item(
                &new_id("msg"),
                "completed",
                &std::mem::take(texts),
                None,
            ));
        }
    };
    for b in msg
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("");
        match s("type") {
            "text" => texts.push(s("text").to_string()),
            "thinking" => {
                flush(&mut texts, &mut output);
                let sealed = meta
                    .encrypted_reasoning
                    .then(|| seal_thinking(s("thinking"), s("signature")));
                output.push(reasoning_item(
                    &new_id("rs"),
                    "completed",
                    s("thinking"),
                    sealed.as_deref(),
                ));
            }
            "redacted_thinking" => {
                flush(&mut texts, &mut output);
                if meta.encrypted_reasoning {
                    let sealed = seal_redacted(s("data"));
                    output.push(reasoning_item(
                        &new_id("rs"),
                        "completed",
                        "",
                        Some(&sealed),
                    ));
                }
            }
            "tool_use" => {
                flush(&mut texts, &mut output);
                let name = s("name");
                let args = b
                    .get("input")
                    .map_or_else(|| "{}".to_string(), Value::to_string);
                output.push(meta.call_item(
                    &new_id("fc"),
                    "completed",
                    &ids::to_openai(s("id")),
                    name,
                    &args,
                ));
            }
            // Server tool blocks never occur: the gateway offers Claude no server tools.
            _ => {}
        }
    }
    flush(&mut texts, &mut output);
    let counts = msg
        .get("usage")
        .map(Counts::from_anthropic)
        .unwrap_or_default();
    let incomplete = match msg.get("stop_reason").and_then(Value::as_str) {
        Some("max_tokens") | Some("model_context_window_exceeded") => {
            Some(Incomplete::MaxOutputTokens)
        }
        Some("refusal") => Some(Incomplete::ContentFilter),
        _ => None,
    };
    let status = if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    (
        response_object(meta, status, output, Some(counts.json()), incomplete, None),
        counts,
    )
}
