use super::*;
use crate::test_support::XorShift;
use serde_json::json;

fn meta() -> ResponsesMeta {
    ResponsesMeta {
        id: "resp_t".into(),
        created_at: 1,
        client_model: "qwen3-32b".into(),
        stream: true,
        ..Default::default()
    }
}

fn chunk(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn ev(name: &str, v: Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// Every event the client got, parsed, after checking the framing and the sequence numbers.
fn events(out: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(out).unwrap();
    let mut all = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let (name, data) = block.split_once('\n').unwrap();
        let name = name.strip_prefix("event: ").unwrap();
        let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(v["type"], name);
        assert_eq!(
            v["sequence_number"],
            all.len(),
            "contiguous sequence numbers"
        );
        all.push(v);
    }
    all
}

fn types(evs: &[Value]) -> Vec<&str> {
    evs.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn run_chat(m: ResponsesMeta, input: &str, splits: &[usize]) -> (Vec<u8>, FromChatStream) {
    let mut t = FromChatStream::new(m, 1 << 20);
    let mut out = Vec::new();
    let mut at = 0;
    for &s in splits.iter().chain(std::iter::once(&input.len())) {
        let s = s.min(input.len()).max(at);
        out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&input.as_bytes()[at..s])));
        at = s;
    }
    out.extend_from_slice(&t.finish());
    (out, t)
}

fn text_stream() -> String {
    [
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "lo"}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        chunk(json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 1}}})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat()
}

#[test]
fn a_chat_stream_becomes_the_full_typed_sequence() {
    let (out, mut t) = run_chat(meta(), &text_stream(), &[]);
    let evs = events(&out);
    assert_eq!(
        types(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let done = evs.last().unwrap();
    let r = &done["response"];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["id"], "resp_t");
    assert_eq!(r["output"][0]["type"], "reasoning");
    assert_eq!(r["output"][0]["content"][0]["text"], "hmm");
    assert_eq!(r["output"][1]["content"][0]["text"], "Hello");
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 9, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 4,
               "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 13})
    );
    // The item ids of `added` and `done` agree (the SDK checks it).
    assert_eq!(evs[2]["item"]["id"], evs[7]["item"]["id"]);
    assert_eq!(evs[12]["text"], "Hello");
    assert_eq!(t.finished_response(), Some(r.clone()));
    assert_eq!(t.counts().unwrap().usage().input_tokens, 9);
}

impl FromChatStream {
    fn finished_response(&mut self) -> Option<Value> {
        self.em.finished()
    }
}

#[test]
fn every_split_of_the_upstream_gives_the_same_events() {
    let input = text_stream();
    let (whole, _) = run_chat(meta(), &input, &[]);
    let strip = |b: &[u8]| {
        // Item ids are random per run: compare everything else.
        let v = events(b);
        v.iter()
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().unwrap().remove("item_id");
                if let Some(i) = e.get_mut("item") {
                    i.as_object_mut().unwrap().remove("id");
                }
                if let Some(r) = e.get_mut("response") {
                    r.as_object_mut().unwrap().remove("output");
                    r.as_object_mut().unwrap().remove("completed_at");
                }
                e
            })
            .collect::<Vec<_>>()
    };
    let want = strip(&whole);
    let mut rng = XorShift(0x5eed);
    for _ in 0..200 {
        let mut cuts: Vec<usize> = (0..rng.below(6))
            .map(|_| rng.below(input.len() as u64) as usize)
            .collect();
        cuts.sort();
        let (out, _) = run_chat(meta(), &input, &cuts);
        assert_eq!(strip(&out), want, "split at {cuts:?}");
    }
}

#[test]
fn interleaved_tool_calls_are_all_delivered_whole() {
    let call = |i: u64, id: Option<&str>, name: Option<&str>, args: &str| {
        let mut f = json!({"arguments": args});
        if let Some(n) = name {
            f["name"] = json!(n);
        }
        let mut tc = json!({"index": i, "function": f});
        if let Some(id) = id {
            tc["id"] = json!(id);
        }
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]}))
    };
    let input = [
        call(0, Some("call_a"), Some("weather"), ""),
        call(1, Some("call_b"), Some("time"), ""),
        call(0, None, None, "{\"city\":"),
        call(1, None, None, "{\"tz\":"),
        call(0, None, None, "\"Oslo\"}"),
        call(1, None, None, "\"CET\"}"),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let (out, _) = run_chat(meta(), &input, &[]);
    let evs = events(&out);
    let r = &evs.last().unwrap()["response"];
    let calls: Vec<(&str, &str, &str)> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["call_id"].as_str().unwrap(),
                o["name"].as_str().unwrap(),
                o["arguments"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("call_a", "weather", "{\"city\":\"Oslo\"}"),
            ("call_b", "time", "{\"tz\":\"CET\"}")
        ]
    );
    let dones: Vec<&Value> = evs
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.done")
        .collect();
    assert_eq!(dones.len(), 2);
    assert_eq!(dones[1]["arguments"], "{\"tz\":\"CET\"}");
}

