//! OpenAI Chat Completions request → Anthropic Messages request.

use crate::contract::{ErrorKind, GatewayError};
use crate::json_at::At;
use crate::translate::ids;
use crate::translate::response::parse_arguments;
use serde_json::{json, Map, Value};

/// Anthropic requires `max_tokens`; OpenAI clients often omit it.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatMeta {
    pub client_model: String,
    pub stream: bool,
    /// The client asked for the final usage chunk.
    pub include_usage: bool,
    pub dropped: Vec<String>,
    /// `routing_metadata` to show the client (`model: "auto"`).
    pub routing: Option<Value>,
}

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::InvalidRequest, msg)
}

/// Fields with a mapping; everything else is dropped and named.
const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "n",
    "response_format",
    "metadata",
];

fn text_parts(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A data URL `data:<media>;base64,<data>` → `(media, data)`.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media, data) = rest.split_once(";base64,")?;
    Some((media, data))
}

fn user_blocks(content: &Value, at: &str) -> Result<Vec<Value>, GatewayError> {
    let parts = match content {
        Value::String(s) => {
            return Ok(if s.is_empty() {
                vec![]
            } else {
                vec![json!({"type": "text", "text": s})]
            })
        }
        Value::Array(p) => p,
        Value::Null => return Ok(vec![]),
        _ => {
            return Err(bad(format!(
                "{at}.content: must be a string or a list of parts"
            )))
        }
    };
    let mut out = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        match p.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                let t = p.get("text").and_then(Value::as_str).unwrap_or("");
                if !t.is_empty() {
                    out.push(json!({"type": "text", "text": t}));
                }
            }
            "image_url" => {
                let url = p.at("/image_url/url").and_then(Value::as_str).unwrap_or("");
                out.push(match data_url(url) {
                    Some((media, data)) => json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}),
                    None => json!({"type": "image", "source": {"type": "url", "url": url}}),
                });
            }
            "file" => {
                let fd = p
                    .at("/file/file_data")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let Some((media, data)) = data_url(fd) else {
                    return Err(bad(format!(
                        "{at}.content.{j}: only inline file_data is supported for this model"
                    )));
                };
                out.push(json!({"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}));
            }
            other => {
                return Err(bad(format!(
                    "{at}.content.{j}: part type {other:?} is not supported for this model"
                )))
            }
        }
    }
    Ok(out)
}

/// Append to the last message when it has the same role (Anthropic alternates roles).
fn push(out: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut() {
        if last["role"] == role {
            last["content"]
                .as_array_mut()
                .expect("built as arrays")
                .extend(blocks);
            return;
        }
    }
    out.push(json!({"role": role, "content": blocks}));
}

