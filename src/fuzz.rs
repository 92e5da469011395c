//! Fuzzing the code that reads untrusted bytes: the SSE framer, the usage taps, both stream
//! translators, both request translators and (in `keys::format`) the key parser. Inputs are
//! generated from a fixed seed (the same cases in every run, so a failure reproduces), mixing
//! well-formed pieces with garbage; the properties are: no panic, and memory that stays bounded
//! by the configured event limit however long the input.

use crate::sse::SseFramer;
use crate::test_support::XorShift;
use crate::translate::request::{messages_to_chat, MessagesMeta};
use crate::translate::reverse::request::{chat_to_messages, ChatMeta};
use crate::translate::reverse::stream::ReverseStreamTranslator;
use crate::translate::stream::StreamTranslator;
use crate::usage::{AnthropicStreamTap, OpenAiStreamTap};
use bytes::Bytes;
use serde_json::{json, Value};

const MAX_EVENT: usize = 4096;

/// Byte soup with SSE-ish structure: fragments of real events, separators, garbage, long runs
/// without any separator (the memory test), multi-byte UTF-8 cut anywhere.
fn soup(r: &mut XorShift) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"data: ",
        b"event: message_start\n",
        b"event: content_block_delta\n",
        b"\n\n",
        b"\r\n\r\n",
        b"\n",
        b": ping\n\n",
        b"data: [DONE]\n\n",
        b"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\xc3\xa9\"}}",
        b"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}",
        b"{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{\\\"a\"}}]}}]}",
        b"{\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":3}}}",
        b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}",
        b"{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2},\"choices\":[]}",
        b"{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}",
        b"{not json",
        b"\xff\xfe\x00",
        b"\xe2\x82",
    ];
    let mut out = Vec::new();
    for _ in 0..r.below(40) {
        if r.below(20) == 0 {
            // A long run with no separator: must be cut off at the event limit, not buffered.
            let n = MAX_EVENT * (1 + r.below(3) as usize) + r.below(100) as usize;
            out.extend(std::iter::repeat_n(b'a', n));
        } else {
            out.extend_from_slice(PIECES[r.below(PIECES.len() as u64) as usize]);
        }
    }
    out
}

/// Split `input` into 1..=8 random reads.
fn reads(r: &mut XorShift, input: &[u8]) -> Vec<Bytes> {
    let mut cuts: Vec<usize> = (0..r.below(8))
        .map(|_| r.below(input.len() as u64 + 1) as usize)
        .collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain(std::iter::once(input.len())) {
        out.push(Bytes::copy_from_slice(&input[at..c]));
        at = c;
    }
    out
}

#[test]
fn sse_framer_never_holds_more_than_one_event_limit() {
    let mut r = XorShift(0xf0f0_1234_5678_9abc);
    for _ in 0..5000 {
        let input = soup(&mut r);
        let mut framer = SseFramer::new(MAX_EVENT);
        for read in reads(&mut r, &input) {
            let held = framer.pending().len();
            let (events, _) = framer.push_collect(&read);
            for e in events {
                // Only what was held plus this read can come out: nothing grows across reads.
                assert!(
                    e.len() <= held + read.len(),
                    "{} from {held} + {}",
                    e.len(),
                    read.len()
                );
            }
            assert!(
                framer.pending().len() <= MAX_EVENT,
                "buffered {}",
                framer.pending().len()
            );
        }
        let _ = framer.finish();
    }
}

#[test]
fn usage_taps_survive_anything_and_stay_bounded() {
    let mut r = XorShift(0x7a95_0001_dead_0002);
    for case in 0..3000 {
        let input = soup(&mut r);
        let mut openai = OpenAiStreamTap::new(case % 2 == 0, MAX_EVENT);
        let mut anthropic = AnthropicStreamTap::new(MAX_EVENT);
        let mut out = 0usize;
        for read in reads(&mut r, &input) {
            out += openai.process(&read).len();
            let _ = anthropic.process(&read);
        }
        out += openai.finish().len();
        anthropic.finish();
        // A tap forwards or drops; it never makes more than it was given (plus nothing).
        assert!(out <= input.len(), "{out} > {}", input.len());
    }
}

