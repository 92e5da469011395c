//! Golden tests: one per mapping row of Anthropic Messages → Chat Completions.

use super::*;
use serde_json::json;

fn tr(req: Value) -> Translated {
    messages_to_chat(&req, "up/model").unwrap()
}

fn base(extra: Value) -> Value {
    let mut r = json!({"model": "qwen3-32b", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

#[test]
fn model_max_tokens_and_plain_messages() {
    let t = tr(base(json!({})));
    assert_eq!(t.body["model"], "up/model");
    assert_eq!(t.body["max_tokens"], 100);
    assert_eq!(
        t.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(t.meta.client_model, "qwen3-32b");
    assert!(!t.meta.stream);
    assert!(t.body.get("stream").is_none());
}

#[test]
fn system_string_and_blocks() {
    let t = tr(base(json!({"system": "Be brief."})));
    assert_eq!(
        t.body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    let t = tr(base(
        json!({"system": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "B"}]}),
    ));
    assert_eq!(
        t.body["messages"][0],
        json!({"role": "system", "content": "A\nB"})
    );
}

#[test]
fn stream_forces_usage() {
    let t = tr(base(json!({"stream": true})));
    assert_eq!(t.body["stream"], true);
    assert_eq!(t.body["stream_options"], json!({"include_usage": true}));
    assert!(t.meta.stream);
}

#[test]
fn sampling_stop_and_metadata() {
    let t = tr(base(
        json!({"temperature": 0.3, "top_p": 0.9, "stop_sequences": ["END", "###"], "metadata": {"user_id": "u-42"}}),
    ));
    assert_eq!(t.body["temperature"], 0.3);
    assert_eq!(t.body["top_p"], 0.9);
    assert_eq!(t.body["stop"], json!(["END", "###"]));
    assert_eq!(t.body["user"], "u-42");
    assert_eq!(t.meta.stop_sequences, ["END", "###"]);
}

#[test]
fn unmappable_fields_are_dropped_and_named() {
    let t = tr(base(
        json!({"top_k": 5, "service_tier": "auto", "some_future_field": 1}),
    ));
    for k in ["top_k", "service_tier", "some_future_field"] {
        assert!(t.body.get(k).is_none());
        assert!(t.meta.dropped.contains(&k.to_string()), "{k}");
    }
}

#[test]
fn multi_block_user_content_and_images() {
    let t = tr(base(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Look:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.eu/cat.jpg"}},
        {"type": "text", "text": ""},
    ]}]})));
    assert_eq!(
        t.body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Look:"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "image_url", "image_url": {"url": "https://example.eu/cat.jpg"}},
        ])
    );
}

#[test]
fn documents_where_possible() {
    let t = tr(base(json!({"messages": [{"role": "user", "content": [
        {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain", "data": "abc"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
    ]}]})));
    assert_eq!(
        t.body["messages"][0]["content"][0],
        json!({"type": "text", "text": "Notes\n\nabc"})
    );
    assert_eq!(
        t.body["messages"][0]["content"][1]["file"]["file_data"],
        "data:application/pdf;base64,JVBE"
    );
    let e = messages_to_chat(
        &base(json!({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "file", "file_id": "f"}}]}]})),
        "m",
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn tools_and_tool_choice() {
    let tools = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}}]);
    let t = tr(base(
        json!({"tools": tools, "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}),
    ));
    assert_eq!(
        t.body["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "description": "Weather"}}])
    );
    assert_eq!(t.body["tool_choice"], "required");
    assert_eq!(t.body["parallel_tool_calls"], false);
    for (choice, want) in [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "get_weather"}),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ] {
        let t = tr(base(json!({"tools": tools, "tool_choice": choice})));
        assert_eq!(t.body["tool_choice"], want);
        assert!(t.body.get("parallel_tool_calls").is_none());
    }
    // tool_choice without tools is not sent.
    let t = tr(base(json!({"tool_choice": {"type": "auto"}})));
    assert!(t.body.get("tool_choice").is_none());
}

#[test]
fn server_tools_are_refused() {
    let e = messages_to_chat(
        &base(json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]})),
        "m",
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.message.contains("web_search"));
}

#[test]
fn tool_use_and_tool_result_ordering() {
    let t = tr(base(json!({"messages": [
        {"role": "user", "content": "Weather in Ghent and Graz?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Ghent"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Graz"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "12C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "no data"}], "is_error": true},
            {"type": "text", "text": "Thanks"},
        ]},
    ]})));
    assert_eq!(
        t.body["messages"],
        json!([
            {"role": "user", "content": "Weather in Ghent and Graz?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Ghent\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Graz\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "12C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no data"},
            {"role": "user", "content": "Thanks"},
        ])
    );
}

#[test]
fn tool_ids_minted_by_the_gateway_go_back_as_the_upstreams() {
    let client_id = crate::translate::ids::to_anthropic(Some("functions.Bash:0"));
    let t = tr(base(json!({"messages": [
        {"role": "user", "content": "ls"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": client_id, "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": client_id, "content": "a.txt"}]},
    ]})));
    assert_eq!(
        t.body["messages"][1]["tool_calls"][0]["id"],
        "functions.Bash:0"
    );
    assert_eq!(t.body["messages"][2]["tool_call_id"], "functions.Bash:0");
}

#[test]
fn orphans_are_repaired() {
    let t = tr(base(json!({"messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "stray", "content": "x"}, {"type": "text", "text": "never mind"}]},
    ]})));
    assert_eq!(
        t.body["messages"][2],
        json!({"role": "tool", "tool_call_id": "t1", "content": "(no result)"})
    );
    assert_eq!(
        t.body["messages"][3],
        json!({"role": "user", "content": "never mind"})
    );
    assert_eq!(t.body["messages"].as_array().unwrap().len(), 4);
}

