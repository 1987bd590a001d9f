//! How checks talk to a target: every response, whatever the request was for, is judged by
//! the rules every response obeys (its request id, and no internal detail), so a leak or a
//! lost id is caught wherever it appears, not only where a check provokes one.

use crate::cases::CaseFailure;
use crate::envelope::{Rules, check_no_leak};
use crate::http::{Exchange, RequestSpec};
use crate::request_id::check_request_id;
use crate::target::Target;

/// A check's way of talking to the target: every response, whatever the request was for, is
/// judged by the rules every response obeys: its request id, and no internal detail.
#[derive(Debug, Clone, Copy)]
pub struct Observer<'t> {
    /// The target.
    pub target: &'t Target,
    /// Its envelope rules.
    pub rules: Rules,
}

impl<'t> Observer<'t> {
    /// An observer of `target`.
    pub fn new(target: &'t Target) -> Self {
        Self {
            target,
            rules: Rules::of(target.discovery()),
        }
    }

    /// Sends `request` and judges the response; `planted` are markers that must not come back.
    pub async fn send(
        &self,
        request: RequestSpec,
        planted: &[String],
    ) -> Result<Exchange, CaseFailure> {
        let sent: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
            .map(|(_, v)| v.clone())
            .collect();
        let exchange = self.target.http().send(request).await?;
        check_request_id(&exchange, &sent)?;
        check_no_leak(&exchange, planted, &self.rules)?;
        Ok(exchange)
    }
}
