//! The client's answer header, edited as `http` parts. Pingora's `ResponseHeader::insert_header`
//! re-parses each name from bytes (copying names it does not know), and keeps a second,
//! case-preserving map in step; the answer's dozen edits (tier, cap, ids, rate limits, framing)
//! cost a few allocations each that way. Here names are static `HeaderName`s and values are made
//! once; the header goes out with lower-case names, as HTTP/2 sends them anyway.

use http::header::{HeaderName, HeaderValue};
use http::response::Parts;
use pingora_error::{ErrorType, OrErr, Result};
use pingora_http::ResponseHeader;

pub const CONTENT_TYPE: HeaderName = http::header::CONTENT_TYPE;
pub const CONTENT_LENGTH: HeaderName = http::header::CONTENT_LENGTH;
pub const TRANSFER_ENCODING: HeaderName = http::header::TRANSFER_ENCODING;
pub const CACHE_CONTROL: HeaderName = http::header::CACHE_CONTROL;
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
pub const X_UPSTREAM_REQUEST_ID: HeaderName = HeaderName::from_static("x-upstream-request-id");
pub const X_STAV_SOVEREIGNTY_TIER: HeaderName = HeaderName::from_static("x-stav-sovereignty-tier");
pub const X_STAV_MAX_TIER: HeaderName = HeaderName::from_static("x-stav-max-tier");
pub const X_STAV_SELECTED_MODEL: HeaderName = HeaderName::from_static("x-stav-selected-model");
pub const X_STAV_ROUTING_REASON: HeaderName = HeaderName::from_static("x-stav-routing-reason");
pub const X_STAV_DROPPED_FIELDS: HeaderName = HeaderName::from_static("x-stav-dropped-fields");

pub const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub const CHUNKED: HeaderValue = HeaderValue::from_static("chunked");
pub const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The header a client gets, while it is being edited.
#[derive(Debug)]
pub struct ClientHead {
    pub parts: Parts,
}

impl ClientHead {
    /// Take the header out of Pingora's wrapper (its case map is dropped).
    pub fn take(resp: &mut ResponseHeader) -> Result<Self> {
        let placeholder = ResponseHeader::build_no_case(200, Some(0))?;
        Ok(Self {
            parts: std::mem::replace(resp, placeholder).into(),
        })
    }

    /// Put it back for Pingora to write.
    pub fn put(self, resp: &mut ResponseHeader) {
        *resp = ResponseHeader::from(self.parts);
    }

    pub fn status(&self) -> u16 {
        self.parts.status.as_u16()
    }

    pub fn set_status(&mut self, status: u16) -> Result<()> {
        self.parts.status =
            http::StatusCode::from_u16(status).or_err(ErrorType::InternalError, "status")?;
        Ok(())
    }

    pub fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        self.parts.headers.get(name)
    }

    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) {
        self.parts.headers.insert(name, value);
    }

    /// A value made from text (ids, reasons): refused if it is not a valid header value.
    pub fn insert_str(&mut self, name: HeaderName, value: &str) -> Result<()> {
        let v = HeaderValue::from_str(value).or_err(ErrorType::InternalError, "header value")?;
        self.parts.headers.insert(name, v);
        Ok(())
    }

    pub fn remove(&mut self, name: &HeaderName) {
        self.parts.headers.remove(name);
    }

    /// The body will change length: chunk it.
    pub fn rechunk(&mut self) {
        self.remove(&CONTENT_LENGTH);
        self.insert(TRANSFER_ENCODING, CHUNKED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_survive_the_round_trip_through_pingoras_header() {
        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("Content-Length", "12").unwrap();
        resp.insert_header("X-Request-Id", "up-1").unwrap();
        let mut a = ClientHead::take(&mut resp).unwrap();
        assert_eq!(a.get(&X_REQUEST_ID).unwrap(), "up-1");
        a.rechunk();
        a.insert(X_STAV_MAX_TIER, HeaderValue::from_static("sovereign"));
        a.insert_str(X_REQUEST_ID, "req_1").unwrap();
        assert!(a.insert_str(X_REQUEST_ID, "bad\nvalue").is_err());
        a.set_status(529).unwrap();
        a.put(&mut resp);
        assert_eq!(resp.status.as_u16(), 529);
        assert!(resp.headers.get("content-length").is_none());
        assert_eq!(resp.headers["transfer-encoding"], "chunked");
        assert_eq!(resp.headers["x-stav-max-tier"], "sovereign");
        assert_eq!(resp.headers["x-request-id"], "req_1");
        let mut wire = Vec::new();
        resp.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).unwrap();
        assert!(wire.contains("x-stav-max-tier: sovereign\r\n"), "{wire}");
    }
}
