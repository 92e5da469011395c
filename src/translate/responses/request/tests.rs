use super::*;
use serde_json::json;

fn parsed(v: Value) -> Parsed {
    parse(&v).unwrap()
}

fn chat(v: Value) -> Value {
    to_chat(&parsed(v), "up-model")
}

fn claude(v: Value) -> (Value, Vec<String>) {
    to_messages(&parsed(v), "claude-up")
}

#[test]
fn a_string_input_is_one_user_turn_and_instructions_lead() {
    let body = json!({"model": "m", "input": "hello", "instructions": "be brief",
                      "max_output_tokens": 50, "temperature": 0.2, "user": "u1"});
    assert_eq!(
        chat(body.clone()),
        json!({"model": "up-model", "messages": [
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
            "max_tokens": 50, "temperature": 0.2, "user": "u1"})
    );
    let (c, dropped) = claude(body);
    assert_eq!(
        c,
        json!({"model": "claude-up", "max_tokens": 50, "system": "be brief",
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
               "temperature": 0.2, "metadata": {"user_id": "u1"}})
    );
    assert!(dropped.is_empty());
}

#[test]
fn items_of_every_kind_map_to_chat() {
    let body = json!({"model": "m", "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://x/cat.png"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "one"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "opaque"}]});
    let m = chat(body)["messages"].clone();
    assert_eq!(m[0], json!({"role": "system", "content": "rules"}));
    assert_eq!(
        m[1]["content"],
        json!([{"type": "text", "text": "look"},
               {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}])
    );
    // The calls join the assistant turn before them.
    assert_eq!(
        m[2],
        json!({"role": "assistant", "content": "ok", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]})
    );
    assert_eq!(
        m[3],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "one"})
    );
    assert_eq!(
        m[4],
        json!({"role": "tool", "tool_call_id": "call_2", "content": "two"})
    );
    assert_eq!(m.as_array().unwrap().len(), 5, "reasoning is not replayed");
}

#[test]
fn items_map_to_claude_turns_with_tool_blocks() {
    let body = json!({"model": "m", "instructions": "top", "input": [
        {"role": "system", "content": "more rules"},
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "functions.get:0", "name": "get", "arguments": "{\"city\":\"Oslo\"}"},
        {"type": "function_call_output", "call_id": "functions.get:0", "output": "3C"},
        {"role": "user", "content": "thanks"}]});
    let (c, _) = claude(body);
    assert_eq!(c["system"], "top\n\nmore rules");
    let m = c["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    let id = m[1]["content"][0]["id"].as_str().unwrap();
    assert!(id.starts_with("toolu_x"), "odd ids are encoded: {id}");
    assert_eq!(m[1]["content"][0]["input"], json!({"city": "Oslo"}));
    assert_eq!(m[2]["content"][0]["tool_use_id"], id);
    assert_eq!(
        m[2]["content"][0]["content"],
        json!([{"type": "text", "text": "3C"}])
    );
    // The next user text joins the tool result's turn.
    assert_eq!(
        m[2]["content"][1],
        json!({"type": "text", "text": "thanks"})
    );
    assert_eq!(crate::translate::ids::to_openai(id), "functions.get:0");
}

#[test]
fn built_in_tools_are_dropped_and_named_unless_forced() {
    let body = json!({"model": "m", "input": "x", "tools": [
        {"type": "web_search"},
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}]});
    let p = parsed(body.clone());
    assert_eq!(p.dropped, vec!["tools.web_search"]);
    assert_eq!(
        to_chat(&p, "u")["tools"],
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}}])
    );
    let mut forced = body;
    forced["tool_choice"] = json!({"type": "web_search"});
    let e = parse(&forced).unwrap_err();
    assert_eq!((e.status(), e.param.as_deref()), (400, Some("tool_choice")));
    assert!(e.message.contains("web_search"));
    let e = parse(&json!({"model": "m", "input": "x", "background": true})).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("background"));
}

