//! Steps that drive the fault hooks of a conformance-profile target (spec/http-contract.md)
//! with internal text the response must not reveal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cucumber::when;
use dx_conformance::http::RequestSpec;
use serde_json::json;

use crate::step_error::StepError;
use crate::world::DxWorld;

#[when("a route panics through the fault hooks with a secret marker in its panic message")]
async fn panic_route(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let base = world.fault_hooks()?;
        let mark = marker();
        let message = format!("{mark} while reading /var/lib/dx/{mark}/keys.pem");
        world.plant(mark);
        world.plant(message.clone());
        world
            .send(RequestSpec::post_json(
                format!("{base}/panic"),
                &json!({"message": message}),
            ))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(
    expr = "I raise error {int} through the fault hooks with the message {string}, the suggestion {string} and a secret source"
)]
async fn raise_error(
    world: &mut DxWorld,
    number: u16,
    message: String,
    suggestion: String,
) -> Result<(), StepError> {
    let result = async {
        let base = world.fault_hooks()?;
        let mark = marker();
        let source = format!("SELECT password_hash FROM users WHERE email = '{mark}'");
        world.plant(mark);
        world.plant(source.clone());
        let body = json!({
            "number": number,
            "message": message,
            "suggestion": suggestion,
            "source": source,
        });
        world
            .send(RequestSpec::post_json(format!("{base}/error"), &body))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

/// A string unique to this run and call, so finding it in a response proves a leak.
fn marker() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("dxmark{:x}{:x}n{n}", nanos, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_unique() {
        assert_ne!(marker(), marker());
        assert!(marker().starts_with("dxmark"));
    }
}
