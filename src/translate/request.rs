//! Anthropic Messages request → OpenAI Chat Completions request.
//!
//! Fields with no OpenAI counterpart are dropped and named in `dropped`, which the gateway
//! reports in the `x-stav-dropped-fields` response header; fields that would change the answer's
//! meaning if dropped (server tools, unsupported document sources) are a 400 instead.

use super::ids;
use crate::contract::{ErrorKind, GatewayError};
use crate::json_at::At;
use serde_json::{json, Map, Value};

/// What the response side needs to know about the request it answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagesMeta {
    /// Echoed in responses: the model the client asked for.
    pub client_model: String,
    pub stream: bool,
    /// The client asked for thinking: upstream reasoning becomes thinking blocks.
    pub thinking: bool,
    pub stop_sequences: Vec<String>,
    /// Estimated prompt tokens (for `message_start` and `count_tokens`).
    pub input_estimate: u64,
    /// Request fields that had no mapping and were not sent.
    pub dropped: Vec<String>,
    /// `routing_metadata` to show the client (`model: "auto"`).
    pub routing: Option<Value>,
}

#[derive(Debug)]
pub struct Translated {
    pub body: Value,
    pub meta: MessagesMeta,
}

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::InvalidRequest, msg)
}

/// Top-level fields that have no OpenAI counterpart: dropped and reported.
const DROPPED_TOP_LEVEL: &[&str] = &[
    "top_k",
    "cache_control",
    "service_tier",
    "container",
    "context_management",
    "mcp_servers",
    "inference_geo",
    "speed",
    "diagnostics",
];

const KNOWN_TOP_LEVEL: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

pub fn messages_to_chat(req: &Value, upstream_model: &str) -> Result<Translated, GatewayError> {
    let obj = req
        .as_object()
        .ok_or_else(|| bad("the request body must be a JSON object"))?;
    let client_model = obj
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("model: Field required"))?
        .to_string();
    let max_tokens = match obj.get("max_tokens") {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| bad("max_tokens: Input should be a valid non-negative integer"))?,
        None => return Err(bad("max_tokens: Field required")),
    };
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages: Field required (a list of messages)"))?;
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);

    let mut meta = MessagesMeta {
        client_model,
        stream,
        ..MessagesMeta::default()
    };
    for (k, _) in obj {
        if DROPPED_TOP_LEVEL.contains(&k.as_str()) || !KNOWN_TOP_LEVEL.contains(&k.as_str()) {
            meta.dropped.push(k.clone());
        }
    }

    let mut out = Map::new();
    out.insert("model".into(), json!(upstream_model));
    let mut chat: Vec<Value> = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = obj.get("system") {
        let text = match system {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Null => String::new(),
            _ => return Err(bad("system: must be a string or a list of text blocks")),
        };
        if !text.is_empty() {
            chat.push(json!({"role": "system", "content": text}));
        }
    }
    for (i, m) in messages.iter().enumerate() {
        convert_message(m, i, &mut chat)?;
    }
    repair_tool_pairs(&mut chat);
    out.insert("messages".into(), Value::Array(chat));
    out.insert("max_tokens".into(), json!(max_tokens));

    if let Some(stops) = obj.get("stop_sequences").and_then(Value::as_array) {
        meta.stop_sequences = stops
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        if !meta.stop_sequences.is_empty() {
            out.insert("stop".into(), json!(meta.stop_sequences));
        }
    }
    for k in ["temperature", "top_p"] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(user) = req.at("/metadata/user_id").and_then(Value::as_str) {
        out.insert("user".into(), json!(user));
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }

    let (tools, deferred) = convert_tools(obj.get("tools"))?;
    if deferred {
        // Claude Code's tool search loads these on demand; a model without it cannot.
        meta.dropped.push("tools.defer_loading".into());
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = obj.get("tool_choice").filter(|c| !c.is_null()) {
            let (oa_choice, parallel) = convert_tool_choice(choice)?;
            out.insert("tool_choice".into(), oa_choice);
            if parallel == Some(false) {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }

    match obj
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
    {
        Some("enabled") => {
            meta.thinking = true;
            let budget = req
                .at("/thinking/budget_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let effort = match budget {
                0..=4095 => "low",
                4096..=16383 => "medium",
                _ => "high",
            };
            out.insert("reasoning_effort".into(), json!(effort));
        }
        Some("adaptive") => {
            meta.thinking = true;
        }
        _ => {}
    }
    if let Some(effort) = req.at("/output_config/effort").and_then(Value::as_str) {
        let effort = match effort {
            "xhigh" | "max" => "high",
            e => e,
        };
        out.insert("reasoning_effort".into(), json!(effort));
    }
    if let Some(format) = req.at("/output_config/format") {
        if format.get("type").and_then(Value::as_str) == Some("json_schema") {
            let schema = format.get("schema").cloned().unwrap_or(json!({}));
            out.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}),
            );
        }
    }

    let body = Value::Object(out);
    meta.input_estimate = estimate_tokens(&body);
    Ok(Translated { body, meta })
}

