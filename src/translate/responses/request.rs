//! A Responses API request, parsed once into typed items, and written as a Chat Completions
//! request (OpenAI-compatible upstreams) or as an Anthropic Messages request (Claude).
//!
//! Built-in tools the gateway cannot run (`web_search`, `file_search`, ...) are dropped and named
//! in `dropped` — Codex sends `web_search` by default and must still work — unless `tool_choice`
//! forces one, which is a 400: the answer could not be what was asked for.

use crate::contract::{ErrorKind, GatewayError};
use crate::json_at::At;
use crate::translate::ids;
use serde_json::{json, Map, Value};

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::InvalidRequest, msg)
}

/// Who speaks in a message item. `developer` is OpenAI's newer name for `system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    System,
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// An image by URL or `data:` URL.
    Image {
        url: String,
    },
    /// A file as a `data:` URL (`file_data`) or by URL.
    File {
        filename: Option<String>,
        data_url: Option<String>,
        url: Option<String>,
    },
}

/// One input item, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Message {
        role: Role,
        parts: Vec<Part>,
    },
    /// A tool call the model made earlier (`function_call`, or `custom_tool_call` whose input
    /// travels as `{"input": ...}` to upstreams that only know function tools).
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The client's result for a call.
    CallOutput {
        call_id: String,
        output: Vec<Part>,
    },
    /// Reasoning the model did earlier; `encrypted` carries what Claude needs to continue it.
    Reasoning {
        text: String,
        encrypted: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Value,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Function(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
        description: Option<String>,
    },
}

/// The request as the bridges need it. `input_items` keeps the client's items (with ids) for
/// `GET /v1/responses/{id}/input_items` and for continuing the conversation later.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub instructions: Option<String>,
    pub items: Vec<Item>,
    pub tools: Vec<FunctionTool>,
    /// Names of `custom` (free-form) tools: sent as function tools with one string argument,
    /// their calls answered as `custom_tool_call` items.
    pub custom_tools: Vec<String>,
    /// Functions of `namespace` tools, sent flat as `{namespace}__{name}`: (flat, namespace, name).
    pub namespaced: Vec<(String, String, String)>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub format: Option<Format>,
    pub effort: Option<String>,
    pub max_output_tokens: Option<u64>,
    pub temperature: Option<Value>,
    pub top_p: Option<Value>,
    pub user: Option<String>,
    pub stream: bool,
    /// `store` (OpenAI's default: true).
    pub store: bool,
    pub previous_response_id: Option<String>,
    /// `include` asks for `reasoning.encrypted_content`.
    pub encrypted_reasoning: bool,
    pub metadata: Option<Value>,
    /// Request fields (and built-in tools) that have no mapping and were not sent.
    pub dropped: Vec<String>,
    pub input_items: Vec<Value>,
}

/// Fields that are understood (mapped, or acted on by the gateway itself).
const KNOWN: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "max_output_tokens",
    "temperature",
    "top_p",
    "metadata",
    "user",
    "safety_identifier",
    "stream",
    "store",
    "previous_response_id",
    "include",
    "background",
    "truncation",
];

/// A namespaced function's name as upstreams see it (tool names allow `[A-Za-z0-9_-]`).
pub fn namespaced_name(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:024x}", rand::random::<u128>() >> 32)
}

fn text_of(v: &Value) -> Option<&str> {
    v.as_str()
}

fn parse_part(p: &Value, at: &str) -> Result<Option<Part>, GatewayError> {
    if let Some(s) = p.as_str() {
        return Ok(Some(Part::Text(s.to_string())));
    }
    let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
    Ok(match ty {
        "input_text" | "output_text" | "text" | "summary_text" | "reasoning_text" => Some(
            Part::Text(p.get("text").and_then(text_of).unwrap_or("").to_string()),
        ),
        "refusal" => Some(Part::Text(
            p.get("refusal").and_then(text_of).unwrap_or("").to_string(),
        )),
        "input_image" => {
            let url = p
                .get("image_url")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad(format!(
                        "{at}: input_image needs image_url (file ids cannot be resolved by this gateway)"
                    ))
                    .with_param("input")
                })?;
            Some(Part::Image {
                url: url.to_string(),
            })
        }
        "input_file" => {
            let data_url = p
                .get("file_data")
                .and_then(Value::as_str)
                .map(str::to_string);
            let url = p
                .get("file_url")
                .and_then(Value::as_str)
                .map(str::to_string);
            if data_url.is_none() && url.is_none() {
                return Err(bad(format!(
                    "{at}: input_file needs file_data or file_url (file ids cannot be resolved by this gateway)"
                ))
                .with_param("input"));
            }
            Some(Part::File {
                filename: p
                    .get("filename")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                data_url,
                url,
            })
        }
        "input_audio" => {
            return Err(bad(format!("{at}: input_audio is not supported")).with_param("input"))
        }
        other => {
            return Err(bad(format!(
                "{at}: content part type {other:?} is not supported"
            ))
            .with_param("input"))
        }
    })
}

