//! Steps that judge error responses: the envelope (spec/error-format.md), its request id and
//! timestamp, its details, and the absence of internal detail (Property 26).

use chrono::DateTime;
use cucumber::then;
use dx_conformance::clause::error_format;
use dx_conformance::envelope::{
    Envelope, check_envelope, check_no_leak, expect_code, expect_code_strict, read_envelope,
};
use dx_conformance::http::Exchange;
use dx_conformance::request_id::is_generated_id;
use serde_json::Value;

use crate::step_error::StepError;
use crate::world::DxWorld;

#[then("the response is a complete error envelope")]
fn is_envelope(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| envelope(world, ex)).map(drop);
    world.settle(result)
}

/// The code and its status only: the envelope's whole shape is the envelope rule's, judged
/// on every response apart (`rules:envelope`), and the scenarios about envelopes ask for it
/// with the next step.
#[then(expr = "the response is an error envelope with code {string}")]
fn is_envelope_with_code(world: &mut DxWorld, code: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        expect_code(ex, &code, &error_format::ENVELOPE)
            .map(drop)
            .map_err(StepError::from)
    });
    world.settle(result)
}

#[then(expr = "the response is a complete error envelope with code {string}")]
fn is_complete_envelope_with_code(world: &mut DxWorld, code: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        expect_code_strict(ex, &world.rules()?, &code, &error_format::ENVELOPE)
            .map(drop)
            .map_err(StepError::from)
    });
    world.settle(result)
}

#[then("the envelope's request id matches the X-Request-Id header")]
fn request_id_matches(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let body_id = json_str(ex, "/request_id");
        let header_id = ex.header("x-request-id");
        match (body_id.as_deref(), header_id) {
            (Some(b), Some(h)) if !b.is_empty() && b == h => Ok(()),
            _ => Err(failure(ex, error_format::REQUEST_ID.cite())),
        }
    });
    world.settle(result)
}

#[then(expr = "the envelope's request id is {string}")]
fn request_id_is(world: &mut DxWorld, id: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        if json_str(ex, "/request_id").as_deref() == Some(id.as_str()) {
            Ok(())
        } else {
            Err(failure(
                ex,
                format!("request_id `{id}`: {}", error_format::ID_KEPT.cite()),
            ))
        }
    });
    world.settle(result)
}

#[then("the request id I sent was replaced by a generated one")]
fn request_id_replaced(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.sent_request_id().and_then(|sent| {
        let ex = world.last()?;
        let expected = format!(
            "the X-Request-Id `{sent}` replaced: {}",
            error_format::ID_GENERATED.cite()
        );
        match ex.header("x-request-id") {
            Some(got) if got != sent && is_generated_id(got) => Ok(()),
            _ => Err(failure(ex, expected)),
        }
    });
    world.settle(result)
}

#[then("the envelope's timestamp is RFC 3339 in UTC")]
fn timestamp_is_rfc3339(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let stamp = json_str(ex, "/timestamp").unwrap_or_default();
        if is_utc_rfc3339(&stamp) {
            Ok(())
        } else {
            Err(failure(ex, error_format::TIMESTAMP_FORM.cite()))
        }
    });
    world.settle(result)
}

#[then("the response reveals nothing internal")]
fn reveals_nothing(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        check_no_leak(ex, world.markers(), &world.rules()?).map_err(StepError::from)
    });
    world.settle(result)
}

#[then(expr = "the error message is {string}")]
fn message_is(world: &mut DxWorld, message: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let envelope = read(ex)?;
        if envelope.message == message {
            Ok(())
        } else {
            Err(failure(ex, format!("error.message `{message}`")))
        }
    });
    world.settle(result)
}

#[then(expr = "the error suggestion is {string}")]
fn suggestion_is(world: &mut DxWorld, suggestion: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let envelope = read(ex)?;
        if envelope.suggestion.as_deref() == Some(suggestion.as_str()) {
            Ok(())
        } else {
            Err(failure(ex, format!("error.suggestion `{suggestion}`")))
        }
    });
    world.settle(result)
}

#[then(expr = "the error detail {string} is {string}")]
fn detail_is(world: &mut DxWorld, name: String, value: String) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let detail = read(ex)?.details.and_then(|d| d.get(&name).cloned());
        let text = match &detail {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        if text.as_deref() == Some(value.as_str()) {
            Ok(())
        } else {
            Err(failure(ex, format!("error.details.{name} = `{value}`")))
        }
    });
    world.settle(result)
}

#[then(expr = "the error detail {string} is the discovery body limit")]
fn detail_is_body_limit(world: &mut DxWorld, name: String) -> Result<(), StepError> {
    let result = world
        .target()
        .map(|t| t.discovery().limits.max_body_bytes)
        .and_then(|limit| {
            let ex = world.last()?;
            let detail = read(ex)?
                .details
                .and_then(|d| d.get(&name).and_then(Value::as_u64));
            if detail == Some(limit) {
                Ok(())
            } else {
                Err(failure(
                    ex,
                    format!(
                        "error.details.{name} = {limit}: {}",
                        error_format::MAX_BODY_BYTES.cite()
                    ),
                ))
            }
        });
    world.settle(result)
}

#[then("every response of the burst is an error envelope with a 4xx status")]
fn burst_all_envelopes(world: &mut DxWorld) -> Result<(), StepError> {
    let result = if world.burst().is_empty() {
        Err(StepError::plain(
            "the responses of a burst",
            "no burst was sent before this step",
        ))
    } else {
        world.burst().iter().try_for_each(|ex| {
            let envelope = envelope(world, ex)?;
            if envelope.code.http_status / 100 == 4 {
                Ok(())
            } else {
                Err(failure(
                    ex,
                    "a 4xx error envelope for a bad request, while the server keeps serving",
                ))
            }
        })
    };
    world.settle(result)
}

/// The members of `ex`'s envelope, its shape left to the envelope rule (`rules:envelope`).
fn read(ex: &Exchange) -> Result<Envelope, StepError> {
    read_envelope(ex).map_err(|what| failure(ex, format!("an error envelope to read: {what}")))
}

/// The validated envelope of `ex`.
fn envelope(world: &DxWorld, ex: &Exchange) -> Result<Envelope, StepError> {
    check_envelope(ex, &world.rules()?).map_err(StepError::from)
}

/// A failure shown by `ex`.
fn failure(ex: &Exchange, expected: impl Into<String>) -> StepError {
    StepError::at(ex, expected.into())
}

/// A string member of the body, by JSON pointer.
fn json_str(ex: &Exchange, pointer: &str) -> Option<String> {
    ex.json()?.pointer(pointer)?.as_str().map(str::to_owned)
}

/// RFC 3339 in UTC with the `Z` suffix; fractional seconds optional.
fn is_utc_rfc3339(stamp: &str) -> bool {
    stamp.ends_with('Z') && DateTime::parse_from_rfc3339(stamp).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_must_be_utc_rfc3339() {
        assert!(is_utc_rfc3339("2026-11-25T18:00:00.123Z"));
        assert!(is_utc_rfc3339("2026-11-25T18:00:00Z"));
        assert!(!is_utc_rfc3339("2026-11-25T18:00:00+01:00"));
        assert!(!is_utc_rfc3339(""));
    }
}
