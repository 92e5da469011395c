//! Endpoints the gateway answers itself: the model catalogue and the stored Responses.

use super::ctx::Ctx;
use super::respond::{send_error, send_json, PResult};
use super::Gateway;
use crate::contract::routes::Local;
use crate::contract::{self, responses, ErrorKind, GatewayError};
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
        Local::GetResponse | Local::ResponseInputItems => {
            let id = param.unwrap_or_default();
            let stored = match gw.store.responses.get(id, &key.team).await {
                Ok(Some(s)) => s,
                Ok(None) => return send_error(session, ctx, &responses::not_found(id)).await,
                Err(_) => return send_error(session, ctx, &unavailable()).await,
            };
            ctx.cap = Some(stored.cap);
            // Stored as the upstream answered: scrubbed of credentials on the way out, as a
            // proxied answer is.
            if what == Local::GetResponse {
                let body = serde_json::to_vec(&stored.response).expect("json serializes");
                let body = gw.secrets.scrub(&body).into_owned();
                return send_json(session, ctx, 200, body).await;
            }
            let query = session.req_header().uri.query().map(str::to_string);
            match responses::input_items_page(&stored.input, query.as_deref()) {
                Ok(body) => {
                    send_json(session, ctx, 200, gw.secrets.scrub(&body).into_owned()).await
                }
                Err(e) => send_error(session, ctx, &e).await,
            }
        }
        Local::DeleteResponse => {
            let id = param.unwrap_or_default();
            match gw.store.responses.delete(id, &key.team).await {
                Ok(true) => send_json(session, ctx, 200, responses::deleted(id)).await,
                Ok(false) => send_error(session, ctx, &responses::not_found(id)).await,
                Err(_) => send_error(session, ctx, &unavailable()).await,
            }
        }
    }
}

fn unavailable() -> GatewayError {
    GatewayError::new(
        ErrorKind::StoreUnavailable,
        "The response store is unavailable; try again shortly.",
    )
}
