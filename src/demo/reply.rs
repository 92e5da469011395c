//! What the demo model says: deterministic answers in OpenAI's shapes, computed from the request.
//!
//! It is a simulator for local use and tests, not a language model: text echoes a short summary
//! of the prompt, tool calls and structured output are filled from the caller's JSON schemas,
//! embeddings are derived from a hash of the input.

use crate::json_at::At;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Text(String),
    ToolCall { name: String, arguments: String },
}

/// One simulated completion for a chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub model: String,
    pub id: String,
    pub answers: Vec<Answer>,
    pub prompt_tokens: u64,
    /// Anthropic requests with `thinking`: the thinking block that comes first.
    pub thinking: Option<String>,
}

/// The signature the simulator gives its thinking (and checks, as Claude does, when a
/// conversation sends thinking back).
pub fn thinking_signature(thinking: &str) -> String {
    let digest = Sha256::digest(thinking.as_bytes());
    format!("demo-sig-{}", hex::encode(&digest[..12]))
}

/// The completion for an Anthropic Messages request: read through the gateway's own translator
/// (system, tools, tool results, `output_config.format`), with thinking when it is asked for and
/// earlier thinking checked like Claude checks it.
pub fn anthropic_request(req: &Value) -> Result<Completion, String> {
    for (i, m) in req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for b in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if b.get("type").and_then(Value::as_str) == Some("thinking") {
                let text = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                if b.get("signature").and_then(Value::as_str) != Some(&thinking_signature(text)) {
                    return Err(format!(
                        "messages.{i}: Invalid `signature` in `thinking` block"
                    ));
                }
            }
        }
    }
    let model = req.get("model").and_then(Value::as_str).unwrap_or("demo");
    let mut probe = req.clone();
    if probe.get("max_tokens").is_none() {
        probe["max_tokens"] = json!(1024);
    }
    let chat = crate::translate::request::messages_to_chat(&probe, model).map_err(|e| e.message)?;
    let mut c = complete(&chat.body);
    let thinks = matches!(
        req.at("/thinking/type").and_then(Value::as_str),
        Some("enabled" | "adaptive")
    );
    if thinks {
        c.thinking = Some(format!(
            "The demo model considers the request ({} words).",
            c.prompt_tokens
        ));
    }
    Ok(c)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

pub fn completion_tokens(a: &Answer) -> u64 {
    match a {
        Answer::Text(t) => words(t).max(1),
        Answer::ToolCall { arguments, .. } => (arguments.len() as u64 / 4).max(1),
    }
}

/// A value that satisfies (the common subset of) a JSON schema; `$ref`s resolve against `root`.
pub fn example_for_schema(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r.strip_prefix("#/").map(|p| {
            p.split('/')
                .fold(root, |v, k| v.get(k).unwrap_or(&Value::Null))
        });
        return target.map_or(Value::Null, |t| example_for_schema(t, root, depth + 1));
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for alt in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(alt)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return example_for_schema(first, root, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), example_for_schema(v, root, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let item = schema.get("items").unwrap_or(&Value::Null);
            json!([example_for_schema(item, root, depth + 1)])
        }
        "integer" => json!(42),
        "number" => json!(4.2),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!("demo"),
    }
}

fn text_answer(prompt: &str) -> String {
    let p = prompt.to_lowercase();
    let topic = if p.contains("sovereign") {
        "EU sovereignty for AI means the models, the data and the people operating them stay under EU law, on infrastructure in the EU."
    } else if p.contains("hello") || p.contains("hi ") {
        "Hello from the Stav demo model."
    } else {
        "This is the Stav demo model; point a provider at a real upstream for real answers."
    };
    let shown: String = prompt.chars().take(80).collect();
    format!("{topic} (demo answer to: \"{shown}\")")
}

/// The completion for a chat request body.
pub fn complete(req: &Value) -> Completion {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo")
        .to_string();
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let prompt_tokens: u64 = messages
        .iter()
        .map(|m| words(&content_text(m.get("content").unwrap_or(&Value::Null))) + 3)
        .sum();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let n = req
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 8) as usize;

    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty());
    let tool_choice = req.get("tool_choice");
    let after_tool = messages
        .last()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("tool");
    let answer = match tools {
        Some(tools) if tool_choice != Some(&json!("none")) && !after_tool => {
            let named = tool_choice
                .and_then(|c| c.at("/function/name"))
                .and_then(Value::as_str);
            let tool = tools
                .iter()
                .find(|t| {
                    named.is_none() || t.at("/function/name").and_then(Value::as_str) == named
                })
                .unwrap_or(&tools[0]);
            let name = tool
                .at("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("tool")
                .to_string();
            let params = tool
                .at("/function/parameters")
                .cloned()
                .unwrap_or(json!({}));
            let args = example_for_schema(&params, &params, 0);
            Answer::ToolCall {
                name,
                arguments: args.to_string(),
            }
        }
        _ => match req.at("/response_format/type").and_then(Value::as_str) {
            Some("json_schema") => {
                let schema = req
                    .at("/response_format/json_schema/schema")
                    .cloned()
                    .unwrap_or(json!({}));
                Answer::Text(example_for_schema(&schema, &schema, 0).to_string())
            }
            Some("json_object") => {
                Answer::Text(json!({"answer": text_answer(&last_user)}).to_string())
            }
            _ if after_tool => Answer::Text(format!(
                "The tool returned: {}",
                content_text(
                    messages
                        .last()
                        .and_then(|m| m.get("content"))
                        .unwrap_or(&Value::Null)
                )
            )),
            _ => Answer::Text(text_answer(&last_user)),
        },
    };
    let digest = Sha256::digest(serde_json::to_vec(req).unwrap_or_default());
    Completion {
        model,
        id: format!("chatcmpl-demo{}", hex::encode(&digest[..8])),
        answers: vec![answer; n],
        prompt_tokens,
        thinking: None,
    }
}

