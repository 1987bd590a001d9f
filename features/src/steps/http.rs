//! Steps that send requests and check plain HTTP facts: status, headers, JSON bodies.

use cucumber::{then, when};
use dx_conformance::http::RequestSpec;
use dx_conformance::observer::Observer;
use futures_util::future::join_all;

use crate::requests::{self, BadRequest, method};
use crate::step_error::StepError;
use crate::world::DxWorld;

/// The header that carries the request id (spec/error-format.md).
const REQUEST_ID_HEADER: &str = "x-request-id";

#[when(expr = "I send {string} to {string}")]
async fn send(world: &mut DxWorld, method_name: String, path: String) -> Result<(), StepError> {
    let result = async {
        world
            .send(RequestSpec::new(method(&method_name)?, path))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I send {string} to the health endpoint")]
async fn send_to_health(world: &mut DxWorld, method_name: String) -> Result<(), StepError> {
    let result = async {
        let path = world.target()?.discovery().endpoints.health.clone();
        world
            .send(RequestSpec::new(method(&method_name)?, path))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I send {string} to {string} with the request id {string}")]
async fn send_with_request_id(
    world: &mut DxWorld,
    method_name: String,
    path: String,
    id: String,
) -> Result<(), StepError> {
    let result = send_with_id(world, &method_name, path, id).await;
    world.settle(result)
}

#[when(expr = "I send {string} to {string} with a request id of {int} characters")]
async fn send_with_long_request_id(
    world: &mut DxWorld,
    method_name: String,
    path: String,
    length: usize,
) -> Result<(), StepError> {
    let result = send_with_id(world, &method_name, path, "a".repeat(length)).await;
    world.settle(result)
}

async fn send_with_id(
    world: &mut DxWorld,
    method_name: &str,
    path: String,
    id: String,
) -> Result<(), StepError> {
    let request =
        RequestSpec::new(method(method_name)?, path).header(REQUEST_ID_HEADER, id.clone());
    world.set_sent_request_id(id);
    world.send(request).await?;
    Ok(())
}

#[when("I post malformed JSON to the client error endpoint")]
async fn post_malformed(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let path = world.client_errors_endpoint()?;
        world.send(requests::malformed_json(&path)).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I post a valid report as {string} to the client error endpoint")]
async fn post_as(world: &mut DxWorld, content_type: String) -> Result<(), StepError> {
    let result = async {
        let path = world.client_errors_endpoint()?;
        world
            .send(requests::valid_report_as(&path, &content_type))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when("I post a body one byte over the body limit to the client error endpoint")]
async fn post_over_limit(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let path = world.client_errors_endpoint()?;
        let limit = world.target()?.discovery().limits.max_body_bytes;
        world.send(requests::over_limit(&path, limit)).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(
    expr = "I send {string} with a chunked body one byte over the body limit to the health endpoint"
)]
async fn send_chunked_over_limit(
    world: &mut DxWorld,
    method_name: String,
) -> Result<(), StepError> {
    let result = async {
        let discovery = world.target()?.discovery();
        let path = discovery.endpoints.health.clone();
        let limit = discovery.limits.max_body_bytes;
        let mut request = requests::over_limit(&path, limit).chunked();
        request.method = method(&method_name)?;
        world.send(request).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I send {string} to {string} with the request ids {string} and {string}")]
async fn send_with_two_ids(
    world: &mut DxWorld,
    method_name: String,
    path: String,
    first: String,
    second: String,
) -> Result<(), StepError> {
    let result = async {
        let request = RequestSpec::new(method(&method_name)?, path)
            .header(REQUEST_ID_HEADER, first.clone())
            .header(REQUEST_ID_HEADER, second);
        world.set_sent_request_id(first);
        world.send(request).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then(expr = "the Allow header lists exactly {string}")]
fn allow_lists(world: &mut DxWorld, methods: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let mut want: Vec<String> = methods.split(',').map(|m| m.trim().to_owned()).collect();
        want.sort();
        let got = ex
            .header("allow")
            .map(dx_conformance::envelope::allowed_methods)
            .unwrap_or_default();
        if got == want {
            Ok(())
        } else {
            Err(StepError::at(
                ex,
                dx_conformance::clause::error_format::ALLOW.cite(),
            ))
        }
    });
    world.settle(result)
}

/// The text goes out byte for byte, so it can hold what a JSON library would not write.
#[when(regex = r"^I post the text (.+) as JSON to the client error endpoint$")]
async fn post_text(world: &mut DxWorld, text: String) -> Result<(), StepError> {
    let result = async {
        let path = world.client_errors_endpoint()?;
        let request = RequestSpec::new(http::Method::POST, path)
            .header("content-type", "application/json")
            .body(text.into_bytes());
        world.send(request).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(regex = r"^I post the JSON (.+) to the client error endpoint$")]
async fn post_json(world: &mut DxWorld, body: String) -> Result<(), StepError> {
    let result = async {
        let path = world.client_errors_endpoint()?;
        let json = parse_step_json(&body)?;
        world.send(RequestSpec::post_json(path, &json)).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

/// Fires every bad request `rounds` times concurrently: a burst, not a polite sequence.
#[when(expr = "I send {int} rounds of every bad request at once")]
async fn burst(world: &mut DxWorld, rounds: usize) -> Result<(), StepError> {
    let result = async {
        let target = world.target()?.clone();
        let requests: Vec<RequestSpec> = (0..rounds)
            .flat_map(|_| BadRequest::ALL)
            .filter_map(|kind| kind.request(target.discovery()))
            .collect();
        let observer = Observer::new(&target);
        let sent = join_all(requests.into_iter().map(|r| observer.send(r, &[]))).await;
        let exchanges = sent.into_iter().collect::<Result<Vec<_>, _>>()?;
        world.set_burst(exchanges);
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then(expr = "the response status is {int}")]
fn status_is(world: &mut DxWorld, status: u16) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        if ex.status.as_u16() == status {
            Ok(())
        } else {
            Err(StepError::at(ex, format!("HTTP status {status}")))
        }
    });
    world.settle(result)
}

#[then(expr = "the response has a non-empty {string} header")]
fn has_header(world: &mut DxWorld, name: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| match ex.header(&name) {
        Some(v) if !v.trim().is_empty() => Ok(()),
        _ => Err(StepError::at(ex, format!("a non-empty {name} header"))),
    });
    world.settle(result)
}

/// RFC 6750: a 401 names the scheme the client must use, first in `WWW-Authenticate`.
#[then(expr = "the response challenges the client with the {string} scheme")]
fn challenges_with(world: &mut DxWorld, scheme: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let named = ex
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split([' ', ','])
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&scheme))
            });
        if named {
            Ok(())
        } else {
            Err(StepError::at(
                ex,
                format!("a WWW-Authenticate header naming the {scheme} scheme"),
            ))
        }
    });
    world.settle(result)
}

#[then(expr = "the X-Request-Id header is {string}")]
fn request_id_header_is(world: &mut DxWorld, id: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        if ex.header(REQUEST_ID_HEADER) == Some(id.as_str()) {
            Ok(())
        } else {
            Err(StepError::at(
                ex,
                format!("X-Request-Id `{id}`, the valid id the client sent"),
            ))
        }
    });
    world.settle(result)
}

#[then(regex = r"^the response body is the JSON (.+)$")]
fn body_is_json(world: &mut DxWorld, expected: String) -> Result<(), StepError> {
    let result = parse_step_json(&expected).and_then(|want| {
        let ex = world.last()?;
        if ex.json().as_ref() == Some(&want) {
            Ok(())
        } else {
            Err(StepError::at(ex, format!("the JSON body {want}")))
        }
    });
    world.settle(result)
}

/// JSON written in a step; a typo there is the suite's fault, reported as such.
fn parse_step_json(text: &str) -> Result<serde_json::Value, StepError> {
    serde_json::from_str(text).map_err(|e| {
        StepError::plain(
            "valid JSON in the step text",
            format!("`{text}` is not JSON: {e}"),
        )
    })
}