#[test]
fn custom_tools_travel_as_functions_with_one_string() {
    let body = json!({"model": "m", "input": [
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "done"}],
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Patch files",
                   "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}]});
    let p = parsed(body);
    assert_eq!(p.custom_tools, vec!["apply_patch"]);
    let c = to_chat(&p, "u");
    let f = &c["tools"][0]["function"];
    assert_eq!(f["parameters"]["required"], json!(["input"]));
    assert!(f["description"].as_str().unwrap().contains("start: x"));
    let call = &c["messages"][0]["tool_calls"][0]["function"];
    assert_eq!(
        serde_json::from_str::<Value>(call["arguments"].as_str().unwrap()).unwrap(),
        json!({"input": "*** Begin Patch"})
    );
}

#[test]
fn structured_output_and_reasoning_settings() {
    let body = json!({"model": "m", "input": "x",
        "text": {"format": {"type": "json_schema", "name": "City", "strict": true,
                            "schema": {"type": "object", "properties": {"n": {"type": "string"}}}},
                 "verbosity": "low"},
        "reasoning": {"effort": "high", "summary": "auto"}});
    let p = parsed(body);
    assert_eq!(p.dropped, vec!["text.verbosity", "reasoning.summary"]);
    let c = to_chat(&p, "u");
    assert_eq!(c["response_format"]["type"], "json_schema");
    assert_eq!(c["response_format"]["json_schema"]["name"], "City");
    assert_eq!(c["response_format"]["json_schema"]["strict"], true);
    assert_eq!(c["reasoning_effort"], "high");
    let (m, dropped) = to_messages(&p, "claude");
    assert_eq!(
        m["output_config"]["format"]["schema"]["properties"]["n"]["type"],
        "string"
    );
    // The budget stays under max_tokens (4096 by default).
    assert_eq!(
        m["thinking"],
        json!({"type": "enabled", "budget_tokens": 4095})
    );
    assert!(dropped.is_empty());
    let tight = parsed(json!({"model": "m", "input": "x", "max_output_tokens": 500,
                              "reasoning": {"effort": "low"}}));
    let (m, dropped) = to_messages(&tight, "claude");
    assert!(m.get("thinking").is_none());
    assert_eq!(dropped, vec!["reasoning.effort"]);
    assert_eq!(
        to_chat(
            &parsed(json!({"model": "m", "input": "x", "reasoning": {"effort": "minimal"}})),
            "u"
        )["reasoning_effort"],
        "low"
    );
}

#[test]
fn unknown_fields_are_named_and_defaults_are_not() {
    let p = parsed(json!({"model": "m", "input": "x", "prompt_cache_key": "k",
        "truncation": "disabled", "store": false, "stream": true, "service_tier": "auto",
        "include": ["reasoning.encrypted_content", "message.output_text.logprobs"]}));
    assert_eq!(
        p.dropped,
        vec![
            "prompt_cache_key",
            "service_tier",
            "include.message.output_text.logprobs"
        ]
    );
    assert!(p.encrypted_reasoning && p.stream && !p.store);
    let c = to_chat(&p, "u");
    assert_eq!(c["stream_options"], json!({"include_usage": true}));
}

#[test]
fn claude_thinking_round_trips_through_encrypted_content() {
    let sealed = seal_thinking("let me think", "sig-123");
    assert_eq!(
        unseal(&sealed).unwrap(),
        json!({"type": "thinking", "thinking": "let me think", "signature": "sig-123"})
    );
    assert_eq!(
        unseal(&seal_redacted("blob")).unwrap(),
        json!({"type": "redacted_thinking", "data": "blob"})
    );
    assert!(unseal("gAAAAB-openai-opaque").is_none());
    // A client that dropped the readable text still continues the thinking.
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "summary": [], "encrypted_content": sealed},
        {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "toolu_1", "output": "r"},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-foreign"}]});
    let (c, _) = claude(body);
    let m = c["messages"].as_array().unwrap();
    assert_eq!(
        m[1]["content"][0],
        json!({"type": "thinking", "thinking": "let me think", "signature": "sig-123"})
    );
    assert_eq!(m[1]["content"][1]["type"], "tool_use");
    assert_eq!(m.len(), 3, "foreign reasoning is not replayed");
}

