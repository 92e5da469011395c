//! One request's line in the ledger: who asked, what was decided and why, where it went, what it
//! cost. Never content: no prompt, no answer, no header values; model names and entity *kinds*
//! only.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A bounded label (route, contract, tier, reason): the gateway's own `&'static str` when it
/// builds a record, so a request allocates nothing for it; owned when read back from a journal.
pub type Label = Cow<'static, str>;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Answered: by an upstream (2xx) or by the gateway itself (model lists, count_tokens).
    Served,
    /// Turned away by the gateway before anything went upstream (key, scope, policy, limits,
    /// budget, malformed request); `reason` says which.
    Refused,
    /// Accepted, but no complete answer: the upstream failed or answered an error, or timed out.
    Failed,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Served => "served",
            Decision::Refused => "refused",
            Decision::Failed => "failed",
        }
    }
}

/// A string of a record: borrowed from the request's context when the logging phase builds one
/// (nothing is copied before the line is written), owned when read back from a journal.
pub type Text<'a> = Cow<'a, str>;

/// One record of the journal (and one row in Postgres). `seq` and `prev` are the chain: set by
/// the writer, which also appends the record's own `hash` when it seals the line. Read back, it
/// is a `LedgerRecord<'static>`: every string owned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord<'a> {
    /// Position in this node's journal, from 1, never reused (carried across segments).
    #[serde(default)]
    pub seq: u64,
    /// Hash of the previous record's line (64 zeros before the first).
    #[serde(default)]
    pub prev: String,
    pub request_id: Text<'a>,
    /// When the request arrived: RFC 3339, UTC, milliseconds.
    pub ts: Text<'a>,
    pub key_id: Option<Text<'a>>,
    pub team: Option<Text<'a>>,
    /// Bounded route label (`chat_completions`, `messages`, ...).
    pub route: Label,
    /// The client's contract: `openai` or `anthropic`.
    pub contract: Label,
    /// The `model` the client sent (bounded in length), `auto` included.
    pub requested_model: Option<Text<'a>>,
    /// The model that served it (the router's choice for `auto`).
    pub model: Option<Text<'a>>,
    pub provider: Option<Text<'a>>,
    /// The tier of the deployment that served it.
    pub tier: Option<Label>,
    /// The request's effective sovereignty cap.
    pub max_tier: Option<Label>,
    /// What set the cap ("team policy", "sensitive data detected (iban)", ...): kinds, never text.
    #[serde(default)]
    pub cap_causes: Vec<Text<'a>>,
    pub decision: Decision,
    /// Why, for refusals and failures: a bounded label (`rate_limited`, `budget_exceeded`,
    /// `sovereignty_policy_violation`, `upstream_status`, `upstream_timeout`, ...).
    pub reason: Option<Label>,
    /// The status the client got (0: nothing was written, the client had gone).
    pub status: u16,
    /// What went wrong, in the gateway's words (never the upstream's body).
    pub error: Option<Text<'a>>,
    /// Totals as the upstream reported them (cache reads and writes included in the input,
    /// reasoning in the output).
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    #[serde(default)]
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// The counts are the gateway's estimate: the upstream's usage never came (a client that left
    /// mid-stream) or was incomplete.
    pub usage_estimated: bool,
    pub duration_ms: u64,
    /// Time to the first byte of the answer's body (first token on streams).
    pub ttft_ms: Option<u64>,
    /// Deployments tried (0: nothing went upstream).
    pub attempts: u32,
    pub stream: bool,
    /// The client closed its connection before it had the whole answer.
    pub client_cancelled: bool,
    /// This record's seal (see `chain`); read back from the journal, never serialized here.
    #[serde(default, skip_serializing)]
    pub hash: String,
}

impl LedgerRecord<'_> {
    /// Tokens counted against limits and budgets: every input and output token.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// A typical record (tests, and the ledger's criterion bench).
#[doc(hidden)]
pub fn sample(request_id: &str) -> LedgerRecord<'static> {
    LedgerRecord {
        seq: 0,
        prev: String::new(),
        request_id: request_id.to_string().into(),
        ts: "2026-05-04T10:00:00.000Z".into(),
        key_id: Some("abcdefghijkl".into()),
        team: Some("team-a".into()),
        route: "chat_completions".into(),
        contract: "openai".into(),
        requested_model: Some("qwen3-32b".into()),
        model: Some("qwen3-32b".into()),
        provider: Some("eu-vllm".into()),
        tier: Some("sovereign".into()),
        max_tier: Some("global-commercial".into()),
        cap_causes: vec!["team policy".into()],
        decision: Decision::Served,
        reason: None,
        status: 200,
        error: None,
        input_tokens: 11,
        output_tokens: 7,
        cached_tokens: 3,
        cache_write_tokens: 0,
        reasoning_tokens: 2,
        usage_estimated: false,
        duration_ms: 12,
        ttft_ms: Some(5),
        attempts: 1,
        stream: false,
        client_cancelled: false,
        hash: String::new(),
    }
}
