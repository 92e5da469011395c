//! What routing needs from a request body, parsed once, and the byte-level rewrite that sends it
//! upstream with every other byte untouched.
//!
//! The body is validated by serde_json in full, but only the few top-level fields the gateway acts
//! on are materialised; their positions come from borrowed `RawValue`s, so rewriting is a splice.

use crate::contract::routes::ClientApi;
use crate::contract::{ErrorKind, GatewayError};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::ops::Range;

#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<serde_json::Value>,
    #[serde(borrow, default)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_completion_tokens: Option<&'a RawValue>,
    /// The Responses API's output budget.
    #[serde(borrow, default)]
    max_output_tokens: Option<&'a RawValue>,
    /// The Responses API's stored conversation to continue.
    #[serde(default)]
    previous_response_id: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// The parsed view of a request body: the model, whether it streams, and where things are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub model: String,
    pub model_range: Range<usize>,
    pub stream: bool,
    /// `stream_options.include_usage` as the client sent it.
    pub include_usage: bool,
    pub stream_options_range: Option<Range<usize>>,
    /// The output budget the client asked for (`max_completion_tokens`, else `max_tokens`), read
    /// leniently: a malformed value is the upstream's to refuse.
    pub max_output: Option<u64>,
    /// Responses API: the stored response this request continues.
    pub previous_response_id: Option<String>,
}

fn range_in(body: &[u8], raw: &RawValue) -> Range<usize> {
    // `raw` borrows from `body` (serde_json::from_slice with borrowed RawValue), so its position is
    // its pointer offset.
    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
    start..start + raw.get().len()
}

fn bad(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::InvalidRequest, msg)
}

impl RequestView {
    pub fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(bad("the request body is empty; send a JSON object"));
        }
        let top: TopLevel = serde_json::from_slice(body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                bad(format!("the request body is not valid JSON: {e}"))
            } else {
                bad(format!("the request body is invalid: {e}"))
            }
        })?;
        // serde also reads a struct from a JSON array; the contracts want an object.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(bad("the request body must be a JSON object"));
        }
        let raw_model = top
            .model
            .filter(|m| m.get() != "null")
            .ok_or_else(|| bad("you must provide a model parameter").with_param("model"))?;
        let model: String = serde_json::from_str(raw_model.get())
            .map_err(|_| bad("model must be a string").with_param("model"))?;
        if model.is_empty() {
            return Err(bad("model must not be empty").with_param("model"));
        }
        let stream = match top.stream {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => b,
            Some(_) => return Err(bad("stream must be a boolean").with_param("stream")),
        };
        let (include_usage, stream_options_range) = match top.stream_options {
            Some(raw) if raw.get() != "null" => {
                let so: StreamOptions = serde_json::from_str(raw.get()).map_err(|e| {
                    bad(format!("stream_options is invalid: {e}")).with_param("stream_options")
                })?;
                (so.include_usage.unwrap_or(false), Some(range_in(body, raw)))
            }
            _ => (false, None),
        };
        let max_output = [
            top.max_completion_tokens,
            top.max_tokens,
            top.max_output_tokens,
        ]
        .into_iter()
        .flatten()
        .find_map(|raw| raw.get().parse::<u64>().ok());
        let previous_response_id = match top.previous_response_id {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
            Some(_) => {
                return Err(bad("previous_response_id must be a response id")
                    .with_param("previous_response_id"))
            }
        };
        Ok(Self {
            model_range: range_in(body, raw_model),
            model,
            stream,
            include_usage,
            stream_options_range,
            max_output,
            previous_response_id,
        })
    }
}

/// The stored conversation a Responses API request continues (`previous_response_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Every item of the conversation so far: earlier context, input and output.
    pub items: Vec<serde_json::Value>,
    /// The cap the conversation was served under: a continuation never goes above it.
    pub cap: crate::tier::Tier,
}

/// A request on its way through planning: the body as received, its top-level view, and the
/// whole body parsed at most once, by whichever step first needs it (the scan, the router, a
/// translating bridge).
pub struct ClientRequest<'a> {
    pub api: ClientApi,
    pub body: &'a Bytes,
    pub view: RequestView,
    /// The client's query string (forwarded to Anthropic upstreams).
    pub query: Option<&'a str>,
    parsed: once_cell::sync::OnceCell<serde_json::Value>,
    /// Responses API: the conversation `previous_response_id` names, loaded from the store.
    pub history: Option<History>,
    /// Responses API: the gateway keeps answers (`[responses] store`).
    pub keep_responses: bool,
}

impl<'a> ClientRequest<'a> {
    pub fn new(
        api: ClientApi,
        body: &'a Bytes,
        query: Option<&'a str>,
    ) -> Result<Self, GatewayError> {
        Ok(Self {
            api,
            body,
            view: RequestView::parse(body)?,
            query,
            parsed: once_cell::sync::OnceCell::new(),
            history: None,
            keep_responses: true,
        })
    }

    /// The whole body as JSON.
    pub fn json(&self) -> Result<&serde_json::Value, GatewayError> {
        self.parsed.get_or_try_init(|| {
            serde_json::from_slice(self.body)
                .map_err(|e| bad(format!("the request body is not valid JSON: {e}")))
        })
    }
}