fn parse_content(content: &Value, at: &str) -> Result<Vec<Part>, GatewayError> {
    match content {
        Value::String(s) => Ok(vec![Part::Text(s.clone())]),
        Value::Array(parts) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                if let Some(part) = parse_part(p, &format!("{at}.content[{j}]"))? {
                    out.push(part);
                }
            }
            Ok(out)
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(
            bad(format!("{at}.content: must be a string or a list of parts")).with_param("input"),
        ),
    }
}

fn string_field(v: &Value, key: &str, at: &str) -> Result<String, GatewayError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(format!("{at}.{key}: Field required")).with_param("input"))
}

/// The output of a tool call: a string, or a list of content parts.
fn parse_output(v: &Value, at: &str) -> Result<Vec<Part>, GatewayError> {
    match v.get("output") {
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(_)) => parse_content(&json!({"content": v["output"]})["content"], at),
        Some(other) if !other.is_null() => Ok(vec![Part::Text(other.to_string())]),
        _ => Err(bad(format!("{at}.output: Field required")).with_param("input")),
    }
}

/// Parse one input item; `None` for items that only matter to OpenAI's own servers.
fn parse_item(
    v: &Value,
    at: &str,
    dropped: &mut Vec<String>,
) -> Result<Option<Item>, GatewayError> {
    let ty = v.get("type").and_then(Value::as_str);
    // An item without `type` but with a role is an "easy" message.
    let ty = ty.unwrap_or(if v.get("role").is_some() {
        "message"
    } else {
        ""
    });
    match ty {
        "message" => {
            let role = match v.get("role").and_then(Value::as_str).unwrap_or("") {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "system" | "developer" => Role::System,
                other => {
                    return Err(bad(format!(
                        "{at}.role: {other:?} is not one of user, assistant, system, developer"
                    ))
                    .with_param("input"))
                }
            };
            Ok(Some(Item::Message {
                role,
                parts: parse_content(v.get("content").unwrap_or(&Value::Null), at)?,
            }))
        }
        "function_call" => Ok(Some(Item::Call {
            call_id: string_field(v, "call_id", at)?,
            name: match v.get("namespace").and_then(Value::as_str) {
                Some(ns) => namespaced_name(ns, &string_field(v, "name", at)?),
                None => string_field(v, "name", at)?,
            },
            arguments: v
                .get("arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}")
                .to_string(),
        })),
        "custom_tool_call" => Ok(Some(Item::Call {
            call_id: string_field(v, "call_id", at)?,
            name: string_field(v, "name", at)?,
            arguments: json!({"input": v.get("input").and_then(Value::as_str).unwrap_or("")})
                .to_string(),
        })),
        "function_call_output" | "custom_tool_call_output" => Ok(Some(Item::CallOutput {
            call_id: string_field(v, "call_id", at)?,
            output: parse_output(v, at)?,
        })),
        "reasoning" => {
            let mut text = String::new();
            for key in ["content", "summary"] {
                for p in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        text.push_str(t);
                    }
                }
                if !text.is_empty() {
                    break;
                }
            }
            Ok(Some(Item::Reasoning {
                text,
                encrypted: v
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }))
        }
        "item_reference" => Err(bad(format!(
            "{at}: item_reference is not supported; send the item itself or use previous_response_id"
        ))
        .with_param("input")),
        // Calls of built-in tools the gateway never offers: history only OpenAI could replay.
        "web_search_call" | "file_search_call" | "computer_call" | "computer_call_output"
        | "code_interpreter_call" | "image_generation_call" | "local_shell_call"
        | "local_shell_call_output" | "mcp_call" | "mcp_list_tools" | "mcp_approval_request"
        | "mcp_approval_response" | "shell_call" | "shell_call_output" | "apply_patch_call"
        | "apply_patch_call_output" | "compaction" | "tool_search_call" | "tool_search_output" => {
            let name = format!("input.{ty}");
            if !dropped.contains(&name) {
                dropped.push(name);
            }
            Ok(None)
        }
        other => Err(bad(format!("{at}: input item type {other:?} is not supported")).with_param("input")),
    }
}

