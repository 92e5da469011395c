//! `GET /v1/models` in both contracts' list shapes.

use super::Contract;
use crate::catalogue::ModelEntry;
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

fn created(e: &ModelEntry, default_created: u64) -> u64 {
    e.created.unwrap_or(default_created)
}

fn openai_model(e: &ModelEntry, default_created: u64) -> Value {
    json!({
        "id": e.name,
        "object": "model",
        "created": created(e, default_created),
        "owned_by": e.provider_name,
        "tier": e.tier.as_str(),
    })
}

fn anthropic_model(e: &ModelEntry, default_created: u64) -> Value {
    let at = UNIX_EPOCH + Duration::from_secs(created(e, default_created));
    json!({
        "type": "model",
        "id": e.name,
        "display_name": e.name,
        "created_at": humantime::format_rfc3339_seconds(at).to_string(),
        "tier": e.tier.as_str(),
    })
}

/// The list in the caller's shape. Anthropic's carries `has_more: false` so its SDK pager ends.
pub fn models_list<'a>(
    models: impl Iterator<Item = &'a ModelEntry>,
    contract: Contract,
    default_created: u64,
) -> Vec<u8> {
    let v = match contract {
        Contract::OpenAi => {
            let data: Vec<Value> = models.map(|e| openai_model(e, default_created)).collect();
            json!({"object": "list", "data": data})
        }
        Contract::Anthropic => {
            let data: Vec<Value> = models
                .map(|e| anthropic_model(e, default_created))
                .collect();
            let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
            let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
            json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
        }
    };
    serde_json::to_vec(&v).expect("model lists serialize")
}

/// One model, `GET /v1/models/{id}`.
pub fn model_object(e: &ModelEntry, contract: Contract, default_created: u64) -> Vec<u8> {
    let v = match contract {
        Contract::OpenAi => openai_model(e, default_created),
        Contract::Anthropic => anthropic_model(e, default_created),
    };
    serde_json::to_vec(&v).expect("models serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::ModelKind;
    use crate::tier::Tier;

    fn e(name: &str) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            provider: 0,
            provider_name: "eu-vllm".into(),
            upstream_model: None,
            tier: Tier::Sovereign,
            kind: ModelKind::Chat,
            created: Some(1_735_689_600),
            weight: 1,
            priority: 0,
        }
    }

    #[test]
    fn openai_list_shape() {
        let es = [e("a"), e("b")];
        let v: Value =
            serde_json::from_slice(&models_list(es.iter(), Contract::OpenAi, 0)).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["id"], "b");
        assert_eq!(v["data"][0]["object"], "model");
        assert_eq!(v["data"][0]["created"], 1_735_689_600);
        assert_eq!(v["data"][0]["owned_by"], "eu-vllm");
        assert_eq!(v["data"][0]["tier"], "sovereign");
    }

    #[test]
    fn anthropic_list_ends_paging() {
        let es = [e("a"), e("b")];
        let v: Value =
            serde_json::from_slice(&models_list(es.iter(), Contract::Anthropic, 0)).unwrap();
        assert_eq!(v["has_more"], false);
        assert_eq!(v["first_id"], "a");
        assert_eq!(v["last_id"], "b");
        assert_eq!(v["data"][0]["created_at"], "2025-01-01T00:00:00Z");
        let empty: Value =
            serde_json::from_slice(&models_list([].iter(), Contract::Anthropic, 0)).unwrap();
        assert_eq!(empty["has_more"], false);
        assert!(empty["first_id"].is_null());
    }
}
