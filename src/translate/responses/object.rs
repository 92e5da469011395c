//! The Responses API's answer: the response object, its output items and its usage, shared by
//! whole answers and streams of both upstream kinds.

use crate::json_at::At;
use crate::usage::Usage;
use serde_json::{json, Map, Value};

/// What every answer of one Responses request shares, fixed when the request is planned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponsesMeta {
    /// `resp_…`, shared with the request id so logs join.
    pub id: String,
    pub created_at: u64,
    /// The model name the client sees (the chosen one for `auto`).
    pub client_model: String,
    pub stream: bool,
    /// Names of free-form tools: their calls are `custom_tool_call` items.
    pub custom_tools: Vec<String>,
    /// Namespaced functions as sent upstream: (flat name, namespace, name).
    pub namespaced: Vec<(String, String, String)>,
    /// `include: ["reasoning.encrypted_content"]`.
    pub encrypted_reasoning: bool,
    pub dropped: Vec<String>,
    pub routing: Option<Value>,
    /// The request's settings as the response object echoes them (instructions, tools, ...).
    pub echo: Map<String, Value>,
    /// This request's input items, with ids (`GET …/input_items`).
    pub input_items: Vec<Value>,
    /// The conversation before this request (`previous_response_id`'s context, input, output).
    pub context: Vec<Value>,
    /// Keep the answer for later retrieval and continuation.
    pub store: bool,
}

/// The request settings a response object echoes, with OpenAI's defaults.
pub fn echo_of(req: &Value, store: bool) -> Map<String, Value> {
    let get = |k: &str| req.get(k).filter(|v| !v.is_null()).cloned();
    let mut e = Map::new();
    e.insert(
        "instructions".into(),
        get("instructions").unwrap_or(Value::Null),
    );
    e.insert(
        "max_output_tokens".into(),
        get("max_output_tokens").unwrap_or(Value::Null),
    );
    e.insert(
        "parallel_tool_calls".into(),
        get("parallel_tool_calls").unwrap_or(json!(true)),
    );
    e.insert(
        "previous_response_id".into(),
        get("previous_response_id").unwrap_or(Value::Null),
    );
    let reasoning = req.get("reasoning");
    e.insert(
        "reasoning".into(),
        json!({
            "effort": reasoning.and_then(|r| r.get("effort")).cloned().unwrap_or(Value::Null),
            "summary": reasoning.and_then(|r| r.get("summary")).cloned().unwrap_or(Value::Null),
        }),
    );
    e.insert("store".into(), json!(store));
    e.insert(
        "temperature".into(),
        get("temperature").unwrap_or(json!(1.0)),
    );
    e.insert(
        "text".into(),
        get("text").unwrap_or_else(|| json!({"format": {"type": "text"}})),
    );
    e.insert(
        "tool_choice".into(),
        get("tool_choice").unwrap_or(json!("auto")),
    );
    e.insert("tools".into(), get("tools").unwrap_or(json!([])));
    e.insert("top_p".into(), get("top_p").unwrap_or(json!(1.0)));
    e.insert(
        "truncation".into(),
        get("truncation").unwrap_or(json!("disabled")),
    );
    e.insert("user".into(), get("user").unwrap_or(Value::Null));
    e.insert("metadata".into(), get("metadata").unwrap_or(json!({})));
    e
}

/// Why an answer stopped short of completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    MaxOutputTokens,
    ContentFilter,
}

impl Incomplete {
    fn reason(self) -> &'static str {
        match self {
            Incomplete::MaxOutputTokens => "max_output_tokens",
            Incomplete::ContentFilter => "content_filter",
        }
    }
}

