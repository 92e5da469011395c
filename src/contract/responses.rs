//! The Responses API's own answers about stored responses: the deletion receipt and the pages of
//! `GET /v1/responses/{id}/input_items`.

use super::{ErrorKind, GatewayError};
use serde_json::{json, Value};

pub fn deleted(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "response", "deleted": true}))
        .expect("json serializes")
}

pub fn not_found(id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::ResponseNotFound,
        format!("Response with id '{id}' not found."),
    )
}

fn bad(msg: &str) -> GatewayError {
    GatewayError::new(ErrorKind::InvalidRequest, msg)
}

/// One page of input items, as OpenAI lists them: newest first unless `order=asc`, `limit`
/// (1–100, default 20) items after the item `after`.
pub fn input_items_page(items: &[Value], query: Option<&str>) -> Result<Vec<u8>, GatewayError> {
    let (mut limit, mut desc, mut after) = (20usize, true, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad("limit must be between 1 and 100").with_param("limit"))?
            }
            "order" => {
                desc = match v {
                    "desc" => true,
                    "asc" => false,
                    _ => return Err(bad("order must be asc or desc").with_param("order")),
                }
            }
            "after" => after = Some(v),
            // `include[]` and the like change nothing in what is stored here.
            _ => {}
        }
    }
    let ordered: Vec<&Value> = if desc {
        items.iter().rev().collect()
    } else {
        items.iter().collect()
    };
    let start = match after {
        None => 0,
        Some(id) => {
            ordered
                .iter()
                .position(|i| i.get("id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| bad("after names no item of this response").with_param("after"))?
                + 1
        }
    };
    let end = (start + limit).min(ordered.len());
    let data: Vec<&Value> = ordered[start.min(end)..end].to_vec();
    let id_of = |v: Option<&&Value>| v.and_then(|i| i.get("id")).cloned().unwrap_or(Value::Null);
    let page = json!({
        "object": "list",
        "data": data,
        "first_id": id_of(data.first()),
        "last_id": id_of(data.last()),
        "has_more": end < ordered.len(),
    });
    Ok(serde_json::to_vec(&page).expect("json serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("msg_{i}")})).collect()
    }

    fn page(items: &[Value], q: &str) -> Value {
        serde_json::from_slice(&input_items_page(items, Some(q)).unwrap()).unwrap()
    }

    #[test]
    fn newest_first_by_default_and_paged_with_after() {
        let all = items(25);
        let p = page(&all, "");
        assert_eq!(p["data"].as_array().unwrap().len(), 20);
        assert_eq!(p["first_id"], "msg_24");
        assert_eq!(p["has_more"], true);
        let next = page(&all, &format!("after={}", p["last_id"].as_str().unwrap()));
        assert_eq!(next["data"].as_array().unwrap().len(), 5);
        assert_eq!(next["last_id"], "msg_0");
        assert_eq!(next["has_more"], false);
        let asc = page(&all, "order=asc&limit=2");
        assert_eq!(asc["first_id"], "msg_0");
        assert_eq!(asc["last_id"], "msg_1");
    }

    #[test]
    fn bad_parameters_are_400s() {
        for q in ["limit=0", "limit=101", "order=up", "after=nope"] {
            assert_eq!(
                input_items_page(&items(3), Some(q)).unwrap_err().status(),
                400,
                "{q}"
            );
        }
        let empty: Value = serde_json::from_slice(&input_items_page(&[], None).unwrap()).unwrap();
        assert_eq!(empty["data"], json!([]));
        assert_eq!(empty["first_id"], Value::Null);
    }
}
