//! Deliberately broken behaviours, at least one per security property, for proving that the
//! conformance suite catches them (`spec/conformance.md`). Only a build with the `mutants`
//! feature can switch one on; otherwise [`SecurityMutations::is`] is always false and the
//! compiler drops the broken branches.

/// A broken behaviour and the property that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityMutant {
    /// Error responses (status 400 and up) lack the security headers (Property 12).
    HeadersMissingOnErrors,
    /// The limiter admits one request more than `max_requests` per window (Property 13).
    LimitOffByOne,
    /// A 429's Retry-After always says one second, however long the wait (Property 14).
    RetryAfterWrong,
    /// Fixed windows aligned to multiples of the window length instead of a sliding window
    /// (Property 15).
    FixedWindow,
    /// Every session gets the same token within a second (Property 16).
    CsrfTokenRepeats,
    /// A valid token of any session is accepted (Property 17).
    CsrfAnySession,
    /// DELETE requests are not checked (Property 17).
    CsrfDeleteUnchecked,
    /// The form field is ignored: only the header is read (Property 18).
    CsrfFormFieldIgnored,
}

impl SecurityMutant {
    /// Every security mutant.
    pub const ALL: &'static [SecurityMutant] = &[
        Self::HeadersMissingOnErrors,
        Self::LimitOffByOne,
        Self::RetryAfterWrong,
        Self::FixedWindow,
        Self::CsrfTokenRepeats,
        Self::CsrfAnySession,
        Self::CsrfDeleteUnchecked,
        Self::CsrfFormFieldIgnored,
    ];

    /// The property whose check must fail against this mutant.
    pub fn breaks_property(self) -> u8 {
        match self {
            Self::HeadersMissingOnErrors => 12,
            Self::LimitOffByOne => 13,
            Self::RetryAfterWrong => 14,
            Self::FixedWindow => 15,
            Self::CsrfTokenRepeats => 16,
            Self::CsrfAnySession | Self::CsrfDeleteUnchecked => 17,
            Self::CsrfFormFieldIgnored => 18,
        }
    }
}

/// The security mutant in force, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityMutations {
    #[cfg(feature = "mutants")]
    active: Option<SecurityMutant>,
}

impl SecurityMutations {
    /// Correct behaviour.
    pub const fn none() -> Self {
        Self {
            #[cfg(feature = "mutants")]
            active: None,
        }
    }

    /// Runs with `mutant` active.
    #[cfg(feature = "mutants")]
    pub fn with(mutant: Option<SecurityMutant>) -> Self {
        Self { active: mutant }
    }

    /// Whether `mutant` is active.
    #[cfg(feature = "mutants")]
    pub fn is(self, mutant: SecurityMutant) -> bool {
        self.active == Some(mutant)
    }

    /// Whether `mutant` is active: never, without the `mutants` feature.
    #[cfg(not(feature = "mutants"))]
    pub fn is(self, _mutant: SecurityMutant) -> bool {
        false
    }
}

/// The `fixed-window` mutant's window: the aligned `[start, start + window)` holding `now`.
pub fn fixed_window(now: u64, window_ms: u64) -> (u64, u64) {
    let start = now - now % window_ms;
    (start, start + window_ms)
}

/// The `fixed-window` mutant's reset: the end of the aligned window.
pub fn fixed_reset(window_end: u64, now: u64) -> u64 {
    window_end - now
}

/// The `limit-off-by-one` mutant's admission: room while `held <= max`.
pub fn room_off_by_one(held: u32, max_requests: u32) -> bool {
    held <= max_requests
}

/// The `limit-off-by-one` mutant's count: the admitted request is not counted.
pub fn count_off_by_one(counted: u32) -> u32 {
    counted.saturating_sub(1)
}

/// The `csrf-token-repeats` mutant's issue time: rounded down to the second.
pub fn repeated_issue_time(issued: u64) -> u64 {
    issued - issued % 1000
}

/// Whether a mutant accepts a token whatever its session tag: `csrf-any-session` always,
/// `csrf-token-repeats` for the all-zero tag it issues.
pub fn any_session(mutations: SecurityMutations, tag: &[u8]) -> bool {
    mutations.is(SecurityMutant::CsrfAnySession)
        || (mutations.is(SecurityMutant::CsrfTokenRepeats) && tag.iter().all(|b| *b == 0))
}

/// Whether the `csrf-delete-unchecked` mutant lets `method` skip the CSRF check.
pub fn delete_unchecked(method: &http::Method, mutations: SecurityMutations) -> bool {
    mutations.is(SecurityMutant::CsrfDeleteUnchecked) && method == http::Method::DELETE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutant_names_a_security_property() {
        for m in SecurityMutant::ALL {
            assert!((12..=18).contains(&m.breaks_property()));
        }
        assert!(!SecurityMutations::none().is(SecurityMutant::FixedWindow));
    }
}
