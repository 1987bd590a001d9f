//! How checks talk to a target: every response, whatever the request was for, is judged by
//! the rules every response obeys (its request id, no internal detail, the security headers,
//! the envelope of an error), so a leak or a lost id is caught wherever it appears, not only
//! where a check provokes one. Each rule is recorded in the run's [`crate::rules`] ledger and
//! reported once, by cause; it fails a check's case only when the check owns the rule.

use crate::cases::CaseFailure;
use crate::checks::security_headers::{HeaderRules, judge};
use crate::envelope::{Rules, check_envelope, check_no_leak};
use crate::http::{Exchange, RequestSpec};
use crate::request_id::check_request_id;
use crate::rules::Rule;
use crate::target::Target;

/// A check's way of talking to the target: every response, whatever the request was for, is
/// judged by the rules every response obeys: its request id, and no internal detail.
#[derive(Debug, Clone, Copy)]
pub struct Observer<'t> {
    /// The target.
    pub target: &'t Target,
    /// Its envelope rules.
    pub rules: Rules,
    /// Whether each request goes to the next of the target's instances
    /// ([`Target::next_instance`]) instead of always the first.
    spread: bool,
    /// The rules whose breach fails the check's case, besides being recorded: the ones the
    /// check is about.
    owns: &'static [Rule],
}

impl<'t> Observer<'t> {
    /// An observer of `target`.
    pub fn new(target: &'t Target) -> Self {
        Self {
            target,
            rules: Rules::of(target.discovery()),
            spread: false,
            owns: &[],
        }
    }

    /// The same observer, failing a case on a breach of any of `rules` (the rules the check
    /// is about); every other breach is only recorded.
    pub fn owning(self, rules: &'static [Rule]) -> Self {
        Self {
            owns: rules,
            ..self
        }
    }

    /// An observer that sends each request to the next of `target`'s instances in turn: for
    /// checks of state every instance behind one URL shares (spec/conformance.md, "Several
    /// instances"). Each exchange records the URL, and so the instance, that answered it.
    pub fn spread(target: &'t Target) -> Self {
        Self {
            spread: true,
            ..Self::new(target)
        }
    }

    /// The instance the next request goes to.
    pub fn instance(&self) -> &'t Target {
        if self.spread {
            self.target.next_instance()
        } else {
            self.target
        }
    }

    /// Sends `request` and judges the response; `planted` are markers that must not come back.
    pub async fn send(
        &self,
        request: RequestSpec,
        planted: &[String],
    ) -> Result<Exchange, CaseFailure> {
        self.send_returning(request, planted, &[]).await
    }

    /// Like [`Self::send`] for a request whose successful answer returns data the client
    /// stored (`returned`, e.g. an item's name and body): those texts are the client's, not
    /// the server's words, so a successful response is judged without them
    /// (`spec/error-format.md`, "Sanitization"). An error response is judged whole: an error
    /// never returns stored data.
    pub async fn send_returning(
        &self,
        request: RequestSpec,
        planted: &[String],
        returned: &[&str],
    ) -> Result<Exchange, CaseFailure> {
        let sent: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
            .map(|(_, v)| v.clone())
            .collect();
        let exchange = self.instance().http().send(request).await?;
        self.judge(&exchange, &sent, planted, returned)?;
        Ok(exchange)
    }

    /// Judges `exchange` by the rules every response obeys: records each in the run's
    /// ledger, and fails with the first breach of a rule this observer owns. `sent` are the
    /// request ids the request carried, `planted` markers that must not come back, and
    /// `returned` texts of the client's that a successful answer may return.
    pub fn judge(
        &self,
        exchange: &Exchange,
        sent: &[String],
        planted: &[String],
        returned: &[&str],
    ) -> Result<(), CaseFailure> {
        let sanitization = if exchange.status.is_success() {
            let mut judged = exchange.clone();
            judged.body = without_returned(&exchange.body, returned);
            check_no_leak(&judged, planted, &self.rules)
        } else {
            check_no_leak(exchange, planted, &self.rules)
        };
        let judged = record_every_rule(
            self.target.http(),
            exchange,
            sent,
            sanitization,
            (&self.rules, HeaderRules::of(self.target)),
        );
        for (rule, result) in judged {
            if self.owns.contains(&rule) {
                result?;
            }
        }
        Ok(())
    }
}

impl Observer<'_> {
    /// Judges an answer to raw bytes (`crate::raw`) by the one rule every answer obeys, even
    /// one to bytes that are not an HTTP request (which may lack request ids and headers,
    /// spec/security.md): nothing internal.
    pub fn judge_sanitization(&self, exchange: &Exchange) -> Result<(), CaseFailure> {
        let result = check_no_leak(exchange, &[], &self.rules);
        let http = self.target.http();
        http.ledger()
            .record_by(Rule::Sanitization, &result, http.attribution());
        if self.owns.contains(&Rule::Sanitization) {
            result
        } else {
            Ok(())
        }
    }
}

/// Judges `exchange` by the rules every response obeys and records each in the ledger of
/// `http`, the client that received it (for the check it is attributed to):
/// the request id against `sent`, the envelope of an error (not to `HEAD`) and the six
/// headers under `rules`; `sanitization` is judged by the caller, who knows what the
/// response may return. Returns each judgement, for the rules the caller owns.
pub fn record_every_rule(
    http: &crate::http::HttpClient,
    exchange: &Exchange,
    sent: &[String],
    sanitization: Result<(), CaseFailure>,
    (rules, headers): (&Rules, HeaderRules),
) -> [(Rule, Result<(), CaseFailure>); 4] {
    let envelope =
        if exchange.status.as_u16() >= 400 && exchange.request.method != http::Method::HEAD {
            check_envelope(exchange, rules).map(drop)
        } else {
            Ok(())
        };
    let judged = [
        (Rule::RequestId, check_request_id(exchange, sent)),
        (Rule::Envelope, envelope),
        (
            Rule::SecurityHeaders,
            judge(exchange, headers, "a response"),
        ),
        (Rule::Sanitization, sanitization),
    ];
    for (rule, result) in &judged {
        http.ledger().record_by(*rule, result, http.attribution());
    }
    judged
}

/// `body` with every JSON string form of each of `returned` cut out.
fn without_returned(body: &[u8], returned: &[&str]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for value in returned.iter().filter(|v| !v.is_empty()) {
        if let Ok(quoted) = serde_json::to_string(value) {
            text = text.replace(&quoted, "\"\"");
        }
    }
    text.into_bytes()
}