fn usage(c: &Completion) -> Value {
    let out: u64 = c.answers.iter().map(completion_tokens).sum();
    json!({"prompt_tokens": c.prompt_tokens, "completion_tokens": out, "total_tokens": c.prompt_tokens + out})
}

fn finish_reason(a: &Answer) -> &'static str {
    match a {
        Answer::Text(_) => "stop",
        Answer::ToolCall { .. } => "tool_calls",
    }
}

fn call_id(c: &Completion, i: usize) -> String {
    format!("call_{}_{i}", &c.id["chatcmpl-demo".len()..])
}

pub fn completion_json(c: &Completion, created: u64) -> Value {
    let choices: Vec<Value> = c
        .answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let message = match a {
                Answer::Text(t) => json!({"role": "assistant", "content": t, "refusal": null}),
                Answer::ToolCall { name, arguments } => json!({
                    "role": "assistant", "content": null, "refusal": null,
                    "tool_calls": [{"id": call_id(c, i), "type": "function",
                                    "function": {"name": name, "arguments": arguments}}]
                }),
            };
            json!({"index": i, "message": message, "logprobs": null, "finish_reason": finish_reason(a)})
        })
        .collect();
    json!({
        "id": c.id, "object": "chat.completion", "created": created, "model": c.model,
        "choices": choices, "usage": usage(c), "system_fingerprint": "fp_stav_demo",
    })
}

/// Split into pieces of about `size` characters on char boundaries.
fn pieces(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

/// The stream as SSE events (each `data: …\n\n`), `[DONE]` included.
pub fn completion_events(c: &Completion, created: u64, include_usage: bool) -> Vec<String> {
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut v = json!({
            "id": c.id, "object": "chat.completion.chunk", "created": created, "model": c.model,
            "system_fingerprint": "fp_stav_demo", "choices": choices,
        });
        if include_usage {
            v["usage"] = usage.unwrap_or(Value::Null);
        }
        format!("data: {v}\n\n")
    };
    let mut events = Vec::new();
    for (i, a) in c.answers.iter().enumerate() {
        events.push(chunk(
            json!([{"index": i, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]),
            None,
        ));
        match a {
            Answer::Text(t) => {
                for w in t.split_inclusive(' ') {
                    events.push(chunk(json!([{"index": i, "delta": {"content": w}, "logprobs": null, "finish_reason": null}]), None));
                }
            }
            Answer::ToolCall { name, arguments } => {
                events.push(chunk(
                    json!([{"index": i, "delta": {"tool_calls": [{"index": 0, "id": call_id(c, i), "type": "function",
                        "function": {"name": name, "arguments": ""}}]}, "logprobs": null, "finish_reason": null}]),
                    None,
                ));
                for p in pieces(arguments, 7) {
                    events.push(chunk(
                        json!([{"index": i, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}, "logprobs": null, "finish_reason": null}]),
                        None,
                    ));
                }
            }
        }
        events.push(chunk(
            json!([{"index": i, "delta": {}, "logprobs": null, "finish_reason": finish_reason(a)}]),
            None,
        ));
    }
    if include_usage {
        events.push(chunk(json!([]), Some(usage(c))));
    }
    events.push("data: [DONE]\n\n".to_string());
    events
}

/// The first answer as an Anthropic message.
pub fn anthropic_json(c: &Completion) -> Value {
    let (answer, stop) = match &c.answers[0] {
        Answer::Text(t) => (json!({"type": "text", "text": t}), "end_turn"),
        Answer::ToolCall { name, arguments } => (
            json!({"type": "tool_use", "id": call_id(c, 0), "name": name,
                    "input": serde_json::from_str::<Value>(arguments).unwrap_or(json!({}))}),
            "tool_use",
        ),
    };
    let mut content = Vec::new();
    if let Some(t) = &c.thinking {
        content
            .push(json!({"type": "thinking", "thinking": t, "signature": thinking_signature(t)}));
    }
    content.push(answer);
    json!({"id": format!("msg_{}", &c.id["chatcmpl-".len()..]), "type": "message", "role": "assistant",
           "model": c.model, "content": content, "stop_reason": stop, "stop_sequence": null,
           "usage": {"input_tokens": c.prompt_tokens, "output_tokens": completion_tokens(&c.answers[0])}})
}