pub fn chat_to_messages(
    req: &Value,
    upstream_model: &str,
) -> Result<(Value, ChatMeta), GatewayError> {
    let obj = req
        .as_object()
        .ok_or_else(|| bad("the request body must be a JSON object"))?;
    let client_model = obj
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages: a list of messages is required").with_param("messages"))?;
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(bad("n > 1 is not supported for this model").with_param("n"));
    }
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut meta = ChatMeta {
        client_model,
        stream,
        include_usage: req
            .at("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true),
        dropped: obj
            .keys()
            .filter(|k| !MAPPED.contains(&k.as_str()))
            .cloned()
            .collect(),
        routing: None,
    };

    let mut system = Vec::new();
    let mut out: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages.{i}");
        let content = m.get("content").unwrap_or(&Value::Null);
        match m.get("role").and_then(Value::as_str).unwrap_or("") {
            "system" | "developer" => system.push(text_parts(content)),
            "user" => {
                let blocks = user_blocks(content, &at)?;
                push(&mut out, "user", blocks);
            }
            "assistant" => {
                let mut blocks = Vec::new();
                let text = text_parts(content);
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for tc in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let args = tc
                        .at("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let input = parse_arguments(args).unwrap_or_else(|| json!({}));
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": ids::to_anthropic(tc.get("id").and_then(Value::as_str)),
                        "name": tc.at("/function/name").and_then(Value::as_str).unwrap_or(""),
                        "input": input,
                    }));
                }
                push(&mut out, "assistant", blocks);
            }
            "tool" => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                let block = json!({"type": "tool_result", "tool_use_id": ids::to_anthropic(Some(id)), "content": text_parts(content)});
                push(&mut out, "user", vec![block]);
            }
            other => {
                return Err(
                    bad(format!("{at}.role: {other:?} is not supported")).with_param("messages")
                )
            }
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    let max = obj
        .get("max_completion_tokens")
        .or_else(|| obj.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    body.insert("max_tokens".into(), json!(max));
    let system = system
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(out));
    match obj.get("stop") {
        Some(Value::String(s)) => {
            body.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            body.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(t) = obj.get("temperature").and_then(Value::as_f64) {
        // OpenAI allows 0–2, Anthropic 0–1.
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = obj.get("top_p").filter(|v| v.is_number()) {
        body.insert("top_p".into(), p.clone());
    }
    if let Some(u) = obj.get("user").and_then(Value::as_str) {
        body.insert("metadata".into(), json!({"user_id": u}));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    let tools: Vec<Value> = obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str).unwrap_or("function") == "function")
        .map(|t| {
            let f = t.get("function").unwrap_or(&Value::Null);
            let mut tool = json!({
                "name": f.get("name").and_then(Value::as_str).unwrap_or(""),
                "input_schema": f.get("parameters").cloned().unwrap_or(json!({"type": "object"})),
            });
            if let Some(d) = f.get("description") {
                tool["description"] = d.clone();
            }
            tool
        })
        .collect();
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
        let mut choice = match obj.get("tool_choice") {
            Some(Value::String(s)) if s == "required" => json!({"type": "any"}),
            Some(Value::String(s)) if s == "none" => json!({"type": "none"}),
            Some(Value::Object(o)) => match o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) => json!({"type": "tool", "name": name}),
                None => json!({"type": "auto"}),
            },
            _ => json!({"type": "auto"}),
        };
        if obj.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false)
            && choice["type"] != "none"
        {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        if obj.contains_key("tool_choice") || choice.get("disable_parallel_tool_use").is_some() {
            body.insert("tool_choice".into(), choice);
        }
    }
    match req.at("/response_format/type").and_then(Value::as_str) {
        Some("json_schema") => {
            let schema = req
                .at("/response_format/json_schema/schema")
                .cloned()
                .unwrap_or(json!({}));
            body.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some("json_object") => meta.dropped.push("response_format".into()),
        _ => {}
    }
    Ok((Value::Object(body), meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(req: Value) -> (Value, ChatMeta) {
        chat_to_messages(&req, "claude-up").unwrap()
    }

    #[test]
    fn system_user_and_defaults() {
        let (b, m) = tr(json!({"model": "claude-x", "messages": [
            {"role": "system", "content": "A"}, {"role": "developer", "content": [{"type": "text", "text": "B"}]},
            {"role": "user", "content": "hi"}]}));
        assert_eq!(b["model"], "claude-up");
        assert_eq!(b["system"], "A\n\nB");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(
            b["messages"],
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
        );
        assert_eq!(m.client_model, "claude-x");
    }

    #[test]
    fn sampling_and_limits() {
        let (b, m) = tr(
            json!({"model": "c", "messages": [], "max_completion_tokens": 77, "temperature": 1.6,
            "top_p": 0.5, "stop": "END", "user": "u1", "stream": true, "stream_options": {"include_usage": true},
            "seed": 3, "logprobs": true}),
        );
        assert_eq!(b["max_tokens"], 77);
        assert_eq!(b["temperature"], 1.0);
        assert_eq!(b["top_p"], 0.5);
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["metadata"], json!({"user_id": "u1"}));
        assert_eq!(b["stream"], true);
        assert!(m.include_usage && m.stream);
        assert_eq!(m.dropped, ["seed", "logprobs"]);
    }

    #[test]
    fn images_and_files() {
        let (b, _) = tr(
            json!({"model": "c", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "see"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}},
            {"type": "image_url", "image_url": {"url": "https://example.eu/x.png"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}]}]}),
        );
        let c = &b["messages"][0]["content"];
        assert_eq!(
            c[1],
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}})
        );
        assert_eq!(
            c[2]["source"],
            json!({"type": "url", "url": "https://example.eu/x.png"})
        );
        assert_eq!(c[3]["type"], "document");
    }

    #[test]
    fn tool_calls_and_results_alternate_roles() {
        let (b, _) = tr(json!({"model": "c", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Bergen\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "5C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "7C"},
            {"role": "user", "content": "thanks"}],
            "tools": [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}],
            "tool_choice": "required", "parallel_tool_calls": false}));
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "call_2", "name": "w", "input": {"city": "Bergen"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "5C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "7C"},
                    {"type": "text", "text": "thanks"}]},
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"name": "w", "input_schema": {"type": "object"}}])
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn named_tool_choice_and_schema_output() {
        let (b, _) = tr(json!({"model": "c", "messages": [],
            "tools": [{"type": "function", "function": {"name": "w"}}],
            "tool_choice": {"type": "function", "function": {"name": "w"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}));
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "w"}));
        assert_eq!(
            b["output_config"]["format"]["schema"],
            json!({"type": "object"})
        );
    }

    #[test]
    fn n_above_one_is_refused() {
        assert_eq!(
            chat_to_messages(&json!({"model": "c", "messages": [], "n": 2}), "c")
                .unwrap_err()
                .status(),
            400
        );
    }
}
