//! Golden tests for the stream state machine, and a property test over random chunkings.

use super::*;
use crate::test_support::XorShift;
use serde_json::json;

fn meta(thinking: bool) -> MessagesMeta {
    MessagesMeta {
        client_model: "qwen3-32b".into(),
        stream: true,
        thinking,
        stop_sequences: vec![],
        input_estimate: 9,
        dropped: vec![],
        routing: None,
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": null});
    format!("data: {c}\n\n")
}

fn usage_chunk() -> String {
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\n".into()
}

/// Parsed `(event name, data)` pairs.
fn run(stream: &str, thinking: bool, split: &[usize]) -> Vec<(String, Value)> {
    let mut t = StreamTranslator::new(meta(thinking), "req_1".into(), 1 << 20);
    let b = stream.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    for &s in split.iter().chain(std::iter::once(&b.len())) {
        out.extend_from_slice(&t.process(&Bytes::copy_from_slice(&b[at..s])));
        at = s;
    }
    out.extend_from_slice(&t.finish());
    parse(&out)
}

fn parse(out: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(out).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let name = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_string();
            let data: Value =
                serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap())
                    .unwrap();
            assert_eq!(
                data["type"],
                name.as_str(),
                "data.type matches the event name"
            );
            (name, data)
        })
        .collect()
}

/// The Anthropic event grammar every SDK relies on.
fn assert_well_formed(events: &[(String, Value)]) {
    assert_eq!(events[0].0, "message_start");
    assert!(events[0].1["message"]["usage"].is_object());
    let last = &events.last().unwrap().0;
    assert!(
        last == "message_stop" || last == "error",
        "terminal event, got {last}"
    );
    let mut next = 0u64;
    let mut open: Option<(u64, String)> = None;
    for (name, d) in &events[1..] {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none(), "one block open at a time");
                assert_eq!(d["index"], next, "contiguous indices");
                open = Some((
                    next,
                    d["content_block"]["type"].as_str().unwrap().to_string(),
                ));
                next += 1;
            }
            "content_block_delta" => {
                let (i, ty) = open.clone().expect("delta inside a block");
                assert_eq!(d["index"], i);
                let dt = d["delta"]["type"].as_str().unwrap();
                let ok = matches!(
                    (ty.as_str(), dt),
                    ("text", "text_delta")
                        | ("thinking", "thinking_delta")
                        | ("thinking", "signature_delta")
                        | ("tool_use", "input_json_delta")
                );
                assert!(ok, "{dt} in a {ty} block");
            }
            "content_block_stop" => {
                assert_eq!(d["index"], open.take().expect("stop of an open block").0);
            }
            "message_delta" => {
                assert!(open.is_none());
                assert!(d["usage"]["output_tokens"].is_u64());
            }
            "ping" | "message_stop" | "error" => {}
            other => panic!("unexpected event {other}"),
        }
    }
}

fn text_of(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect()
}

fn stop_of(events: &[(String, Value)]) -> Value {
    events
        .iter()
        .find(|(n, _)| n == "message_delta")
        .map(|(_, d)| d["delta"]["stop_reason"].clone())
        .unwrap_or(Value::Null)
}

fn text_stream() -> String {
    [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo, é✓"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(),
        "data: [DONE]\n\n".into(),
    ]
    .concat()
}

#[test]
fn text_only() {
    let ev = run(&text_stream(), false, &[]);
    assert_well_formed(&ev);
    let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(text_of(&ev), "Hello, é✓");
    assert_eq!(stop_of(&ev), "end_turn");
    assert_eq!(ev[0].1["message"]["model"], "qwen3-32b");
    assert!(ev[0].1["message"]["id"]
        .as_str()
        .unwrap()
        .starts_with("msg_"));
}

#[test]
fn usage_after_finish_reason_is_in_message_delta() {
    let ev = run(&text_stream(), false, &[]);
    let md = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(
        md.1["usage"],
        json!({"input_tokens": 12, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 8})
    );
}

