//! Upstream endpoints, resolved once at start-up so the request path never blocks on DNS.

use crate::config::{ConfigError, Provider};
use http::HeaderValue;
use std::net::{SocketAddr, ToSocketAddrs};

#[derive(Debug, Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub tls: bool,
    pub sni: String,
    /// `Host` header value.
    pub authority: HeaderValue,
    pub path_prefix: String,
    /// Ready-made `Authorization: Bearer …` (OpenAI) or `x-api-key` (Anthropic) value.
    pub credential: Option<HeaderValue>,
    pub timeouts: crate::config::Timeouts,
}

/// A credential by name: the environment variable, else a systemd credential of that name
/// (`LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`, never placed in the environment).
fn read_secret(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join(name)).ok()?;
    Some(text.trim_end_matches(['\r', '\n']).to_string())
}

impl Upstream {
    /// Resolve a provider: DNS and the credential from its environment variable. `index` names
    /// the field in errors.
    pub fn resolve(p: &Provider, index: usize) -> Result<Self, ConfigError> {
        let addr = (p.base.host.as_str(), p.base.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                ConfigError::new(
                    format!("providers[{index}].base_url"),
                    format!("cannot resolve {}:{}", p.base.host, p.base.port),
                )
            })?;
        let credential = match &p.api_key_env {
            None => None,
            Some(var) => {
                let secret = read_secret(var).ok_or_else(|| {
                    ConfigError::new(
                        format!("providers[{index}].api_key_env"),
                        format!("{var} is neither set in the environment nor a systemd credential"),
                    )
                })?;
                let value = match p.api {
                    crate::config::ProviderApi::OpenAi => format!("Bearer {secret}"),
                    crate::config::ProviderApi::Anthropic => secret,
                };
                let mut hv = HeaderValue::from_str(&value).map_err(|_| {
                    ConfigError::new(
                        format!("providers[{index}].api_key_env"),
                        format!("{var} holds characters not allowed in a header"),
                    )
                })?;
                hv.set_sensitive(true);
                Some(hv)
            }
        };
        Ok(Self {
            addr,
            tls: p.base.tls,
            sni: p.base.host.clone(),
            authority: HeaderValue::from_str(&p.base.authority()).map_err(|_| {
                ConfigError::new(
                    format!("providers[{index}].base_url"),
                    "the host is not a header value".to_string(),
                )
            })?,
            path_prefix: p.base.path.clone(),
            credential,
            timeouts: p.timeouts,
        })
    }
}
