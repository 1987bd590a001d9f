//! Deliberately broken behaviours, at least one per sync property, for proving that the
//! conformance suite catches them (`spec/conformance.md`). Only a build with the `mutants`
//! feature can switch one on; otherwise [`SyncMutations::is`] is always false and the
//! compiler drops the broken branches.

/// A broken behaviour and the property that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncMutant {
    /// Every live message is delivered twice (Property 22).
    DeliveredTwice,
    /// A resume replays the last message the client had as well (Property 23).
    DuplicateOnResume,
    /// A resume replays the missed messages newest first (Property 23).
    ReplayOutOfOrder,
    /// A resume beyond the buffer replays what is kept and says RESUMED (Property 23).
    SilentGap,
    /// A closed connection's user stays present (Property 24).
    PresenceKeptOnDisconnect,
    /// Every publish with an ack requested is acknowledged (Property 25).
    AckWithoutSubscriber,
}

impl SyncMutant {
    /// Every sync mutant.
    pub const ALL: &'static [SyncMutant] = &[
        Self::DeliveredTwice,
        Self::DuplicateOnResume,
        Self::ReplayOutOfOrder,
        Self::SilentGap,
        Self::PresenceKeptOnDisconnect,
        Self::AckWithoutSubscriber,
    ];

    /// The property whose check must fail against this mutant.
    pub fn breaks_property(self) -> u8 {
        match self {
            Self::DeliveredTwice => 22,
            Self::DuplicateOnResume | Self::ReplayOutOfOrder | Self::SilentGap => 23,
            Self::PresenceKeptOnDisconnect => 24,
            Self::AckWithoutSubscriber => 25,
        }
    }
}

/// The sync mutant in force, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncMutations {
    #[cfg(feature = "mutants")]
    active: Option<SyncMutant>,
}

impl SyncMutations {
    /// Correct behaviour.
    pub const fn none() -> Self {
        Self {
            #[cfg(feature = "mutants")]
            active: None,
        }
    }

    /// Runs with `mutant` active.
    #[cfg(feature = "mutants")]
    pub fn with(mutant: Option<SyncMutant>) -> Self {
        Self { active: mutant }
    }

    /// Whether `mutant` is active.
    #[cfg(feature = "mutants")]
    pub fn is(self, mutant: SyncMutant) -> bool {
        self.active == Some(mutant)
    }

    /// Whether `mutant` is active: never, without the `mutants` feature.
    #[cfg(not(feature = "mutants"))]
    pub fn is(self, _mutant: SyncMutant) -> bool {
        false
    }
}