/// Every translated output is a sequence of complete SSE events whose data is JSON (or
/// `[DONE]`), however broken the input was.
fn assert_clean_sse(out: &[u8]) {
    let text = String::from_utf8(out.to_vec()).expect("translators emit UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated: {text:?}"
    );
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        for line in event.lines().filter(|l| l.starts_with("data: ")) {
            let data = &line[6..];
            assert!(
                data == "[DONE]" || serde_json::from_str::<Value>(data).is_ok(),
                "not JSON: {data:?}"
            );
        }
        assert!(event.len() < 64 * 1024, "an oversized translated event");
    }
}

#[test]
fn both_stream_translators_turn_garbage_into_clean_events() {
    let mut r = XorShift(0x0dd5_0eed_1357_9bdf);
    for _ in 0..3000 {
        let input = soup(&mut r);
        let mut forward =
            StreamTranslator::new(MessagesMeta::default(), "req_fuzz".into(), MAX_EVENT);
        let mut reverse = ReverseStreamTranslator::new(ChatMeta::default(), MAX_EVENT);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for read in reads(&mut r, &input) {
            a.extend_from_slice(&forward.process(&read));
            b.extend_from_slice(&reverse.process(&read));
        }
        a.extend_from_slice(&forward.finish());
        b.extend_from_slice(&reverse.finish());
        assert_clean_sse(&a);
        assert_clean_sse(&b);
    }
}

