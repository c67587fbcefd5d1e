//! `/webhooks` (an extension; Xkit registered webhooks in its dashboard only): the same
//! operations as `xkit-dash webhooks`, for a remote operator with the secret key.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::{Webhook, WebhookDelivery};
use crate::server::error::ApiError;
use crate::server::extract::{ApiJson, ApiPath, ApiQuery};
use crate::server::state::AppState;
use crate::server::webhooks::{first_attempt, new_endpoint};

/// Attempts listed when no `limit` is given, and at most.
const DEFAULT_ATTEMPTS: usize = 100;
const MAX_ATTEMPTS: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list_webhooks).post(add_webhook))
        .route("/webhooks/deliveries", get(deliveries))
        .route("/webhooks/{id}", delete(remove_webhook))
        .route("/webhooks/{id}/enable", post(enable_webhook))
        .route("/webhooks/{id}/test", post(test_webhook))
}

#[derive(Deserialize)]
struct AddWebhook {
    url: String,
    /// Event types; absent or null: every type.
    events: Option<Vec<String>>,
}

#[derive(Serialize)]
struct WebhookEnvelope {
    webhook: Webhook,
}

/// `POST /webhooks`: 201 `{"webhook": {...}, "secret": "whsec_..."}`, the only answer that
/// carries the secret; 422 for a URL or event type refused.
async fn add_webhook(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AddWebhook>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (webhook, secret) = new_endpoint(&request.url, request.events, state.webhooks.allow_private)
        .await
        .map_err(ApiError::unprocessable)?;
    let webhook = state.store.add_webhook(webhook).await?;
    Ok((StatusCode::CREATED, Json(json!({"webhook": webhook, "secret": secret.expose_secret()}))))
}

async fn list_webhooks(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({"webhooks": state.store.webhooks().await?})))
}

async fn remove_webhook(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookEnvelope>, ApiError> {
    Ok(Json(WebhookEnvelope { webhook: state.store.remove_webhook(id).await? }))
}

async fn enable_webhook(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookEnvelope>, ApiError> {
    Ok(Json(WebhookEnvelope { webhook: state.store.enable_webhook(id).await? }))
}

#[derive(Serialize)]
struct TestOutcome {
    event_id: String,
    /// The first attempt, `null` when none ended in time (it stays queued).
    delivery: Option<WebhookDelivery>,
}

/// `POST /webhooks/{id}/test`: queues a `webhook.test` event for this endpoint and answers with
/// its first attempt (409 for a disabled endpoint).
async fn test_webhook(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TestOutcome>, ApiError> {
    let event_id = state.store.queue_webhook_test(id.clone()).await?;
    let wait = state.webhooks.request_timeout + std::time::Duration::from_secs(2);
    let delivery = first_attempt(&state.store, &id, &event_id, wait).await?;
    Ok(Json(TestOutcome { event_id, delivery }))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    webhook: Option<String>,
    limit: Option<usize>,
}

/// `GET /webhooks/deliveries?webhook=&limit=`: attempts, newest first.
async fn deliveries(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_ATTEMPTS);
    if limit == 0 || limit > MAX_ATTEMPTS {
        return Err(ApiError::bad_request(format!("limit must be between 1 and {MAX_ATTEMPTS}")));
    }
    let webhook = query.webhook.filter(|webhook| !webhook.is_empty());
    Ok(Json(json!({"deliveries": state.store.webhook_deliveries(webhook, None, limit).await?})))
}
