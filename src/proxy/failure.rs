//! Turning Pingora errors into errors in the caller's contract.

use crate::contract::{ErrorKind, GatewayError};
use pingora_error::{Error, ErrorSource, ErrorType};

/// What the client should be told about a proxy failure; `None` when the client itself is gone.
pub fn classify(e: &Error) -> Option<GatewayError> {
    use ErrorType::*;
    let kind = match (e.etype(), e.esource()) {
        (HTTPStatus(413), _) => ErrorKind::BodyTooLarge,
        (HTTPStatus(411), _) => ErrorKind::LengthRequired,
        (HTTPStatus(504), _) => ErrorKind::UpstreamTimeout,
        (HTTPStatus(c), _) if (400..500).contains(c) => ErrorKind::InvalidRequest,
        (HTTPStatus(_), _) => ErrorKind::UpstreamUnavailable,
        (ConnectTimedout | ReadTimedout | WriteTimedout, ErrorSource::Upstream) => {
            ErrorKind::UpstreamTimeout
        }
        (_, ErrorSource::Upstream) => ErrorKind::UpstreamUnavailable,
        (ReadError | WriteError | ConnectionClosed, ErrorSource::Downstream) => return None,
        (ReadTimedout | WriteTimedout, ErrorSource::Downstream) => return None,
        (_, ErrorSource::Downstream) => ErrorKind::InvalidRequest,
        (_, ErrorSource::Internal | ErrorSource::Unset) => ErrorKind::Internal,
    };
    let message = match kind {
        ErrorKind::UpstreamTimeout => "The model's upstream did not answer in time.".to_string(),
        ErrorKind::UpstreamUnavailable => {
            "The model's upstream could not be reached or failed; please retry.".to_string()
        }
        ErrorKind::BodyTooLarge => "The request body is too large.".to_string(),
        ErrorKind::InvalidRequest => "The request could not be read.".to_string(),
        _ => "Internal gateway error.".to_string(),
    };
    Some(GatewayError::new(kind, message))
}

/// Bounded label for `stav_upstream_errors_total`.
pub fn upstream_error_label(e: &Error) -> &'static str {
    use ErrorType::*;
    match e.etype() {
        ConnectTimedout => "connect_timeout",
        ReadTimedout => "read_timeout",
        WriteTimedout => "write_timeout",
        ConnectRefused => "connect_refused",
        ConnectError | ConnectNoRoute | BindError | SocketError => "connect_error",
        TLSHandshakeFailure | TLSHandshakeTimedout | InvalidCert => "tls_error",
        ConnectionClosed => "connection_closed",
        ReadError | WriteError => "io_error",
        InvalidHTTPHeader | H1Error | H2Error => "protocol_error",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: ErrorType, s: ErrorSource) -> Box<Error> {
        match s {
            ErrorSource::Upstream => Error::new_up(t),
            ErrorSource::Downstream => Error::new_down(t),
            _ => Error::new_in(t),
        }
    }

    #[test]
    fn maps_upstream_failures() {
        let c = |t, s| classify(&err(t, s)).map(|g| g.status());
        assert_eq!(
            c(ErrorType::ConnectRefused, ErrorSource::Upstream),
            Some(502)
        );
        assert_eq!(
            c(ErrorType::ConnectTimedout, ErrorSource::Upstream),
            Some(504)
        );
        assert_eq!(c(ErrorType::ReadTimedout, ErrorSource::Upstream), Some(504));
        assert_eq!(
            c(ErrorType::ConnectionClosed, ErrorSource::Upstream),
            Some(502)
        );
        assert_eq!(
            c(ErrorType::HTTPStatus(413), ErrorSource::Internal),
            Some(413)
        );
        assert_eq!(
            c(ErrorType::ConnectionClosed, ErrorSource::Downstream),
            None
        );
        assert_eq!(
            c(ErrorType::InvalidHTTPHeader, ErrorSource::Downstream),
            Some(400)
        );
        assert_eq!(
            c(ErrorType::InternalError, ErrorSource::Internal),
            Some(500)
        );
    }
}