/// A random JSON value built from the shapes the request translators look for, with wrong types
/// in the wrong places.
fn random_value(r: &mut XorShift, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "model",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "system",
        "tools",
        "tool_choice",
        "max_tokens",
        "stream",
        "temperature",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "input",
        "id",
        "tool_use_id",
        "image_url",
        "source",
        "thinking",
        "stop",
        "n",
        "response_format",
        "stream_options",
        "metadata",
        "cache_control",
    ];
    const STRINGS: &[&str] = &[
        "user",
        "assistant",
        "system",
        "tool",
        "developer",
        "text",
        "image",
        "tool_use",
        "tool_result",
        "image_url",
        "auto",
        "any",
        "none",
        "function",
        "thinking",
        "base64",
        "json_schema",
        "",
        "{\"a\":1}",
        "{broken",
    ];
    match if depth > 3 { r.below(4) } else { r.below(7) } {
        0 => Value::Null,
        1 => json!(r.below(3) == 0),
        2 => json!(r.below(100_000) as i64 - 10),
        3 => json!(STRINGS[r.below(STRINGS.len() as u64) as usize]),
        4 | 5 => {
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(6) {
                let k = KEYS[r.below(KEYS.len() as u64) as usize];
                m.insert(k.into(), random_value(r, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(
            (0..r.below(4))
                .map(|_| random_value(r, depth + 1))
                .collect(),
        ),
    }
}

/// Valid requests of both contracts, to be damaged in one place each.
fn templates() -> Vec<Value> {
    vec![
        json!({"model": "m", "max_tokens": 50, "system": [{"type": "text", "text": "be brief"}],
               "messages": [{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": [{"type": "text", "text": "x"},
                                {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
                            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                "content": [{"type": "text", "text": "ok"}]}]}],
               "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
               "tool_choice": {"type": "auto"}, "stream": true, "thinking": {"type": "enabled", "budget_tokens": 1024}}),
        json!({"model": "m", "messages": [{"role": "system", "content": "s"},
                                         {"role": "user", "content": [{"type": "text", "text": "hi"},
                                             {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                                         {"role": "assistant", "content": null, "tool_calls": [{"id": "c1",
                                             "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                                         {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
               "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
               "tool_choice": "auto", "max_tokens": 20, "stream": true, "stop": ["x"],
               "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}}),
    ]
}

/// Replace the value at one random place in `v` (any depth) with a random value.
fn damage(r: &mut XorShift, v: &mut Value) {
    let children: usize = match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    };
    if children == 0 || r.below(4) == 0 {
        *v = random_value(r, 2);
        return;
    }
    let i = r.below(children as u64) as usize;
    match v {
        Value::Object(m) => {
            let (_, child) = m.iter_mut().nth(i).expect("in range");
            damage(r, child);
        }
        Value::Array(a) => damage(r, &mut a[i]),
        _ => unreachable!(),
    }
}

#[test]
fn request_translators_answer_or_refuse_but_never_panic() {
    let mut r = XorShift(0xabcd_ef01_2345_6789);
    let base = templates();
    let (mut ok, mut refused) = (0, 0);
    for case in 0..20_000 {
        let v = if case % 4 == 0 {
            random_value(&mut r, 0)
        } else {
            let mut v = base[r.below(base.len() as u64) as usize].clone();
            damage(&mut r, &mut v);
            v
        };
        for result in [
            messages_to_chat(&v, "up").map(|t| t.body),
            chat_to_messages(&v, "up").map(|(body, _)| body),
        ] {
            match result {
                Ok(body) => {
                    serde_json::to_vec(&body).expect("serialisable");
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(e.status(), 400, "{}", e.message);
                    refused += 1;
                }
            }
        }
    }
    // Both outcomes were exercised.
    assert!(ok > 1000 && refused > 1000, "ok {ok}, refused {refused}");
}

/// Header names a client or an upstream could send: the dangerous ones, the allowed ones, and
/// random tokens.
fn header_name(r: &mut XorShift) -> String {
    const NAMES: &[&str] = &[
        "authorization",
        "x-api-key",
        "cookie",
        "openai-organization",
        "openai-project",
        "x-forwarded-for",
        "x-stav-max-tier",
        "anthropic-version",
        "anthropic-beta",
        "content-type",
        "accept",
        "set-cookie",
        "x-echo",
        "request-id",
        "anthropic-ratelimit-tokens-remaining",
        "x-script-content",
        "proxy-authorization",
        "x-request-id",
    ];
    match r.below(3) {
        0 => {
            let n = 1 + r.below(12);
            (0..n)
                .map(|_| (b'a' + r.below(26) as u8) as char)
                .collect::<String>()
        }
        _ => NAMES[r.below(NAMES.len() as u64) as usize].to_string(),
    }
}

const FUZZ_KEY: &str = "sk-fuzz-credential-0123456789";

/// A header value: plain, or one of the credential's forms, possibly inside other text.
fn header_value(r: &mut XorShift) -> String {
    use base64::Engine;
    let form = match r.below(6) {
        0 => FUZZ_KEY.to_string(),
        1 => format!("Bearer {FUZZ_KEY}"),
        2 => FUZZ_KEY.replace('-', "\\u002d"),
        3 => FUZZ_KEY
            .bytes()
            .map(|b| format!("%{b:02x}"))
            .collect::<String>(),
        4 => base64::engine::general_purpose::STANDARD.encode(format!("u:{FUZZ_KEY}")),
        _ => String::new(),
    };
    format!("v{} {form} {}", r.below(100), r.below(100))
}

#[test]
fn fuzz_header_paths_keep_their_promises() {
    use crate::bridge::provider::{retain_answer_headers, upstream_head, Own, NEVER_FORWARDED};
    use crate::config::ProviderApi;
    use crate::scrub::Secrets;
    use pingora_http::{RequestHeader, ResponseHeader};

    let secrets = Secrets::new([format!("Bearer {FUZZ_KEY}").as_bytes()]);
    let cred = http::HeaderValue::from_str(&format!("Bearer {FUZZ_KEY}")).unwrap();
    let mut r = XorShift(0x4ead_e125);
    for round in 0..3000 {
        let api = if r.below(2) == 0 {
            ProviderApi::OpenAi
        } else {
            ProviderApi::Anthropic
        };
        let mut req = RequestHeader::build("POST", b"/v1/x", None).unwrap();
        let mut resp = ResponseHeader::build(200, None).unwrap();
        for _ in 0..r.below(16) {
            let (name, value) = (header_name(&mut r), header_value(&mut r));
            req.append_header(name.clone(), value.as_str()).unwrap();
            resp.append_header(name, value.as_str()).unwrap();
        }
        let forward = vec!["x-script*".to_string()];
        let host = http::HeaderValue::from_static("up.example");
        let own = Own {
            host: &host,
            credential: Some(&cred),
            forward: &forward,
            content_length: 1,
            request_id: "req_fuzz",
        };
        let req = upstream_head(api, &req, "/v1/x", &own, None).unwrap();
        for (name, value) in req.headers.iter() {
            let n = name.as_str();
            let ours = (n == "authorization" && api == ProviderApi::OpenAi)
                || (n == "x-api-key" && api == ProviderApi::Anthropic)
                || ["user-agent", "host", "content-length", "x-request-id"].contains(&n);
            if ours {
                continue;
            }
            assert!(
                !NEVER_FORWARDED.iter().any(|f| n.starts_with(f)),
                "round {round}: {n} went up"
            );
            assert!(
                [
                    "content-type",
                    "accept",
                    "anthropic-version",
                    "anthropic-beta"
                ]
                .contains(&n)
                    || n.starts_with("x-script"),
                "round {round}: {n}: {value:?}"
            );
        }
        let mut head = crate::headers::ClientHead::take(&mut resp).unwrap();
        retain_answer_headers(&mut head.parts.headers, r.below(2) == 0, &secrets);
        for (name, value) in head.parts.headers.iter() {
            assert!(
                !secrets.found_in(value.as_bytes()),
                "round {round}: {name} kept a credential"
            );
            assert!(!name.as_str().contains("cookie"), "round {round}: {name}");
        }
        // The cap header: whatever the lines say, the result is a tier no line exceeds, or a 400.
        let mut caps = http::HeaderMap::new();
        let tiers = [
            "sovereign",
            "routed-commercial",
            "global-commercial",
            "public",
            "",
        ];
        for _ in 0..r.below(4) {
            let t = tiers[r.below(tiers.len() as u64) as usize];
            caps.append("x-stav-max-tier", http::HeaderValue::from_static(t));
        }
        if let Ok(Some(t)) = crate::proxy::header_max_tier(&caps) {
            for v in caps.get_all("x-stav-max-tier") {
                let line: crate::tier::Tier = v.to_str().unwrap().parse().unwrap();
                assert!(t <= line);
            }
        }
    }
}

#[test]
fn fuzz_scrubbing_never_lets_a_credential_through_and_keeps_lengths() {
    use crate::scrub::Secrets;
    let secrets = Secrets::new([format!("Bearer {FUZZ_KEY}").as_bytes()]);
    let mut r = XorShift(0x5c2b_b1e5);
    for round in 0..2000 {
        let mut body = Vec::new();
        for _ in 0..r.below(12) {
            match r.below(4) {
                0 => body.extend_from_slice(header_value(&mut r).as_bytes()),
                1 => body.extend_from_slice(b"\\\"%\\u00e9 data: {\"x\":1}\n\n"),
                _ => body.extend((0..r.below(40)).map(|_| b' ' + r.below(95) as u8)),
            }
        }
        let mut sc = secrets.stream();
        let mut out = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let n = (1 + r.below(30) as usize).min(body.len() - at);
            let end = at + n == body.len();
            if let Some(b) = sc.process(Some(Bytes::copy_from_slice(&body[at..at + n])), end) {
                out.extend_from_slice(&b);
            }
            at += n;
        }
        if body.is_empty() {
            continue;
        }
        assert_eq!(out.len(), body.len(), "round {round}: length changed");
        assert!(
            !secrets.found_in(&out),
            "round {round}: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}