/// The response object. `status`: `in_progress`, `completed`, `incomplete` or `failed`.
pub fn response_object(
    meta: &ResponsesMeta,
    status: &str,
    output: Vec<Value>,
    usage: Option<Value>,
    incomplete: Option<Incomplete>,
    error: Option<Value>,
) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(meta.id));
    o.insert("object".into(), json!("response"));
    o.insert("created_at".into(), json!(meta.created_at));
    o.insert("status".into(), json!(status));
    if status == "completed" {
        o.insert("completed_at".into(), json!(unix_now()));
    }
    o.insert("background".into(), json!(false));
    o.insert("error".into(), error.unwrap_or(Value::Null));
    o.insert(
        "incomplete_details".into(),
        incomplete.map_or(Value::Null, |i| json!({"reason": i.reason()})),
    );
    o.insert("model".into(), json!(meta.client_model));
    o.insert("output".into(), Value::Array(output));
    for (k, v) in &meta.echo {
        o.insert(k.clone(), v.clone());
    }
    o.insert("usage".into(), usage.unwrap_or(Value::Null));
    if let Some(r) = &meta.routing {
        o.insert("routing_metadata".into(), r.clone());
    }
    Value::Object(o)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Token counts as the Responses API reports them: `input_tokens` include cached ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub input: u64,
    pub cached: u64,
    /// Prompt-cache writes (part of `input`): not in the Responses API's usage object, but billed.
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Counts {
    pub fn json(&self) -> Value {
        json!({
            "input_tokens": self.input,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.input + self.output,
        })
    }

    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input,
            output_tokens: self.output,
            cached_tokens: self.cached,
            cache_write_tokens: self.cache_write,
            reasoning_tokens: self.reasoning,
        }
    }

    /// From a Chat Completions `usage` object.
    pub fn from_chat(u: &Value) -> Self {
        let get = |p: &str| u.at(p).and_then(Value::as_u64).unwrap_or(0);
        Counts {
            input: get("/prompt_tokens"),
            cached: get("/prompt_tokens_details/cached_tokens"),
            cache_write: get("/prompt_tokens_details/cache_write_tokens"),
            output: get("/completion_tokens"),
            reasoning: get("/completion_tokens_details/reasoning_tokens"),
        }
    }

    /// From an Anthropic `usage` object: its `input_tokens` exclude cache reads and writes.
    pub fn from_anthropic(u: &Value) -> Self {
        let get = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let cached = get("cache_read_input_tokens");
        let cache_write = get("cache_creation_input_tokens");
        Counts {
            input: get("input_tokens") + cached + cache_write,
            cached,
            cache_write,
            output: get("output_tokens"),
            reasoning: 0,
        }
    }
}

/// An assistant message item.
pub fn message_item(id: &str, status: &str, texts: &[String], refusal: Option<&str>) -> Value {
    let mut content: Vec<Value> = texts.iter().map(|t| output_text(t)).collect();
    if let Some(r) = refusal {
        content.push(json!({"type": "refusal", "refusal": r}));
    }
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

pub fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

impl ResponsesMeta {
    /// A tool call item for a call the upstream made by (flat) `name`.
    pub fn call_item(
        &self,
        id: &str,
        status: &str,
        call_id: &str,
        name: &str,
        arguments: &str,
    ) -> Value {
        let custom = self.custom_tools.iter().any(|c| c == name);
        let mut item = call_item(id, status, call_id, name, arguments, custom);
        if let Some((_, ns, inner)) = self.namespaced.iter().find(|(flat, ..)| flat == name) {
            item["name"] = json!(inner);
            item["namespace"] = json!(ns);
        }
        item
    }

    pub fn is_custom(&self, name: &str) -> bool {
        self.custom_tools.iter().any(|c| c == name)
    }
}

/// A tool call item: `function_call`, or `custom_tool_call` for free-form tools (whose input
/// travelled upstream as the `input` argument of a function).
pub fn call_item(
    id: &str,
    status: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    custom: bool,
) -> Value {
    if custom {
        let input = serde_json::from_str::<Value>(arguments)
            .ok()
            .and_then(|v| v.get("input").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| arguments.to_string());
        return json!({"id": id, "type": "custom_tool_call", "status": status,
                      "call_id": call_id, "name": name, "input": input});
    }
    json!({"id": id, "type": "function_call", "status": status,
           "call_id": call_id, "name": name, "arguments": arguments})
}

/// A reasoning item: the model's own reasoning text, and `encrypted_content` when the client
/// asked for it and the upstream gave something to continue with.
pub fn reasoning_item(id: &str, status: &str, text: &str, encrypted: Option<&str>) -> Value {
    let mut item = json!({"id": id, "type": "reasoning", "status": status, "summary": [],
        "content": if text.is_empty() { json!([]) } else { json!([{"type": "reasoning_text", "text": text}]) }});
    if let Some(e) = encrypted {
        item["encrypted_content"] = json!(e);
    }
    item
}
