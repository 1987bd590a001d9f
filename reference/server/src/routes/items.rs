//! The items API (spec/http-contract.md, "Items"): a small resource the query checks drive.
//! Every route needs an access token; an item belongs to the account that created it, and no
//! request sees or changes another account's items. Handlers validate, call
//! [`dx_query::Items`] and map its errors: a duplicate name is 409 `DB_CONSTRAINT_VIOLATION`,
//! an exhausted pool 503 with `Retry-After`, a timeout 504, an unreachable database 503.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use dx_query::{Item, QueryError, QueryErrorKind, error::POOL_RETRY_AFTER_SECONDS};
use http::header::{LOCATION, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::api_error::{ApiError, ApiJson};
use crate::routes::auth::{AuthFailure, bearer};
use crate::state::SharedState;

/// Where the items live.
pub const ITEMS_PATH: &str = "/api/v1/items";
/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest body, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The page size when the request names none.
pub const DEFAULT_PAGE: u32 = 20;

/// The body of create and update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemBody {
    name: String,
    body: String,
}

/// A failure of an items route.
#[derive(Debug)]
pub enum ItemsFailure {
    /// The token was missing, invalid, expired or revoked.
    Auth(AuthFailure),
    /// The database said no.
    Query(QueryError),
    /// The request was malformed.
    Request(ApiError),
}

impl From<QueryError> for ItemsFailure {
    fn from(e: QueryError) -> Self {
        Self::Query(e)
    }
}

impl From<dx_auth::AuthError> for ItemsFailure {
    fn from(e: dx_auth::AuthError) -> Self {
        Self::Auth(AuthFailure(e))
    }
}

impl From<ApiError> for ItemsFailure {
    fn from(e: ApiError) -> Self {
        Self::Request(e)
    }
}

impl IntoResponse for ItemsFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Auth(e) => e.into_response(),
            Self::Request(e) => e.into_response(),
            Self::Query(e) => {
                let exhausted = e.kind() == QueryErrorKind::PoolExhausted;
                let mut response = ApiError(DxError::from(e)).into_response();
                if exhausted {
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(POOL_RETRY_AFTER_SECONDS));
                }
                response
            }
        }
    }
}

fn invalid(field: &str, message: &str) -> ItemsFailure {
    ItemsFailure::Request(ApiError(
        DxError::request(ErrorCode::ValidationFailed, message.to_owned())
            .with_details(json!({ "field": field })),
    ))
}

fn not_found() -> ItemsFailure {
    ItemsFailure::Request(ApiError(DxError::request(
        ErrorCode::NotFound,
        "No such item",
    )))
}

/// The account the request's access token speaks for.
async fn owner(state: &SharedState, headers: &HeaderMap) -> Result<String, ItemsFailure> {
    let text = bearer(headers)?;
    let service = state.auth.ready().await?;
    Ok(service.authenticate(text).await?.sub)
}

fn check_text(
    field: &str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<(), ItemsFailure> {
    if value.is_empty() && !may_be_empty {
        return Err(invalid(field, &format!("{field} must not be empty")));
    }
    if value.len() > max {
        return Err(invalid(
            field,
            &format!("{field} must be at most {max} bytes"),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(field, &format!("{field} must not contain U+0000")));
    }
    Ok(())
}

fn check_body(body: &ItemBody) -> Result<(), ItemsFailure> {
    check_text("name", &body.name, MAX_NAME_BYTES, false)?;
    check_text("body", &body.body, MAX_BODY_BYTES, true)
}

fn parse_id(text: &str) -> Result<i64, ItemsFailure> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(not_found)
}

/// `POST /api/v1/items`: 201 with the item and its `Location`.
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ItemBody>,
) -> Result<Response, ItemsFailure> {
    let owner = owner(&state, &headers).await?;
    check_body(&body)?;
    let items = state.query.items().await?;
    let item = items.create(&owner, &body.name, &body.body).await?;
    let location = HeaderValue::try_from(format!("{ITEMS_PATH}/{}", item.id))
        .map_err(|_| ApiError(DxError::internal("item location")))?;
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(item)).into_response())
}