#[test]
fn media_parts_for_claude() {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode("plain notes");
    let body = json!({"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
        {"type": "input_image", "image_url": "https://x/y.jpg"},
        {"type": "input_file", "filename": "notes.txt", "file_data": format!("data:text/plain;base64,{text}")},
        {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}]}]});
    let (c, _) = claude(body);
    let blocks = &c["messages"][0]["content"];
    assert_eq!(
        blocks[0]["source"],
        json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
    );
    assert_eq!(
        blocks[1]["source"],
        json!({"type": "url", "url": "https://x/y.jpg"})
    );
    assert_eq!(blocks[2]["source"]["type"], "text");
    assert_eq!(blocks[2]["source"]["data"], "plain notes");
    assert_eq!(blocks[2]["title"], "notes.txt");
    assert_eq!(blocks[3]["source"]["media_type"], "application/pdf");
}

#[test]
fn bad_requests_are_400s_that_say_where() {
    for (body, needle) in [
        (json!({"model": "m", "input": 5}), "input"),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "item_reference",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}),
            "call_id",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
            "image_url",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "bogus"}]}]}),
            "bogus",
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": -1}),
            "max_output_tokens",
        ),
        (
            json!({"model": "m", "input": "x", "instructions": 3}),
            "instructions",
        ),
    ] {
        let e = parse(&body).unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
}

#[test]
fn stored_items_come_back_typed_and_with_ids() {
    let p = parsed(json!({"model": "m", "input": [{"role": "user", "content": "hi"}]}));
    let item = &p.input_items[0];
    assert_eq!(item["type"], "message");
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    let history = items_of(&[
        json!({"type": "message", "role": "assistant", "id": "msg_1",
               "content": [{"type": "output_text", "text": "earlier", "annotations": []}]}),
        json!({"type": "web_search_call", "id": "ws_1"}),
    ]);
    assert_eq!(
        history,
        vec![Item::Message {
            role: Role::Assistant,
            parts: vec![Part::Text("earlier".into())]
        }]
    );
    let p = p.with_history(history);
    assert!(matches!(
        &p.items[0],
        Item::Message {
            role: Role::Assistant,
            ..
        }
    ));
    assert!(matches!(
        &p.items[1],
        Item::Message {
            role: Role::User,
            ..
        }
    ));
}

#[test]
fn namespaced_functions_travel_flat_and_come_back_split() {
    // Codex sends its sub-agent tools as a namespace.
    let body = json!({"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "namespace": "multi_agent_v1", "name": "spawn_agent", "arguments": "{}"}],
        "tools": [{"type": "namespace", "name": "multi_agent_v1", "description": "agents",
                   "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object"}},
                             {"type": "function", "name": "wait_agent"}]}]});
    let p = parsed(body);
    let c = to_chat(&p, "u");
    let names: Vec<&str> = c["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["multi_agent_v1__spawn_agent", "multi_agent_v1__wait_agent"]
    );
    assert_eq!(
        c["messages"][0]["tool_calls"][0]["function"]["name"],
        "multi_agent_v1__spawn_agent"
    );
    let meta = crate::translate::responses::object::ResponsesMeta {
        namespaced: p.namespaced.clone(),
        ..Default::default()
    };
    let item = meta.call_item(
        "fc_1",
        "completed",
        "c9",
        "multi_agent_v1__wait_agent",
        "{}",
    );
    assert_eq!(
        (item["name"].as_str(), item["namespace"].as_str()),
        (Some("wait_agent"), Some("multi_agent_v1"))
    );
}
