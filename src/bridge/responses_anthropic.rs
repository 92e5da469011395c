//! Placeholder while the reshape lands; replaced in the same change by the Responses bridges.

use super::{Crossing, Target};
use crate::contract::{ErrorKind, GatewayError};
use crate::request::ClientRequest;

pub fn prepare(_req: &ClientRequest, _t: &Target) -> Result<Crossing, GatewayError> {
    Err(GatewayError::new(ErrorKind::RouteNotFound, "not yet"))
}