#[test]
fn every_split_offset_gives_the_same_events() {
    let s = text_stream();
    let whole = run(&s, false, &[]);
    let strip_ids = |ev: Vec<(String, Value)>| -> Vec<(String, Value)> {
        ev.into_iter()
            .map(|(n, mut d)| {
                if n == "message_start" {
                    d["message"]["id"] = json!("x");
                }
                (n, d)
            })
            .collect()
    };
    let whole = strip_ids(whole);
    for i in 0..=s.len() {
        assert_eq!(strip_ids(run(&s, false, &[i])), whole, "split at {i}");
    }
}

#[test]
fn text_then_tool_calls() {
    let s = [
        chunk(json!({"role": "assistant", "content": "Let me check."}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Ghent\"}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(),
        "data: [DONE]\n\n".into(),
    ].concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    let starts: Vec<&Value> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| &d["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "text");
    assert_eq!(
        starts[1],
        &json!({"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}})
    );
    let args: String = ev
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Ghent"})
    );
    assert_eq!(stop_of(&ev), "tool_use");
}

#[test]
fn two_parallel_tool_calls_with_interleaved_fragments_stay_apart() {
    let s = [
        chunk(json!({"role": "assistant"}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": "{\"x\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": "{\"y\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"name": "b", "arguments": ":2}"}}]}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".into(),
    ].concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    let blocks: Vec<(Value, Value)> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| {
            (
                d["content_block"]["id"].clone(),
                d["content_block"]["name"].clone(),
            )
        })
        .collect();
    assert_eq!(
        blocks,
        [(json!("c0"), json!("a")), (json!("c1"), json!("b"))]
    );
    assert_eq!(args_by_block(&ev), [json!({"x": 1}), json!({"y": 2})]);
    // finish_reason "stop" with tool calls is still tool_use.
    assert_eq!(stop_of(&ev), "tool_use");
}

#[test]
fn thinking_then_text() {
    let s = [
        chunk(
            json!({"role": "assistant", "reasoning_content": "Think"}),
            None,
        ),
        chunk(json!({"reasoning_content": "ing."}), None),
        chunk(json!({"content": "Answer."}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let ev = run(&s, true, &[]);
    assert_well_formed(&ev);
    let starts: Vec<&str> = ev
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| d["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["thinking", "text"]);
    let thinking: String = ev
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/thinking").and_then(Value::as_str))
        .collect();
    assert_eq!(thinking, "Thinking.");
    // Without thinking requested, reasoning is not shown.
    let ev = run(&s, false, &[]);
    assert_eq!(
        ev.iter()
            .filter(|(n, _)| n == "content_block_start")
            .count(),
        1
    );
}

/// Each tool_use block's concatenated `input_json_delta`s, parsed.
fn args_by_block(ev: &[(String, Value)]) -> Vec<Value> {
    let tool_blocks: Vec<u64> = ev
        .iter()
        .filter(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .map(|(_, d)| d["index"].as_u64().unwrap())
        .collect();
    tool_blocks
        .iter()
        .map(|i| {
            let s: String = ev
                .iter()
                .filter(|(_, d)| d["index"] == *i)
                .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
                .collect();
            serde_json::from_str(&s).unwrap()
        })
        .collect()
}

#[test]
fn sequential_tool_calls_stream_live() {
    let first = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}), None),
    ]
    .concat();
    let rest = [
        chunk(json!({"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": "{\"y\":2}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
    ]
    .concat();
    let mut t = StreamTranslator::new(meta(false), "r".into(), 1 << 20);
    // Before the upstream finishes, the first call's arguments are already out, as sent.
    let early = parse(&t.process(&Bytes::from(first.clone())));
    let frags: Vec<&str> = early
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
        .collect();
    assert_eq!(frags, ["{\"x\":", "1}"]);
    let ev = run(&format!("{first}{rest}"), false, &[]);
    assert_well_formed(&ev);
    assert_eq!(args_by_block(&ev), [json!({"x": 1}), json!({"y": 2})]);
    assert_eq!(stop_of(&ev), "tool_use");
}

#[test]
fn length_stop_with_a_truncated_live_call_is_max_tokens() {
    let s = [
        chunk(json!({"content": "Partial"}), None),
        chunk(json!({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "f", "arguments": "{\"a\": \"unfinis"}}]}), None),
        chunk(json!({}), Some("length")),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    assert_eq!(stop_of(&ev), "max_tokens");
}

#[test]
fn parallel_calls_announced_before_their_arguments_stay_apart() {
    // The scripted upstream's shape: both calls start with empty arguments, then fragments alternate.
    let s = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": ""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"y\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]}), None),
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    assert_eq!(args_by_block(&ev), [json!({"x": 1}), json!({"y": 2})]);
}

#[test]
fn length_stop_drops_a_truncated_held_back_call() {
    let s = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "c0", "function": {"name": "a", "arguments": "{\"x\""}}]}), None),
        chunk(json!({"tool_calls": [{"index": 1, "id": "c1", "function": {"name": "b", "arguments": "{\"y\": \"cut"}}]}), None),
        chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}), None),
        chunk(json!({}), Some("length")),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    assert_eq!(args_by_block(&ev), [json!({"x": 1})]);
}