/// `input` as typed items, and as items with ids for the store.
fn parse_input(
    input: Option<&Value>,
    dropped: &mut Vec<String>,
) -> Result<(Vec<Item>, Vec<Value>), GatewayError> {
    match input {
        None | Some(Value::Null) => Ok((Vec::new(), Vec::new())),
        Some(Value::String(s)) => Ok((
            vec![Item::Message {
                role: Role::User,
                parts: vec![Part::Text(s.clone())],
            }],
            vec![
                json!({"id": new_id("msg"), "type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": s}]}),
            ],
        )),
        Some(Value::Array(items)) => {
            let mut typed = Vec::with_capacity(items.len());
            let mut stored = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                if !v.is_object() {
                    return Err(bad(format!("input[{i}]: must be an object")).with_param("input"));
                }
                if let Some(item) = parse_item(v, &format!("input[{i}]"), dropped)? {
                    typed.push(item);
                    stored.push(with_id(v));
                }
            }
            Ok((typed, stored))
        }
        Some(_) => Err(bad("input: must be a string or a list of items").with_param("input")),
    }
}

/// An input item as `input_items` lists it: typed, with an id.
fn with_id(v: &Value) -> Value {
    let mut item = v.clone();
    let Some(o) = item.as_object_mut() else {
        return item;
    };
    if !o.contains_key("type") {
        o.insert("type".into(), json!("message"));
    }
    if !o.contains_key("id") {
        let prefix = match o.get("type").and_then(Value::as_str) {
            Some("function_call") => "fc",
            Some("function_call_output") => "fco",
            Some("reasoning") => "rs",
            Some("custom_tool_call") => "ctc",
            Some("custom_tool_call_output") => "ctco",
            _ => "msg",
        };
        o.insert("id".into(), json!(new_id(prefix)));
    }
    item
}

fn parse_tools(
    tools: Option<&Value>,
    choice: Option<&Value>,
    out: &mut Parsed,
) -> Result<(), GatewayError> {
    let Some(tools) = tools.filter(|t| !t.is_null()) else {
        return Ok(());
    };
    let tools = tools
        .as_array()
        .ok_or_else(|| bad("tools: must be a list").with_param("tools"))?;
    let forced = choice
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        .filter(|t| !matches!(*t, "function" | "custom" | "allowed_tools"));
    for (i, t) in tools.iter().enumerate() {
        let ty = t.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "namespace" => {
                // A group of functions (Codex: its sub-agent tools): sent flat, the namespace
                // joined to each name, and split again in the answer's calls.
                let ns = string_field(t, "name", &format!("tools[{i}]"))
                    .map_err(|e| e.with_param("tools"))?;
                let inner = t.get("tools").cloned().unwrap_or_else(|| json!([]));
                let mut sub = Parsed::default();
                parse_tools(Some(&inner), None, &mut sub)?;
                for mut f in sub.tools {
                    let flat = namespaced_name(&ns, &f.name);
                    out.namespaced.push((flat.clone(), ns.clone(), f.name));
                    f.name = flat;
                    out.tools.push(f);
                }
                for c in sub.custom_tools {
                    let flat = namespaced_name(&ns, &c);
                    out.namespaced.push((flat.clone(), ns.clone(), c));
                    out.custom_tools.push(flat);
                }
                out.dropped.extend(sub.dropped);
            }
            "function" => out.tools.push(FunctionTool {
                name: string_field(t, "name", &format!("tools[{i}]"))
                    .map_err(|e| e.with_param("tools"))?,
                description: t
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                parameters: t
                    .get("parameters")
                    .filter(|p| !p.is_null())
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                strict: t.get("strict").and_then(Value::as_bool),
            }),
            "custom" => {
                let name = string_field(t, "name", &format!("tools[{i}]"))
                    .map_err(|e| e.with_param("tools"))?;
                let mut description = t
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if let Some(def) = t.at("/format/definition").and_then(Value::as_str) {
                    description.push_str("\n\nThe input must follow this grammar:\n");
                    description.push_str(def);
                }
                out.tools.push(FunctionTool {
                    name: name.clone(),
                    description: Some(description),
                    parameters: json!({"type": "object",
                        "properties": {"input": {"type": "string", "description": "The raw input for the tool."}},
                        "required": ["input"]}),
                    strict: None,
                });
                out.custom_tools.push(name);
            }
            // Tools OpenAI runs on its own servers (web_search, file_search, code_interpreter,
            // mcp, ...): the gateway cannot run them.
            other => {
                if forced == Some(other) {
                    return Err(bad(format!(
                        "tool_choice forces the built-in tool {other:?}, which this gateway cannot run"
                    ))
                    .with_param("tool_choice"));
                }
                let name = format!("tools.{other}");
                if !out.dropped.contains(&name) {
                    out.dropped.push(name);
                }
            }
        }
    }
    Ok(())
}