#[test]
fn limits_and_failures_end_the_stream_properly() {
    let cut = [
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]})),
        chunk(
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
        ),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let evs = events(&run_chat(meta(), &cut, &[]).0);
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    // The upstream stops mid-answer: response.failed, never a silent stop.
    let early = chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}));
    let evs = events(&run_chat(meta(), &early, &[]).0);
    let last = evs.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["status"], "failed");
    assert!(last["response"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("prematurely"));
    let evs = events(&run_chat(meta(), "data: {oops\n\n", &[]).0);
    assert_eq!(
        types(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    let err = chunk(json!({"error": {"message": "overloaded"}}));
    let evs = events(&run_chat(meta(), &err, &[]).0);
    assert_eq!(
        evs.last().unwrap()["response"]["error"]["message"],
        "overloaded"
    );
}

#[test]
fn free_form_tool_calls_come_back_as_custom_tool_calls() {
    let m = ResponsesMeta {
        custom_tools: vec!["apply_patch".into()],
        ..meta()
    };
    let args = json!({"input": "*** Begin Patch\n*** End Patch"}).to_string();
    let input = [
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_p", "function": {"name": "apply_patch", "arguments": &args[..10]}}]}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": &args[10..]}}]}}]})),
        chunk(json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let evs = events(&run_chat(m, &input, &[]).0);
    assert!(!types(&evs).contains(&"response.function_call_arguments.delta"));
    let done = evs
        .iter()
        .find(|e| e["type"] == "response.custom_tool_call_input.done")
        .unwrap();
    assert_eq!(done["input"], "*** Begin Patch\n*** End Patch");
    let item = &evs.last().unwrap()["response"]["output"][0];
    assert_eq!(item["type"], "custom_tool_call");
    assert_eq!(item["call_id"], "call_p");
}

fn claude_stream(with_thinking: bool) -> String {
    let mut e = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "usage": {
            "input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
    )];
    let mut i = 0;
    if with_thinking {
        e.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ));
        e.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "plan"}}),
        ));
        e.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": "SIG"}}),
        ));
        e.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        i = 1;
    }
    e.push(ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": i,
        "content_block": {"type": "text", "text": ""}}),
    ));
    e.push(ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": i,
        "delta": {"type": "text_delta", "text": "Checking."}}),
    ));
    e.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": i}),
    ));
    e.push(ev(
        "content_block_start",
        json!({"type": "content_block_start", "index": i + 1,
        "content_block": {"type": "tool_use", "id": "toolu_7", "name": "weather", "input": {}}}),
    ));
    e.push(ev(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": i + 1,
        "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Bergen\"}"}}),
    ));
    e.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": i + 1}),
    ));
    e.push(ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
        "usage": {"output_tokens": 20}}),
    ));
    e.push(ev("message_stop", json!({"type": "message_stop"})));
    e.concat()
}

fn run_claude(m: ResponsesMeta, input: &str) -> Vec<Value> {
    let mut t = FromMessagesStream::new(m, 1 << 20);
    let mut out = t
        .process(&Bytes::copy_from_slice(input.as_bytes()))
        .to_vec();
    out.extend_from_slice(&t.finish());
    events(&out)
}

#[test]
fn a_claude_stream_gives_reasoning_message_and_call_items() {
    let m = ResponsesMeta {
        encrypted_reasoning: true,
        ..meta()
    };
    let evs = run_claude(m, &claude_stream(true));
    let r = &evs.last().unwrap()["response"];
    assert_eq!(evs.last().unwrap()["type"], "response.completed");
    let out = r["output"].as_array().unwrap();
    assert_eq!(out[0]["type"], "reasoning");
    assert_eq!(out[0]["content"][0]["text"], "plan");
    let sealed = out[0]["encrypted_content"].as_str().unwrap();
    assert_eq!(
        crate::translate::responses::request::unseal(sealed).unwrap(),
        json!({"type": "thinking", "thinking": "plan", "signature": "SIG"})
    );
    assert_eq!(out[1]["content"][0]["text"], "Checking.");
    assert_eq!(out[2]["type"], "function_call");
    assert_eq!(out[2]["call_id"], "toolu_7");
    assert_eq!(out[2]["arguments"], "{\"city\":\"Bergen\"}");
    assert_eq!(r["usage"]["input_tokens"], 15);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 5);
    assert_eq!(r["usage"]["output_tokens"], 20);
    // Without `include`, no encrypted content.
    let evs = run_claude(meta(), &claude_stream(true));
    assert!(evs.last().unwrap()["response"]["output"][0]
        .get("encrypted_content")
        .is_none());
}

#[test]
fn a_claude_stream_cut_short_or_failing_ends_with_response_failed() {
    let s = claude_stream(false);
    let cut = &s[..s.find("content_block_stop").unwrap()];
    let evs = run_claude(meta(), cut);
    assert_eq!(evs.last().unwrap()["type"], "response.failed");
    let err = ev(
        "error",
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    );
    let evs = run_claude(meta(), &err);
    let last = evs.last().unwrap();
    assert_eq!(last["response"]["error"]["code"], "overloaded_error");
    assert_eq!(
        evs.iter()
            .filter(|e| e["type"] == "response.failed")
            .count(),
        1
    );
}

#[test]
fn two_claude_text_blocks_are_two_parts_of_one_message() {
    let e = [
        ev("message_start", json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}})),
        ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a"}})),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ev("content_block_start", json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text"}})),
        ev("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "b"}})),
        ev("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 2}})),
        ev("message_stop", json!({"type": "message_stop"})),
    ]
    .concat();
    let evs = run_claude(meta(), &e);
    let r = &evs.last().unwrap()["response"];
    assert_eq!(evs.last().unwrap()["type"], "response.incomplete");
    assert_eq!(r["output"].as_array().unwrap().len(), 1);
    let parts = r["output"][0]["content"].as_array().unwrap();
    assert_eq!(
        (parts[0]["text"].as_str(), parts[1]["text"].as_str()),
        (Some("a"), Some("b"))
    );
}
