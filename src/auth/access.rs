//! What an authenticated key may do: its scopes and its IP allowlist (the model allowlist is
//! applied where the model is chosen, in `plan`).

use crate::keys::{KeyRecord, Scope};
use std::net::IpAddr;

/// A refusal, with the label of `stav_access_denied_total` and the message the client reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: &'static str,
    pub message: String,
}

/// The key may be used from `client` and holds `scope` (the route's, from the route table).
pub fn check(key: &KeyRecord, scope: Scope, client: IpAddr) -> Result<(), Denied> {
    if !key.allows_ip(client) {
        return Err(Denied {
            reason: "ip",
            message: format!("This API key may not be used from {client}."),
        });
    }
    if !key.has_scope(scope) {
        return Err(Denied {
            reason: "scope",
            message: format!(
                "This API key lacks the `{}` scope needed for this endpoint.",
                scope.as_str()
            ),
        });
    }
    Ok(())
}

pub fn model_denied(model: &str) -> Denied {
    Denied {
        reason: "model",
        message: format!("This API key may not use the model `{model}`."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::admin::{create, NewKey};

    #[test]
    fn scopes_and_ips_are_checked() {
        let (key, _) = create(
            &NewKey {
                team: "t".into(),
                scopes: vec![Scope::Embeddings],
                allow_ips: vec!["10.0.0.0/8".parse().unwrap()],
                ..NewKey::default()
            },
            0,
        );
        let inside: IpAddr = "10.2.3.4".parse().unwrap();
        assert!(check(&key, Scope::Embeddings, inside).is_ok());
        for s in [Scope::Chat, Scope::ModelsRead, Scope::CountTokens] {
            assert_eq!(check(&key, s, inside).unwrap_err().reason, "scope", "{s:?}");
        }
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            check(&key, Scope::Embeddings, outside).unwrap_err().reason,
            "ip"
        );
    }
}