fn parse_tool_choice(choice: Option<&Value>) -> Result<Option<ToolChoice>, GatewayError> {
    let Some(c) = choice.filter(|c| !c.is_null()) else {
        return Ok(None);
    };
    if let Some(s) = c.as_str() {
        return match s {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            other => Err(bad(format!(
                "tool_choice: {other:?} is not auto, none or required"
            ))
            .with_param("tool_choice")),
        };
    }
    match c.get("type").and_then(Value::as_str) {
        Some("function") | Some("custom") => {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.name: Field required").with_param("tool_choice"))?;
            Ok(Some(ToolChoice::Function(name.to_string())))
        }
        Some("allowed_tools") => Ok(Some(match c.get("mode").and_then(Value::as_str) {
            Some("required") => ToolChoice::Required,
            _ => ToolChoice::Auto,
        })),
        // Forcing a built-in tool was refused with the tools.
        _ => Ok(Some(ToolChoice::Auto)),
    }
}

fn parse_format(
    text: Option<&Value>,
    dropped: &mut Vec<String>,
) -> Result<Option<Format>, GatewayError> {
    let Some(text) = text.filter(|t| t.is_object()) else {
        return Ok(None);
    };
    for (k, _) in text.as_object().into_iter().flatten() {
        if k != "format" {
            dropped.push(format!("text.{k}"));
        }
    }
    let Some(f) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") | None => Ok(None),
        Some("json_object") => Ok(Some(Format::JsonObject)),
        Some("json_schema") => Ok(Some(Format::JsonSchema {
            name: f
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("output")
                .to_string(),
            schema: f
                .get("schema")
                .cloned()
                .ok_or_else(|| bad("text.format.schema: Field required").with_param("text"))?,
            strict: f.get("strict").and_then(Value::as_bool),
            description: f
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
        })),
        Some(other) => {
            Err(bad(format!("text.format.type: {other:?} is not supported")).with_param("text"))
        }
    }
}