fn text_of_blocks(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An image or document block → an OpenAI content part.
fn media_part(block: &Value, at: &str) -> Result<Value, GatewayError> {
    let ty = block.get("type").and_then(Value::as_str).unwrap_or("");
    let source = block.get("source").unwrap_or(&Value::Null);
    let src_ty = source.get("type").and_then(Value::as_str).unwrap_or("");
    match (ty, src_ty) {
        ("image", "base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png");
            let data = source.get("data").and_then(Value::as_str).unwrap_or("");
            Ok(
                json!({"type": "image_url", "image_url": {"url": format!("data:{media};base64,{data}")}}),
            )
        }
        ("image", "url") => {
            let url = source.get("url").and_then(Value::as_str).unwrap_or("");
            Ok(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        ("document", "base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or("application/pdf");
            let data = source.get("data").and_then(Value::as_str).unwrap_or("");
            Ok(json!({"type": "file", "file": {
                "filename": block.get("title").and_then(Value::as_str).unwrap_or("document.pdf"),
                "file_data": format!("data:{media};base64,{data}")}}))
        }
        ("document", "text") => {
            let data = source.get("data").and_then(Value::as_str).unwrap_or("");
            let text = match block.get("title").and_then(Value::as_str) {
                Some(t) => format!("{t}\n\n{data}"),
                None => data.to_string(),
            };
            Ok(json!({"type": "text", "text": text}))
        }
        ("document", "content") => Ok(
            json!({"type": "text", "text": text_of_blocks(source.get("content").unwrap_or(&Value::Null))}),
        ),
        _ => Err(bad(format!(
            "{at}: {ty} source type {src_ty:?} is not supported for this model"
        ))),
    }
}

fn convert_message(m: &Value, i: usize, chat: &mut Vec<Value>) -> Result<(), GatewayError> {
    let at = format!("messages.{i}");
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let content = m.get("content").unwrap_or(&Value::Null);
    let blocks: Vec<Value> = match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(b) => b.clone(),
        _ => {
            return Err(bad(format!(
                "{at}.content: must be a string or a list of blocks"
            )))
        }
    };
    match role {
        "user" => {
            let mut parts: Vec<Value> = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "tool_result" => {
                        let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                        let c = b.get("content").unwrap_or(&Value::Null);
                        let mut text = text_of_blocks(c);
                        if b.get("is_error").and_then(Value::as_bool) == Some(true) {
                            text = format!("Error: {text}");
                        }
                        chat.push(json!({"role": "tool", "tool_call_id": ids::to_openai(id), "content": text}));
                        // Images in a tool result cannot ride in a tool message: they follow in
                        // the user message, labelled.
                        if let Value::Array(inner) = c {
                            for ib in inner.iter().filter(|ib| {
                                ib.get("type").and_then(Value::as_str) == Some("image")
                            }) {
                                parts.push(json!({"type": "text", "text": format!("Image returned by tool call {id}:")}));
                                parts.push(media_part(ib, &format!("{at}.content.{j}"))?);
                            }
                        }
                    }
                    "text" => {
                        let t = b.get("text").and_then(Value::as_str).unwrap_or("");
                        if !t.is_empty() {
                            parts.push(json!({"type": "text", "text": t}));
                        }
                    }
                    "image" | "document" => {
                        parts.push(media_part(b, &format!("{at}.content.{j}"))?)
                    }
                    other => {
                        return Err(bad(format!(
                            "{at}.content.{j}: block type {other:?} is not supported for this model"
                        )))
                    }
                }
            }
            if !parts.is_empty() {
                let all_text = parts
                    .iter()
                    .all(|p| p.get("type").and_then(Value::as_str) == Some("text"));
                let content = if all_text {
                    json!(parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"))
                } else {
                    Value::Array(parts)
                };
                chat.push(json!({"role": "user", "content": content}));
            }
        }
        "assistant" => {
            let mut text = Vec::new();
            let mut calls = Vec::new();
            for b in &blocks {
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => text.push(
                        b.get("text")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ),
                    "tool_use" => calls.push(json!({
                        "id": ids::to_openai(b.get("id").and_then(Value::as_str).unwrap_or("")),
                        "type": "function",
                        "function": {
                            "name": b.get("name").and_then(Value::as_str).unwrap_or(""),
                            "arguments": b.get("input").unwrap_or(&json!({})).to_string(),
                        },
                    })),
                    // Thinking is the model's own; a gateway cannot replay it meaningfully.
                    "thinking" | "redacted_thinking" => {}
                    other => {
                        return Err(bad(format!(
                            "{at}: assistant block type {other:?} is not supported for this model"
                        )))
                    }
                }
            }
            let text = text.join("");
            if text.is_empty() && calls.is_empty() {
                return Ok(());
            }
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            chat.push(msg);
        }
        // Claude Code sends `system` messages inside `messages` (agents, skills, the environment):
        // OpenAI-compatible APIs take them where they stand.
        "system" => {
            let text = text_of_blocks(content);
            if !text.is_empty() {
                chat.push(json!({"role": "system", "content": text}));
            }
        }
        other => {
            return Err(bad(format!(
                "{at}.role: {other:?} is not one of user, assistant, system"
            )))
        }
    }
    Ok(())
}