#[test]
fn images_in_tool_results_move_to_the_user_message() {
    let t = tr(base(json!({"messages": [
        {"role": "user", "content": "shot"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "done"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]},
    ]})));
    assert_eq!(
        t.body["messages"][2],
        json!({"role": "tool", "tool_call_id": "t1", "content": "done"})
    );
    assert_eq!(t.body["messages"][3]["role"], "user");
    assert_eq!(
        t.body["messages"][3]["content"][1]["image_url"]["url"],
        "data:image/png;base64,AAAA"
    );
}

#[test]
fn thinking_and_output_config() {
    let t = tr(base(
        json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
    ));
    assert_eq!(t.body["reasoning_effort"], "low");
    assert!(t.meta.thinking);
    let t = tr(base(
        json!({"thinking": {"type": "enabled", "budget_tokens": 20000}}),
    ));
    assert_eq!(t.body["reasoning_effort"], "high");
    let t = tr(base(json!({"thinking": {"type": "disabled"}})));
    assert!(t.body.get("reasoning_effort").is_none());
    assert!(!t.meta.thinking);
    let t = tr(base(
        json!({"output_config": {"effort": "max", "format": {"type": "json_schema", "schema": {"type": "object"}}}}),
    ));
    assert_eq!(t.body["reasoning_effort"], "high");
    assert_eq!(
        t.body["response_format"]["json_schema"]["schema"],
        json!({"type": "object"})
    );
}

#[test]
fn required_fields_are_checked() {
    for (req, needle) in [
        (json!({"model": "m", "messages": []}), "max_tokens"),
        (json!({"model": "m", "max_tokens": 1}), "messages"),
        (
            json!({"model": "m", "max_tokens": -1, "messages": []}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "tool", "content": "x"}]}),
            "role",
        ),
    ] {
        let e = messages_to_chat(&req, "m").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.message.contains(needle), "{}", e.message);
    }
}

#[test]
fn estimate_grows_with_the_prompt() {
    let small = tr(base(json!({}))).meta.input_estimate;
    let big = tr(base(
        json!({"messages": [{"role": "user", "content": "word ".repeat(400)}]}),
    ))
    .meta
    .input_estimate;
    assert!(small > 0);
    assert!(big > small + 400, "{small} {big}");
}

#[test]
fn system_messages_inside_messages_stay_where_they_are() {
    // What Claude Code sends to a model it does not know: the first user turn, then a `system`
    // message (with cache_control on the first turn, a string later), thinking `adaptive`, effort,
    // context management, a deferred tool and its own top-level fields.
    let t = tr(base(json!({
        "system": [{"type": "text", "text": "You are a Claude agent."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "say hi"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": "hi"},
            {"role": "system", "content": "# Environment again"},
            {"role": "user", "content": "bye"}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "tools": [
            {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
            {"name": "DeferredToolPlaceholder", "defer_loading": true, "input_schema": {}}],
        "safeguards": [{"type": "dangerous_tool_use"}]})));
    let roles: Vec<&str> = t.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        vec!["system", "user", "system", "assistant", "system", "user"]
    );
    assert_eq!(t.body["messages"][2]["content"], "# Environment");
    assert_eq!(t.body["messages"][4]["content"], "# Environment again");
    assert_eq!(t.body["reasoning_effort"], "high");
    assert_eq!(
        t.body["tools"].as_array().unwrap().len(),
        1,
        "the deferred tool is left out"
    );
    for named in ["context_management", "safeguards", "tools.defer_loading"] {
        assert!(
            t.meta.dropped.iter().any(|d| d == named),
            "{named}: {:?}",
            t.meta.dropped
        );
    }
    assert!(t.meta.thinking);
}

/// The estimate as first written: images counted as `"image_url"` in each serialized message.
fn estimate_by_text(chat_body: &Value) -> u64 {
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
    let messages = chat_body.get("messages").and_then(Value::as_array);
    let images: usize = messages
        .map(|m| {
            m.iter()
                .map(|m| m.to_string().matches("\"image_url\"").count())
                .sum()
        })
        .unwrap_or(0);
    let text: usize = messages
        .map(|m| {
            m.iter()
                .map(|m| {
                    chars(m.get("content").unwrap_or(&Value::Null))
                        + chars(m.get("tool_calls").unwrap_or(&Value::Null))
                })
                .sum()
        })
        .unwrap_or(0);
    let tools = chat_body.get("tools").map_or(0, |t| t.to_string().len());
    let n = messages.map_or(0, Vec::len);
    ((text + tools).div_ceil(4) + 3 * n + 3 + 765 * images) as u64
}

#[test]
fn the_estimate_is_the_one_made_from_serialized_messages() {
    let image = json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}});
    let bodies = [
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": [image.clone(), {"type": "text", "text": "what is it"}]}]}),
        json!({"messages": [
            {"role": "user", "content": [image.clone(), image.clone()]},
            {"role": "assistant", "content": "the word \"image_url\" and image_url in text"},
            {"role": "user", "content": [{"type": "text", "text": "image_url"}]},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "image_url", "arguments": "{}"}}]}
        ], "tools": [{"type": "function", "function": {"name": "f"}}]}),
        json!({"messages": []}),
        json!({}),
    ];
    for body in &bodies {
        assert_eq!(estimate_tokens(body), estimate_by_text(body), "{body}");
    }
    assert!(
        estimate_tokens(&bodies[2]) > 765 * 5,
        "five references to images"
    );
}