/// Parse a Responses API request body.
pub fn parse(req: &Value) -> Result<Parsed, GatewayError> {
    let obj = req
        .as_object()
        .ok_or_else(|| bad("the request body must be a JSON object"))?;
    let mut out = Parsed {
        store: true,
        ..Parsed::default()
    };
    if obj.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(bad(
            "background responses are not supported by this gateway; stream the response instead",
        )
        .with_param("background"));
    }
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        let known = KNOWN.contains(&k.as_str());
        let ignorable = match k.as_str() {
            "truncation" => v.as_str() == Some("disabled"),
            "background" | "store" | "stream" => true,
            _ => known,
        };
        if !ignorable {
            out.dropped.push(k.clone());
        }
    }
    out.instructions = match obj.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("instructions: must be a string").with_param("instructions")),
    };
    let (items, stored) = parse_input(obj.get("input"), &mut out.dropped)?;
    out.items = items;
    out.input_items = stored;
    parse_tools(obj.get("tools"), obj.get("tool_choice"), &mut out)?;
    out.tool_choice = parse_tool_choice(obj.get("tool_choice"))?;
    out.parallel_tool_calls = obj.get("parallel_tool_calls").and_then(Value::as_bool);
    out.format = parse_format(obj.get("text"), &mut out.dropped)?;
    if let Some(r) = obj.get("reasoning").filter(|r| r.is_object()) {
        out.effort = r.get("effort").and_then(Value::as_str).map(str::to_string);
        if r.get("summary").is_some_and(|s| !s.is_null()) {
            // No summarizer here: reasoning comes back as the model's own text, if at all.
            out.dropped.push("reasoning.summary".into());
        }
    }
    out.max_output_tokens = match obj.get("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            bad("max_output_tokens: must be a non-negative integer").with_param("max_output_tokens")
        })?),
    };
    out.temperature = obj.get("temperature").filter(|v| !v.is_null()).cloned();
    out.top_p = obj.get("top_p").filter(|v| !v.is_null()).cloned();
    out.user = obj
        .get("safety_identifier")
        .or_else(|| obj.get("user"))
        .and_then(Value::as_str)
        .map(str::to_string);
    out.stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    out.store = obj.get("store").and_then(Value::as_bool).unwrap_or(true);
    out.previous_response_id = obj
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    for inc in obj
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match inc.as_str() {
            Some("reasoning.encrypted_content") => out.encrypted_reasoning = true,
            Some(other) => out.dropped.push(format!("include.{other}")),
            None => {}
        }
    }
    out.metadata = obj.get("metadata").filter(|m| !m.is_null()).cloned();
    Ok(out)
}

impl Parsed {
    /// The conversation as sent upstream: the stored history of `previous_response_id`, then
    /// this request's items.
    pub fn with_history(mut self, history: Vec<Item>) -> Self {
        if !history.is_empty() {
            let mut all = history;
            all.append(&mut self.items);
            self.items = all;
        }
        self
    }
}

/// Stored items (the client's, or the model's output items) back to typed items.
pub fn items_of(stored: &[Value]) -> Vec<Item> {
    let mut ignored = Vec::new();
    stored
        .iter()
        .filter_map(|v| parse_item(v, "history", &mut ignored).ok().flatten())
        .collect()
}

fn text_of_parts(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `data:<media>;base64,<data>` URL → `(media, data)`.
pub fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media, data) = rest.split_once(',')?;
    Some((media.strip_suffix(";base64")?, data))
}

// ---- Chat Completions -------------------------------------------------------------------------

fn chat_part(p: &Part) -> Value {
    match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Image { url } => json!({"type": "image_url", "image_url": {"url": url}}),
        Part::File {
            filename,
            data_url,
            url,
        } => {
            let mut file = Map::new();
            if let Some(f) = filename {
                file.insert("filename".into(), json!(f));
            }
            match (data_url, url) {
                (Some(d), _) => file.insert("file_data".into(), json!(d)),
                (None, Some(u)) => file.insert("file_url".into(), json!(u)),
                (None, None) => None,
            };
            json!({"type": "file", "file": file})
        }
    }
}

fn chat_content(parts: &[Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        json!(text_of_parts(parts))
    } else {
        Value::Array(parts.iter().map(chat_part).collect())
    }
}