/// `GET /api/v1/items/{id}`.
pub async fn read(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Item>, ItemsFailure> {
    let owner = owner(&state, &headers).await?;
    let id = parse_id(&id)?;
    let items = state.query.items().await?;
    items.get(&owner, id).await?.map(Json).ok_or_else(not_found)
}

/// `PUT /api/v1/items/{id}`: replaces name and body.
pub async fn update(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ItemBody>,
) -> Result<Json<Item>, ItemsFailure> {
    let owner = owner(&state, &headers).await?;
    let id = parse_id(&id)?;
    check_body(&body)?;
    let items = state.query.items().await?;
    items
        .update(&owner, id, &body.name, &body.body)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// `DELETE /api/v1/items/{id}`: 204.
pub async fn delete(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ItemsFailure> {
    let owner = owner(&state, &headers).await?;
    let id = parse_id(&id)?;
    let items = state.query.items().await?;
    if items.delete(&owner, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// What a listing asks for.
#[derive(Debug, PartialEq, Eq)]
struct Listing {
    q: Option<String>,
    after: i64,
    limit: u32,
}

/// Parses `q`, `after` and `limit`, each at most once; any other parameter is refused.
fn parse_listing(raw: Option<&str>) -> Result<Listing, ItemsFailure> {
    let mut listing = Listing {
        q: None,
        after: 0,
        limit: DEFAULT_PAGE,
    };
    let mut seen = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if seen.contains(&key) {
            return Err(invalid(&key, &format!("{key} may be given once")));
        }
        match key.as_ref() {
            "q" => {
                check_text("q", &value, MAX_NAME_BYTES, true)?;
                listing.q = Some(value.to_string());
            }
            "after" => {
                listing.after = value
                    .parse::<i64>()
                    .ok()
                    .filter(|a| *a >= 0)
                    .ok_or_else(|| invalid("after", "after must be an item id (0 or more)"))?;
            }
            "limit" => {
                listing.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=dx_query::items::MAX_PAGE).contains(l))
                    .ok_or_else(|| invalid("limit", "limit must be between 1 and 100"))?;
            }
            other => return Err(invalid(other, &format!("unknown parameter {other}"))),
        }
        seen.push(key);
    }
    Ok(listing)
}

/// `GET /api/v1/items?q=&after=&limit=`: a page of the caller's items, those whose name
/// contains `q` when it is given.
pub async fn list(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ItemsFailure> {
    let owner = owner(&state, &headers).await?;
    let listing = parse_listing(raw.as_deref())?;
    let items = state.query.items().await?;
    let page = items
        .page(&owner, listing.q.as_deref(), listing.after, listing.limit)
        .await?;
    Ok(Json(page).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse_strictly() {
        assert_eq!(
            parse_listing(None).unwrap(),
            Listing {
                q: None,
                after: 0,
                limit: DEFAULT_PAGE
            }
        );
        assert_eq!(
            parse_listing(Some("q=%27%3B--&after=7&limit=100")).unwrap(),
            Listing {
                q: Some("';--".to_owned()),
                after: 7,
                limit: 100
            }
        );
        assert_eq!(parse_listing(Some("q=")).unwrap().q.as_deref(), Some(""));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "after=-1",
            "after=x",
            "q=a&q=b",
            "x=1",
            "q=%00",
        ] {
            assert!(parse_listing(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(parse_id("42").unwrap(), 42);
        for bad in ["0", "-1", "x", "1.5", "99999999999999999999"] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts_are_bounded_and_nul_free() {
        assert!(check_text("name", "a", 3, false).is_ok());
        assert!(check_text("name", "", 3, false).is_err());
        assert!(check_text("body", "", 3, true).is_ok());
        assert!(check_text("name", "abcd", 3, false).is_err());
        assert!(check_text("name", "a\0", 3, false).is_err());
    }
}
