//! Endpoints the gateway answers itself: the model catalogue and the stored Responses.

use super::ctx::Ctx;
use super::respond::{send_error, send_json, PResult};
use super::Gateway;
use crate::contract::routes::Local;
use crate::contract::{self, ErrorKind, GatewayError};
use crate::keys::KeyRecord;
use crate::plan::model_not_found;
use pingora_proxy::Session;

pub async fn answer(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut Ctx,
    key: &KeyRecord,
    what: Local,
    param: Option<&str>,
) -> PResult<()> {
    match what {
        Local::ListModels => {
            let listed = gw
                .cfg
                .catalogue
                .listable()
                .filter(|e| key.allows_model(&e.name));
            let body = contract::models_list(listed, ctx.contract, gw.started_unix);
            send_json(session, ctx, 200, body).await
        }
        Local::GetModel => {
            let id = param.unwrap_or_default();
            match gw
                .cfg
                .catalogue
                .listable()
                .find(|e| e.name == id && key.allows_model(&e.name))
            {
                Some(e) => {
                    let body = contract::models::model_object(e, ctx.contract, gw.started_unix);
                    send_json(session, ctx, 200, body).await
                }
                None => send_error(session, ctx, &model_not_found(id)).await,
            }
        }
        Local::GetResponse | Local::DeleteResponse | Local::ResponseInputItems => {
            let err = GatewayError::new(
                ErrorKind::ModelNotFound,
                format!("No response found with id '{}'.", param.unwrap_or_default()),
            );
            send_error(session, ctx, &err).await
        }
    }
}