#[test]
fn content_filter_is_refusal() {
    let s = [
        chunk(json!({"content": "I can't"}), None),
        chunk(json!({}), Some("content_filter")),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    assert_eq!(stop_of(&run(&s, false, &[])), "refusal");
}

#[test]
fn upstream_cut_mid_stream_ends_with_an_error_event() {
    let s = [
        chunk(json!({"role": "assistant", "content": "Hel"}), None),
        "data: {\"id\":\"chatcmpl-1\",\"choi".to_string(),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    assert_eq!(ev.last().unwrap().0, "error");
    assert!(!ev
        .iter()
        .any(|(n, _)| n == "message_delta" || n == "message_stop"));
}

#[test]
fn eof_after_finish_without_done_completes() {
    let s = [
        chunk(json!({"content": "ok"}), None),
        chunk(json!({}), Some("stop")),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_eq!(ev.last().unwrap().0, "message_stop");
}

#[test]
fn upstream_error_event_becomes_an_anthropic_error() {
    let s = [
        chunk(json!({"content": "a"}), None),
        "data: {\"error\":{\"message\":\"GPU fell over\"}}\n\n".to_string(),
    ]
    .concat();
    let ev = run(&s, false, &[]);
    assert_well_formed(&ev);
    assert_eq!(ev.last().unwrap().1["error"]["message"], "GPU fell over");
}

#[test]
fn no_done_and_no_message_start_still_well_formed() {
    let ev = run("", false, &[]);
    assert_well_formed(&ev);
    assert_eq!(ev.last().unwrap().0, "error");
}

fn random_stream(r: &mut XorShift) -> String {
    let mut s = String::new();
    for _ in 0..r.below(12) {
        let piece = match r.below(10) {
            0 => chunk(json!({"content": "tëxt"}), None),
            1 => chunk(json!({"reasoning_content": "hm"}), None),
            2 => chunk(
                json!({"tool_calls": [{"index": r.below(3), "id": format!("c{}", r.below(3)), "function": {"name": "f", "arguments": "{\"k\":"}}]}),
                None,
            ),
            3 => chunk(
                json!({"tool_calls": [{"index": r.below(3), "function": {"arguments": "1}"}}]}),
                None,
            ),
            4 => chunk(
                json!({}),
                Some(["stop", "length", "tool_calls", "content_filter"][r.below(4) as usize]),
            ),
            5 => usage_chunk(),
            6 => "data: [DONE]\n\n".into(),
            7 => "data: {not json\n\n".into(),
            8 => ": keep-alive\n\n".into(),
            _ => "data: {\"choices\":null}\n\n".into(),
        };
        s.push_str(&piece);
    }
    if r.below(3) == 0 {
        let cut = r.below(s.len() as u64 + 1) as usize;
        s = String::from_utf8_lossy(&s.as_bytes()[..cut]).into_owned();
    }
    s
}

#[test]
fn random_chunk_streams_always_yield_well_formed_events() {
    let mut r = XorShift(0x5eed_cafe_f00d_d00d);
    for case in 0..3000 {
        let s = random_stream(&mut r);
        let splits: Vec<usize> = {
            let mut v: Vec<usize> = (0..r.below(4))
                .map(|_| r.below(s.len() as u64 + 1) as usize)
                .collect();
            v.sort_unstable();
            v
        };
        for thinking in [false, true] {
            let ev = run(&s, thinking, &splits);
            assert_well_formed(&ev);
            let _ = case;
        }
    }
}