/// The request for an OpenAI-compatible upstream.
pub fn to_chat(p: &Parsed, upstream_model: &str) -> Value {
    let mut messages: Vec<Value> = Vec::with_capacity(p.items.len() + 1);
    if let Some(i) = p.instructions.as_deref().filter(|i| !i.is_empty()) {
        messages.push(json!({"role": "system", "content": i}));
    }
    for item in &p.items {
        match item {
            Item::Message { role, parts } => {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                messages.push(json!({"role": role, "content": chat_content(parts)}));
            }
            Item::Call {
                call_id,
                name,
                arguments,
            } => {
                let call = json!({"id": call_id, "type": "function",
                                  "function": {"name": name, "arguments": arguments}});
                // Calls join the assistant turn they belong to.
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        if let Some(calls) =
                            last.get_mut("tool_calls").and_then(Value::as_array_mut)
                        {
                            calls.push(call);
                        } else {
                            last["tool_calls"] = json!([call]);
                        }
                    }
                    _ => messages
                        .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Item::CallOutput { call_id, output } => messages.push(
                json!({"role": "tool", "tool_call_id": call_id, "content": text_of_parts(output)}),
            ),
            // Open-weight servers cannot take earlier reasoning back.
            Item::Reasoning { .. } => {}
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(upstream_model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(m) = p.max_output_tokens {
        out.insert("max_tokens".into(), json!(m));
    }
    for (k, v) in [("temperature", &p.temperature), ("top_p", &p.top_p)] {
        if let Some(v) = v {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(u) = &p.user {
        out.insert("user".into(), json!(u));
    }
    if !p.tools.is_empty() {
        let tools: Vec<Value> = p
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                if let Some(s) = t.strict {
                    f["strict"] = json!(s);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
        if let Some(c) = &p.tool_choice {
            out.insert(
                "tool_choice".into(),
                match c {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Function(n) => json!({"type": "function", "function": {"name": n}}),
                },
            );
        }
        if let Some(par) = p.parallel_tool_calls {
            out.insert("parallel_tool_calls".into(), json!(par));
        }
    }
    match &p.format {
        Some(Format::JsonObject) => {
            out.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(Format::JsonSchema {
            name,
            schema,
            strict,
            description,
        }) => {
            let mut js = json!({"name": name, "schema": schema});
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            if let Some(d) = description {
                js["description"] = json!(d);
            }
            out.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": js}),
            );
        }
        None => {}
    }
    if let Some(e) = p.effort.as_deref() {
        let effort = match e {
            "none" => None,
            "minimal" => Some("low"),
            "xhigh" => Some("high"),
            other => Some(other),
        };
        if let Some(e) = effort {
            out.insert("reasoning_effort".into(), json!(e));
        }
    }
    if p.stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(out)
}

// ---- Anthropic Messages -----------------------------------------------------------------------

/// Anthropic requires `max_tokens`; Responses clients often omit it.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Thinking budgets for `reasoning.effort`, as Claude's `budget_tokens`.
fn thinking_budget(effort: &str) -> Option<u64> {
    match effort {
        "none" => None,
        "minimal" | "low" => Some(2048),
        "medium" => Some(8192),
        _ => Some(24576),
    }
}

/// Reasoning Claude produced goes to clients as opaque `encrypted_content`, self-contained
/// (clients may drop a reasoning item's readable text when they send it back): a thinking
/// block's text and signature, or a redacted block's data.
const THINKING_PREFIX: &str = "stav1.thinking.";
const REDACTED_PREFIX: &str = "stav1.redacted.";

/// `encrypted_content` for a Claude thinking block.
pub fn seal_thinking(thinking: &str, signature: &str) -> String {
    use base64::Engine;
    let json = json!({"thinking": thinking, "signature": signature}).to_string();
    format!(
        "{THINKING_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// `encrypted_content` for a Claude redacted thinking block.
pub fn seal_redacted(data: &str) -> String {
    format!("{REDACTED_PREFIX}{data}")
}

/// The Claude block an `encrypted_content` came from; `None` for anything else (another
/// provider's reasoning cannot be replayed to Claude).
pub fn unseal(encrypted: &str) -> Option<Value> {
    use base64::Engine;
    if let Some(data) = encrypted.strip_prefix(REDACTED_PREFIX) {
        return Some(json!({"type": "redacted_thinking", "data": data}));
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encrypted.strip_prefix(THINKING_PREFIX)?)
        .ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some(json!({"type": "thinking",
                "thinking": v.get("thinking")?.as_str()?,
                "signature": v.get("signature")?.as_str()?}))
}

fn anthropic_media(p: &Part) -> Option<Value> {
    match p {
        Part::Text(t) => Some(json!({"type": "text", "text": t})),
        Part::Image { url } => Some(match data_url(url) {
            Some((media, data)) => {
                json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            }
            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
        }),
        Part::File {
            filename,
            data_url: d,
            url,
        } => {
            let title = filename.as_deref();
            let block = match (d.as_deref().and_then(data_url), url) {
                (Some((media, data)), _) if media.starts_with("text/") => {
                    use base64::Engine;
                    let text = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())?;
                    json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}})
                }
                (Some((media, data)), _) => {
                    json!({"type": "document", "source": {"type": "base64", "media_type": media, "data": data}})
                }
                (None, Some(u)) => json!({"type": "document", "source": {"type": "url", "url": u}}),
                (None, None) => return None,
            };
            let mut block = block;
            if let Some(t) = title {
                block["title"] = json!(t);
            }
            Some(block)
        }
    }
}

/// Append `blocks` as a turn of `role`, joining the previous turn when it has the same role.
fn push_turn(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = messages.last_mut() {
        if last["role"] == role {
            if let Some(content) = last["content"].as_array_mut() {
                content.extend(blocks);
                return;
            }
        }
    }
    messages.push(json!({"role": role, "content": blocks}));
}

/// The request for an Anthropic upstream (Claude). Returns it with the names of anything that
/// could not be sent.
pub fn to_messages(p: &Parsed, upstream_model: &str) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    let mut system: Vec<String> = Vec::new();
    if let Some(i) = p.instructions.as_deref().filter(|i| !i.is_empty()) {
        system.push(i.to_string());
    }
    let mut messages: Vec<Value> = Vec::with_capacity(p.items.len());
    for item in &p.items {
        match item {
            Item::Message {
                role: Role::System,
                parts,
            } => system.push(text_of_parts(parts)),
            Item::Message {
                role: Role::User,
                parts,
            } => {
                let blocks = parts.iter().filter_map(anthropic_media).collect();
                push_turn(&mut messages, "user", blocks);
            }
            Item::Message {
                role: Role::Assistant,
                parts,
            } => {
                let text = text_of_parts(parts);
                if !text.is_empty() {
                    push_turn(
                        &mut messages,
                        "assistant",
                        vec![json!({"type": "text", "text": text})],
                    );
                }
            }
            Item::Reasoning { encrypted, .. } => {
                // Claude accepts earlier thinking only as it wrote it, signature included.
                if let Some(b) = encrypted.as_deref().and_then(unseal) {
                    push_turn(&mut messages, "assistant", vec![b]);
                }
            }
            Item::Call {
                call_id,
                name,
                arguments,
            } => {
                let input = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                push_turn(
                    &mut messages,
                    "assistant",
                    vec![
                        json!({"type": "tool_use", "id": ids::to_anthropic(Some(call_id)),
                                "name": name, "input": input}),
                    ],
                );
            }
            Item::CallOutput { call_id, output } => {
                let content: Vec<Value> = output.iter().filter_map(anthropic_media).collect();
                push_turn(
                    &mut messages,
                    "user",
                    vec![
                        json!({"type": "tool_result", "tool_use_id": ids::to_anthropic(Some(call_id)),
                                "content": content}),
                    ],
                );
            }
        }
    }
    let max_tokens = p.max_output_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let mut out = Map::new();
    out.insert("model".into(), json!(upstream_model));
    out.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        out.insert("system".into(), json!(system.join("\n\n")));
    }
    out.insert("messages".into(), Value::Array(messages));
    for (k, v) in [("temperature", &p.temperature), ("top_p", &p.top_p)] {
        if let Some(v) = v {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(u) = &p.user {
        out.insert("metadata".into(), json!({"user_id": u}));
    }
    if !p.tools.is_empty() {
        let tools: Vec<Value> = p
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        if p.tools.iter().any(|t| t.strict.is_some()) {
            dropped.push("tools.strict".into());
        }
        out.insert("tools".into(), Value::Array(tools));
        let disable_parallel = p.parallel_tool_calls == Some(false);
        let mut choice = match &p.tool_choice {
            None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
            Some(ToolChoice::None) => json!({"type": "none"}),
            Some(ToolChoice::Required) => json!({"type": "any"}),
            Some(ToolChoice::Function(n)) => json!({"type": "tool", "name": n}),
        };
        if disable_parallel && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        if p.tool_choice.is_some() || disable_parallel {
            out.insert("tool_choice".into(), choice);
        }
    }
    match &p.format {
        Some(Format::JsonSchema { schema, .. }) => {
            out.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some(Format::JsonObject) => {
            out.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": {"type": "object"}}}),
            );
        }
        None => {}
    }
    if let Some(budget) = p.effort.as_deref().and_then(thinking_budget) {
        // Claude's minimum budget is 1,024 and it must stay under max_tokens.
        let budget = budget.min(max_tokens.saturating_sub(1));
        if budget >= 1024 {
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
        } else {
            dropped.push("reasoning.effort".into());
        }
    }
    if p.stream {
        out.insert("stream".into(), json!(true));
    }
    (Value::Object(out), dropped)
}

#[cfg(test)]
mod tests;