/// OpenAI requires every assistant tool call to be answered by a tool message right after it,
/// and no tool message without a call. Anthropic histories can break both (a cancelled turn).
fn repair_tool_pairs(chat: &mut Vec<Value>) {
    let mut out: Vec<Value> = Vec::with_capacity(chat.len());
    let mut i = 0;
    while i < chat.len() {
        let m = chat[i].clone();
        i += 1;
        let is_tool = m.get("role").and_then(Value::as_str) == Some("tool");
        if is_tool {
            // A tool message not directly answering a call: dropped.
            continue;
        }
        let calls: Vec<String> = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.push(m);
        if calls.is_empty() {
            continue;
        }
        let mut answered = Vec::new();
        while i < chat.len() && chat[i].get("role").and_then(Value::as_str) == Some("tool") {
            let id = chat[i]
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if calls.contains(&id) && !answered.contains(&id) {
                answered.push(id);
                out.push(chat[i].clone());
            }
            i += 1;
        }
        for id in calls.iter().filter(|c| !answered.contains(c)) {
            out.push(json!({"role": "tool", "tool_call_id": id, "content": "(no result)"}));
        }
    }
    *chat = out;
}

/// Anthropic tools as OpenAI functions, and whether any was deferred (`defer_loading`, left out:
/// only Claude's tool search can load it later).
fn convert_tools(tools: Option<&Value>) -> Result<(Vec<Value>, bool), GatewayError> {
    let Some(tools) = tools.and_then(Value::as_array) else {
        return Ok((Vec::new(), false));
    };
    let mut deferred = false;
    let mut out = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        let ty = t.get("type").and_then(Value::as_str);
        if !matches!(ty, None | Some("custom")) {
            return Err(bad(format!(
                "tools.{i}: server tool {:?} is only available on Claude models",
                ty.unwrap_or_default()
            )));
        }
        if t.get("defer_loading").and_then(Value::as_bool) == Some(true) {
            deferred = true;
            continue;
        }
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("tools.{i}.name: Field required")))?;
        let mut f = json!({"name": name, "parameters": t.get("input_schema").cloned().unwrap_or(json!({"type": "object"}))});
        if let Some(d) = t.get("description") {
            f["description"] = d.clone();
        }
        out.push(json!({"type": "function", "function": f}));
    }
    Ok((out, deferred))
}

/// Returns the OpenAI `tool_choice` and `Some(false)` when parallel calls are disabled.
fn convert_tool_choice(choice: &Value) -> Result<(Value, Option<bool>), GatewayError> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|d| !d);
    let c = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.name: Field required"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => return Err(bad("tool_choice.type: must be auto, any, tool or none")),
    };
    Ok((c, parallel))
}

/// A tokenizer-free estimate: about 4 characters a token, plus per-message overhead. Used where
/// no upstream count exists (`count_tokens` for non-Claude models, `message_start`).
pub fn estimate_tokens(chat_body: &Value) -> u64 {
    fn chars(v: &Value) -> usize {
        match v {
            Value::String(s) if s.starts_with("data:") => 0,
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.iter().map(chars).sum(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| if k == "image_url" { 0 } else { chars(v) })
                .sum(),
            _ => 0,
        }
    }
    /// How often `"image_url"` occurs as a key or a string in `v` (what counting it in the
    /// serialized message found, without serializing it).
    fn image_refs(v: &Value) -> usize {
        match v {
            Value::String(s) => usize::from(s == "image_url"),
            Value::Array(a) => a.iter().map(image_refs).sum(),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| usize::from(k == "image_url") + image_refs(v))
                .sum(),
            _ => 0,
        }
    }
    let messages = chat_body.get("messages").and_then(Value::as_array);
    let images = messages
        .map(|m| m.iter().map(image_refs).sum::<usize>())
        .unwrap_or(0);
    let text = messages
        .map(|m| {
            m.iter()
                .map(|m| {
                    chars(m.get("content").unwrap_or(&Value::Null))
                        + chars(m.get("tool_calls").unwrap_or(&Value::Null))
                })
                .sum::<usize>()
        })
        .unwrap_or(0);
    let tools = chat_body
        .get("tools")
        .map(|t| t.to_string().len())
        .unwrap_or(0);
    let n_messages = messages.map_or(0, Vec::len);
    ((text + tools).div_ceil(4) + 3 * n_messages + 3 + 765 * images) as u64
}

#[cfg(test)]
mod tests;