/// A list of byte-range replacements applied in one pass.
struct Splice<'a> {
    edits: Vec<(Range<usize>, &'a [u8])>,
}

impl<'a> Splice<'a> {
    fn apply(mut self, body: &Bytes) -> Bytes {
        if self.edits.is_empty() {
            return body.clone();
        }
        self.edits.sort_by_key(|(r, _)| r.start);
        let grow: usize = self.edits.iter().map(|(_, b)| b.len()).sum();
        let mut out = BytesMut::with_capacity(body.len() + grow);
        let mut at = 0;
        for (r, with) in &self.edits {
            out.put_slice(&body[at..r.start]);
            out.put_slice(with);
            at = r.end;
        }
        out.put_slice(&body[at..]);
        out.freeze()
    }
}

/// Rewrite an OpenAI-contract body for its upstream: the model name becomes `upstream_model`, and
/// `force_usage` makes a stream report usage (`stream_options.include_usage: true`).
/// Returns the input itself (no copy) when nothing changes.
pub fn rewrite_openai_body(
    body: &Bytes,
    view: &RequestView,
    upstream_model: &str,
    force_usage: bool,
) -> Bytes {
    let model_json;
    let options_json;
    let mut splice = Splice { edits: Vec::new() };
    if upstream_model != view.model {
        model_json = serde_json::to_vec(upstream_model).expect("strings serialize");
        splice.edits.push((view.model_range.clone(), &model_json));
    }
    if force_usage && view.stream && !view.include_usage {
        match &view.stream_options_range {
            Some(r) => {
                let mut so: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&body[r.clone()]).unwrap_or_default();
                so.insert("include_usage".into(), serde_json::Value::Bool(true));
                options_json = serde_json::to_vec(&so).expect("maps serialize");
                splice.edits.push((r.clone(), &options_json));
            }
            None => {
                // Insert as the first member: right after the object's opening brace.
                let brace = body
                    .iter()
                    .position(|&b| b == b'{')
                    .expect("parsed as an object");
                splice.edits.push((
                    brace + 1..brace + 1,
                    b"\"stream_options\":{\"include_usage\":true},",
                ));
            }
        }
    }
    splice.apply(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn view(s: &str) -> RequestView {
        RequestView::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_model_and_stream() {
        let v = view(r#"{"messages":[],"model":"qwen3-32b","stream":true}"#);
        assert_eq!(v.model, "qwen3-32b");
        assert!(v.stream);
        assert!(!v.include_usage);
        let v = view(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#);
        assert!(v.include_usage);
    }

    #[test]
    fn bad_bodies_are_400_with_a_reason() {
        for (body, needle) in [
            ("", "empty"),
            ("not json", "not valid JSON"),
            ("[1,2]", "JSON object"),
            (r#"{"messages":[]}"#, "model"),
            (r#"{"model":null}"#, "model"),
            (r#"{"model":42}"#, "string"),
            (r#"{"model":""}"#, "empty"),
            (r#"{"model":"m","stream":"yes"}"#, "stream"),
            (r#"{"model":"m"} trailing"#, "not valid JSON"),
            (r#"{"model":"m","model":"n"}"#, "duplicate"),
        ] {
            let e = RequestView::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }

    #[test]
    fn splice_changes_only_the_model_bytes() {
        let src = "{ \"model\" : \"qwen3-32b\",\n \"x\": {\"model\":\"inner\"}, \"n\": 2, \"z\":\"é\\u00e9\" }";
        let body = Bytes::from(src);
        let v = view(src);
        let out = rewrite_openai_body(&body, &v, "Qwen/Qwen3-32B", false);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            src.replace("\"qwen3-32b\"", "\"Qwen/Qwen3-32B\"")
        );
    }

    #[test]
    fn escaped_model_names_are_decoded_and_re_encoded() {
        let src = r#"{"model":"qw\u0065n"}"#;
        let v = view(src);
        assert_eq!(v.model, "qwen");
        let out = rewrite_openai_body(&Bytes::from(src), &v, "a\"b", false);
        let parsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed["model"], "a\"b");
    }

    #[test]
    fn unchanged_body_is_not_copied() {
        let body = Bytes::from_static(br#"{"model":"m","stream":false}"#);
        let out = rewrite_openai_body(&body, &view(r#"{"model":"m","stream":false}"#), "m", true);
        assert_eq!(out.as_ptr(), body.as_ptr());
    }

    #[test]
    fn forcing_usage_inserts_or_updates_stream_options() {
        let src = r#"{"model":"m","stream":true,"messages":[]}"#;
        let out = rewrite_openai_body(&Bytes::from(src), &view(src), "m", true);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["messages"], serde_json::json!([]));

        let src = r#"{"model":"m","stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}"#;
        let out = rewrite_openai_body(&Bytes::from(src), &view(src), "up", true);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["include_obfuscation"], false);
        assert_eq!(v["model"], "up");

        // Not streaming: stream_options would be rejected upstream, so nothing is added.
        let src = r#"{"model":"m"}"#;
        let out = rewrite_openai_body(&Bytes::from(src), &view(src), "m", true);
        assert_eq!(&out[..], src.as_bytes());
    }
}
