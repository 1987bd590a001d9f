//! Pages (`spec/ssr.md`): `GET /`, the demo shopping list; and, in the conformance profile,
//! pages a run plants through `POST {fault hooks}/ssr-page`, with their streams. A crawler
//! gets each as a server-rendered document, anyone else the shell that runs the client.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dx_error::{DxError, ErrorCode};
use dx_ssr::page::Built;
use serde_json::json;

use crate::api_error::{ApiError, ApiJson};
use crate::middleware::request_id::RequestId;
use crate::routes::assets::{DEMO_PATH, HTIP_TYPE, demo_stream};
use crate::ssr::{PLANTED_BASE, PageRequest, Planted, answer};
use crate::state::SharedState;

/// `GET /`: the demo page.
pub async fn index(
    State(state): State<SharedState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let Some(stream) = demo_stream() else {
        return ApiError(DxError::internal("the demo page could not be built")).into_response();
    };
    let built = Built {
        stream: stream.to_vec(),
        failures: Vec::new(),
    };
    answer(
        &state.ssr,
        &state.config.mutations,
        &headers,
        PageRequest {
            title: crate::demo::TITLE,
            stream_url: DEMO_PATH,
            request_id: &request_id,
            app: Some(crate::ssr::DEMO_SCRIPT_PATH),
        },
        Ok(built),
    )
    .await
}

fn planted_or_404(state: &SharedState, id: &str) -> Result<Planted, ApiError> {
    state.ssr.planted(id).ok_or_else(|| {
        ApiError(DxError::request(
            ErrorCode::NotFound,
            "No planted page with this id",
        ))
    })
}

/// `GET /_dx/planted/{id}`: a planted page.
pub async fn planted_page(
    State(state): State<SharedState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let planted = planted_or_404(&state, &id)?;
    let stream_url = format!("{PLANTED_BASE}/{id}/stream");
    Ok(answer(
        &state.ssr,
        &state.config.mutations,
        &headers,
        PageRequest {
            title: &planted.title,
            stream_url: &stream_url,
            request_id: &request_id,
            app: None,
        },
        crate::ssr::build_page(planted.page()).await,
    )
    .await)
}

/// `GET /_dx/planted/{id}/stream`: a planted page's HTIP stream.
pub async fn planted_stream(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let planted = planted_or_404(&state, &id)?;
    let built = crate::ssr::build_page(planted.page()).await?;
    let mut response = built.stream.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HTIP_TYPE));
    Ok(response)
}

/// `POST {fault hooks}/ssr-page`: plants a page and answers where it is.
pub async fn plant(
    State(state): State<SharedState>,
    ApiJson(planted): ApiJson<Planted>,
) -> Result<Response, ApiError> {
    planted.validate()?;
    let id = state.ssr.plant(planted)?;
    let body = json!({
        "path": format!("{PLANTED_BASE}/{id}"),
        "stream": format!("{PLANTED_BASE}/{id}/stream"),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The host script the shell loads (`reference/server/assets/host.js`).
static HOST_SCRIPT: &str = include_str!("../../assets/host.js");
/// The demo application (`reference/server/assets/demo.js`).
static DEMO_SCRIPT: &str = include_str!("../../assets/demo.js");
/// The pages' stylesheet (`reference/server/assets/app.css`).
static STYLESHEET: &str = include_str!("../../assets/app.css");

/// `GET /_dx/host.js`: the client's host in a browser.
pub async fn host_script(headers: HeaderMap) -> Response {
    static_file(&headers, HOST_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /_dx/demo.js`: the demo application.
pub async fn demo_script(headers: HeaderMap) -> Response {
    static_file(&headers, DEMO_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /_dx/app.css`: the pages' stylesheet.
pub async fn stylesheet(headers: HeaderMap) -> Response {
    static_file(&headers, STYLESHEET, "text/css; charset=utf-8")
}

/// A file served with its hash as a strong `ETag`, revalidated on every use (`no-cache`).
fn static_file(headers: &HeaderMap, body: &'static str, content_type: &'static str) -> Response {
    let tag = format!("\"{}\"", dx_htip::delta::hash_hex(body.as_bytes()));
    let held = crate::routes::assets::listed_tags(headers)
        .iter()
        .any(|t| format!("\"{t}\"") == tag || t == "*");
    let mut response = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    response
}