/// The first answer as an Anthropic event stream (text answers: one delta per word).
pub fn anthropic_events(c: &Completion) -> Vec<String> {
    let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
    let mut out = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {
            "id": format!("msg_{}", &c.id["chatcmpl-".len()..]), "type": "message", "role": "assistant",
            "model": c.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": c.prompt_tokens, "output_tokens": 1}}}),
    )];
    let mut index = 0;
    if let Some(t) = &c.thinking {
        out.push(ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})));
        out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": t}})));
        out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": thinking_signature(t)}})));
        out.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    let stop = match &c.answers[0] {
        Answer::Text(t) => {
            out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
            for w in t.split_inclusive(' ') {
                out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": w}})));
            }
            "end_turn"
        }
        Answer::ToolCall { name, arguments } => {
            out.push(ev("content_block_start", json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": call_id(c, 0), "name": name, "input": {}}})));
            out.push(ev("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": arguments}})));
            "tool_use"
        }
    };
    out.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    ));
    out.push(ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": completion_tokens(&c.answers[0])}}),
    ));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

/// Deterministic unit vectors from a hash of each input.
pub fn embeddings_json(req: &Value) -> Result<Value, String> {
    let model = req.get("model").and_then(Value::as_str).unwrap_or("demo");
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        _ => return Err("input must be a string or a non-empty array".into()),
    };
    let dims = req
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(16)
        .clamp(1, 4096) as usize;
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut total = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            total += words(text).max(1);
            let v = vector(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(json!({"object": "list", "data": data, "model": model,
              "usage": {"prompt_tokens": total, "total_tokens": total}}))
}

pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(dims);
    let mut block = 0u32;
    while out.len() < dims {
        let d = Sha256::new()
            .chain_update(block.to_le_bytes())
            .chain_update(text)
            .finalize();
        out.extend(
            d.chunks(2)
                .map(|b| (u16::from_le_bytes([b[0], b[1]]) as f32 / 32767.5) - 1.0),
        );
        block += 1;
    }
    out.truncate(dims);
    let norm = out
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    out.iter_mut().for_each(|x| *x /= norm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_answer_reflects_the_prompt() {
        let c = complete(
            &json!({"model": "m", "messages": [{"role": "user", "content": "In one sentence, what is EU sovereignty for AI?"}]}),
        );
        let Answer::Text(t) = &c.answers[0] else {
            panic!()
        };
        assert!(t.contains("EU law"));
        assert!(t.contains("what is EU sovereignty"));
        assert!(c.prompt_tokens > 0);
    }

    #[test]
    fn tool_call_arguments_follow_the_schema() {
        let c = complete(
            &json!({"model": "m", "messages": [{"role": "user", "content": "weather?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
                "required": ["city"]}}}]}),
        );
        let Answer::ToolCall { name, arguments } = &c.answers[0] else {
            panic!()
        };
        assert_eq!(name, "get_weather");
        let args: Value = serde_json::from_str(arguments).unwrap();
        assert_eq!(args, json!({"city": "demo", "unit": "c"}));
    }

    #[test]
    fn after_a_tool_result_it_answers_in_text() {
        let c = complete(
            &json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c", "content": "22C"}]}),
        );
        assert_eq!(c.answers[0], Answer::Text("The tool returned: 22C".into()));
    }

    #[test]
    fn structured_output_resolves_refs() {
        let schema = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
            "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}}}}});
        assert_eq!(
            example_for_schema(&schema, &schema, 0),
            json!({"items": [{"n": 42, "ok": true}]})
        );
    }

    #[test]
    fn stream_reassembles_to_the_same_text_with_usage_last() {
        let c = complete(
            &json!({"model": "m", "messages": [{"role": "user", "content": "hello there"}]}),
        );
        let ev = completion_events(&c, 1, true);
        let mut text = String::new();
        for e in &ev[..ev.len() - 1] {
            let v: Value = serde_json::from_str(e.strip_prefix("data: ").unwrap().trim()).unwrap();
            if let Some(t) = v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            {
                text.push_str(t);
            }
        }
        assert_eq!(Answer::Text(text), c.answers[0]);
        assert!(ev[ev.len() - 2].contains("\"choices\":[]"));
        assert_eq!(ev.last().unwrap(), "data: [DONE]\n\n");
    }

    #[test]
    fn embeddings_float_and_base64_agree() {
        let f =
            embeddings_json(&json!({"model": "e", "input": ["a", "b"], "dimensions": 5})).unwrap();
        let b = embeddings_json(&json!({"model": "e", "input": ["a", "b"], "dimensions": 5, "encoding_format": "base64"})).unwrap();
        let floats: Vec<f32> = serde_json::from_value(f["data"][1]["embedding"].clone()).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b["data"][1]["embedding"].as_str().unwrap())
            .unwrap();
        let decoded: Vec<f32> = raw
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, decoded);
        assert_eq!(floats.len(), 5);
        assert!(embeddings_json(&json!({"input": []})).is_err());
    }
}
