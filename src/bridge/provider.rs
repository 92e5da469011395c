//! What each provider API needs on the way up, whichever contract the client spoke: where the
//! gateway's credential goes and which protocol headers the API expects.

use super::PResult;
use crate::config::ProviderApi;
use pingora_http::RequestHeader;

/// Anthropic's API refuses requests without a version; OpenAI clients reaching Claude send none.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

pub fn edit_upstream(
    api: ProviderApi,
    req: &mut RequestHeader,
    credential: Option<&http::HeaderValue>,
) -> PResult<()> {
    match api {
        ProviderApi::OpenAi => {
            // Anthropic's protocol headers mean nothing to an OpenAI upstream.
            let anthropic: Vec<http::HeaderName> = req
                .headers
                .keys()
                .filter(|k| k.as_str().starts_with("anthropic-"))
                .cloned()
                .collect();
            for k in anthropic {
                req.remove_header(&k);
            }
            if let Some(cred) = credential {
                req.insert_header("authorization", cred.clone())?;
            }
        }
        // anthropic-version, anthropic-beta (every value) and the rest pass untouched.
        ProviderApi::Anthropic => {
            if req.headers.get("anthropic-version").is_none() {
                req.insert_header("anthropic-version", DEFAULT_ANTHROPIC_VERSION)?;
            }
            if let Some(cred) = credential {
                req.insert_header("x-api-key", cred.clone())?;
            }
        }
    }
    Ok(())
}
