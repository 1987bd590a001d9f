//! The cucumber `World`: one per scenario, holding the target (a cheap clone of the run's
//! one), the exchanges the scenario made and the values later steps compare against.

use dx_conformance::Target;
use dx_conformance::check::NOT_CONFORMANCE;
use dx_conformance::envelope::Rules;
use dx_conformance::http::{Exchange, RequestSpec};
use dx_conformance::observer::Observer;

use crate::step_error::StepError;

/// The state of one scenario.
#[derive(Debug, Default, cucumber::World)]
pub struct DxWorld {
    /// The target, set by the runner's before-hook.
    target: Option<Target>,
    /// The last response.
    last: Option<Exchange>,
    /// The responses of the last burst.
    burst: Vec<Exchange>,
    /// The request id the scenario sent, to tell "kept" from "replaced".
    sent_request_id: Option<String>,
    /// Strings planted in internal causes that no response may reveal.
    markers: Vec<String>,
    /// The error of the step that stopped the scenario, read back by the runner.
    outcome: Option<StepError>,
    /// The account and tokens of the authentication steps.
    auth: AuthState,
    /// What the security steps remember.
    security: SecurityState,
    /// What the query steps remember.
    query: QueryState,
    /// What the client steps remember.
    client: ClientState,
    /// What the sync steps remember.
    sync: SyncState,
    /// What the SSR steps remember.
    ssr: SsrState,
}

/// What the SSR steps remember (`features/ssr.feature`).
#[derive(Debug, Default)]
pub struct SsrState {
    /// The pages the target lists.
    pub area: Option<dx_conformance::checks::ssr::SsrArea>,
    /// Answers: who asked (the agent's name), for which page, and what came back.
    pub answers: Vec<(String, String, dx_conformance::http::Exchange)>,
    /// The planted page.
    pub planted: Option<dx_conformance::checks::ssr::PlantedPage>,
    /// Rendered documents, each with its rendered root and the tree the client built from the
    /// same page's stream.
    pub pairs: Vec<(
        dx_conformance::http::Exchange,
        Vec<dx_conformance::checks::ssr::dom::Node>,
        Vec<dx_conformance::checks::ssr::dom::Node>,
    )>,
}

/// What the sync steps remember between steps: the connections of the scenario and what
/// the frame sent last must be answered with.
#[derive(Debug, Default)]
pub struct SyncState {
    /// The target's `sync` member, read by the background step.
    pub area: Option<dx_conformance::checks::sync::SyncArea>,
    /// My user id and access token.
    pub me: Option<(String, String)>,
    /// My connection.
    pub peer: Option<dx_conformance::checks::sync::Peer>,
    /// A channel of my own, which no other scenario uses.
    pub channel: Option<dx_conformance::sync_frames::ChannelName>,
    /// Another user's connection, subscribed to my channel when a step says so.
    pub other: Option<dx_conformance::checks::sync::Peer>,
    /// The channels I subscribed to, in order, with where each subscription started.
    pub subscribed: Vec<(
        dx_conformance::sync_frames::ChannelName,
        dx_conformance::sync_frames::Position,
    )>,
    /// The channel a subscription was refused for.
    pub refused: Option<dx_conformance::sync_frames::ChannelName>,
    /// The frame sent last, whose answer the next step judges.
    pub pending: Option<Pending>,
    /// The payloads another connection must receive on my channel, in order.
    pub owed: Vec<Vec<u8>>,
    /// When my token stopped holding: the moment the server must start counting
    /// `token_check_seconds` from.
    pub lapsed: Option<std::time::Instant>,
    /// When my token expires, for a token minted to expire while connected.
    pub expires: Option<std::time::Instant>,
    /// The answers to a publish flood.
    pub flood: Option<Flood>,
    /// The last request number used; each frame gets the next one.
    pub last_request: u32,
}

/// A frame sent and not yet answered: what its answer must carry.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its `request` (0 for a frame too short to carry one).
    pub request: u32,
    /// The channel it names as raw bytes, when it names one (maybe not a valid name).
    pub channel: Option<Vec<u8>>,
    /// The sentence of `spec/sync.md` its answer is judged by.
    pub clause: dx_conformance::clause::Clause,
    /// Its payload, for a `PUBLISH`.
    pub payload: Vec<u8>,
}

impl Pending {
    /// A frame with `request` naming the valid `channel`, judged by `clause`.
    pub fn on(
        request: u32,
        channel: &dx_conformance::sync_frames::ChannelName,
        clause: dx_conformance::clause::Clause,
    ) -> Self {
        Self {
            request,
            channel: Some(channel.as_str().as_bytes().to_vec()),
            clause,
            payload: Vec::new(),
        }
    }

    /// The same, carrying `payload` (a `PUBLISH`).
    pub fn with_payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = payload;
        self
    }
}

/// A publish flood's outcome.
#[derive(Debug, Clone)]
pub struct Flood {
    /// The request of the first publish; the others follow it.
    pub first_request: u32,
    /// Per publish, in order: its payload and the answer it got.
    pub publishes: Vec<(Vec<u8>, dx_conformance::sync_frames::ServerFrame)>,
    /// From the first publish sent to the last answer received: an upper bound on the time
    /// over which the server received the publishes.
    pub elapsed: std::time::Duration,
}

/// What the client steps remember between steps.
#[derive(Debug, Default)]
pub struct ClientState {
    /// The target's client.
    pub area: Option<dx_conformance::checks::client::ClientArea>,
    /// A running instance of it, with its MockHost.
    pub instance: Option<dx_conformance::client::ClientInstance>,
    /// The demo page's versions the target publishes: its path and hashes, oldest first.
    pub demo: Option<(String, Vec<String>)>,
    /// The last stream rendered.
    pub stream: Vec<u8>,
    /// The last value an export returned.
    pub code: Option<i32>,
    /// Bytes the steps fetched: a base, a patch, the current version.
    pub base: Vec<u8>,
    /// The patch.
    pub patch: Vec<u8>,
    /// The current version.
    pub current: Vec<u8>,
    /// The client's output after applying a patch.
    pub output: Vec<u8>,
    /// Regions allocated: (address, size, align).
    pub regions: Vec<(i32, i32, i32)>,
}

/// What the query steps remember between steps.
#[derive(Debug, Default, Clone)]
pub struct QueryState {
    /// The account the scenario stores items as.
    pub owner: Option<dx_conformance::checks::query::Owner>,
    /// Another account and its item, which no step may change.
    pub bystander: Option<(
        dx_conformance::checks::query::Owner,
        dx_conformance::checks::query::Item,
    )>,
    /// The items stored so far, oldest first.
    pub items: Vec<dx_conformance::checks::query::Item>,
}

/// What the security steps remember between steps.
#[derive(Debug, Default, Clone)]
pub struct SecurityState {
    /// The rate-limit partition of the scenario.
    pub partition: Option<String>,
    /// The category being spent.
    pub category: Option<String>,
    /// The `r` values of the answers while spending.
    pub remaining: Vec<Option<u64>>,
    /// The CSRF sessions opened: cookie and token.
    pub sessions: Vec<(String, String)>,
}

/// What the authentication steps remember between steps.
#[derive(Debug, Default, Clone)]
pub struct AuthState {
    /// The email and password registered.
    pub account: Option<(String, String)>,
    /// The user id the tokens speak for.
    pub user_id: Option<String>,
    /// The current access token.
    pub access: Option<String>,
    /// The current refresh token.
    pub refresh: Option<String>,
    /// The refresh token spent by the last refresh.
    pub spent_refresh: Option<String>,
}

impl DxWorld {
    /// Binds the world to `target` (the runner does this before every scenario).
    pub fn set_target(&mut self, target: Target) {
        self.target = Some(target);
    }

    /// The target under test.
    pub fn target(&self) -> Result<&Target, StepError> {
        self.target.as_ref().ok_or_else(|| {
            StepError::plain(
                "a target bound to the scenario",
                "no target: run the features through dx_features::run_features",
            )
        })
    }

    /// Sends `request` and remembers the response as the last one.
    /// Every response is judged by the rules all responses obey (its request id, no internal
    /// detail, none of the markers planted so far) before any step looks at it.
    pub async fn send(&mut self, request: RequestSpec) -> Result<&Exchange, StepError> {
        let exchange = Observer::new(self.target()?)
            .send(request, &self.markers)
            .await?;
        Ok(self.last.insert(exchange))
    }

    /// Remembers `exchange` as the last response (for steps that send through a check's
    /// helpers, which judge every response the same way).
    pub fn set_last(&mut self, exchange: Exchange) {
        self.last = Some(exchange);
    }

    /// What the client steps remember.
    pub fn client(&self) -> &ClientState {
        &self.client
    }

    /// What the client steps remember, to change.
    pub fn client_mut(&mut self) -> &mut ClientState {
        &mut self.client
    }

    /// What the SSR steps remember, to change.
    pub fn ssr_mut(&mut self) -> &mut SsrState {
        &mut self.ssr
    }

    /// What the SSR steps remember.
    pub fn ssr(&self) -> &SsrState {
        &self.ssr
    }

    /// What the query steps remember.
    pub fn query(&self) -> &QueryState {
        &self.query
    }

    /// What the query steps remember, to change.
    pub fn query_mut(&mut self) -> &mut QueryState {
        &mut self.query
    }

    /// The envelope rules of the target.
    pub fn rules(&self) -> Result<Rules, StepError> {
        Ok(Rules::of(self.target()?.discovery()))
    }

    /// The last response.
    pub fn last(&self) -> Result<&Exchange, StepError> {
        self.last.as_ref().ok_or_else(|| {
            StepError::plain(
                "a response to check",
                "no request was sent before this step",
            )
        })
    }

    /// Remembers the responses of a burst.
    pub fn set_burst(&mut self, burst: Vec<Exchange>) {
        self.burst = burst;
    }

    /// The responses of the last burst.
    pub fn burst(&self) -> &[Exchange] {
        &self.burst
    }

    /// Remembers the request id the scenario sent.
    pub fn set_sent_request_id(&mut self, id: impl Into<String>) {
        self.sent_request_id = Some(id.into());
    }

    /// The request id the scenario sent.
    pub fn sent_request_id(&self) -> Result<&str, StepError> {
        self.sent_request_id.as_deref().ok_or_else(|| {
            StepError::plain(
                "a request id sent earlier in the scenario",
                "no step sent a request id",
            )
        })
    }

    /// Adds a string no response may reveal.
    pub fn plant(&mut self, marker: impl Into<String>) {
        self.markers.push(marker.into());
    }

    /// The planted strings.
    pub fn markers(&self) -> &[String] {
        &self.markers
    }

    /// The fault hooks' base path; "not verified" outside the conformance profile, so that no
    /// step ever calls the hooks of such a target (spec/profiles.md).
    pub fn fault_hooks(&self) -> Result<String, StepError> {
        let discovery = self.target()?.discovery();
        if !discovery.is_conformance() {
            return Err(StepError::NotVerified(format!(
                "{NOT_CONFORMANCE} (profile: {})",
                discovery.profile
            )));
        }
        discovery
            .fault_hooks
            .as_ref()
            .map(|h| h.base.trim_end_matches('/').to_owned())
            .ok_or_else(|| {
                StepError::NotVerified(
                    "target is in the conformance profile but publishes no fault_hooks".into(),
                )
            })
    }

    /// The client-errors endpoint; "not verified" when the target offers none.
    pub fn client_errors_endpoint(&self) -> Result<String, StepError> {
        self.target()?
            .discovery()
            .endpoints
            .client_errors
            .clone()
            .ok_or_else(|| StepError::NotVerified("target offers no client-errors endpoint".into()))
    }

    /// What the sync steps remember.
    pub fn sync(&self) -> &SyncState {
        &self.sync
    }

    /// What the sync steps remember, to change.
    pub fn sync_mut(&mut self) -> &mut SyncState {
        &mut self.sync
    }

    /// The authentication steps' state.
    pub fn auth(&self) -> &AuthState {
        &self.auth
    }

    /// The authentication steps' state, to change.
    pub fn auth_mut(&mut self) -> &mut AuthState {
        &mut self.auth
    }

    /// The security steps' state, to change.
    pub fn security_mut(&mut self) -> &mut SecurityState {
        &mut self.security
    }

    /// The security steps' state.
    pub fn security(&self) -> &SecurityState {
        &self.security
    }

    /// Records a step's result so the runner can report a failure with its structure, and
    /// passes it on to cucumber.
    pub fn settle(&mut self, result: Result<(), StepError>) -> Result<(), StepError> {
        if let Err(e) = &result {
            self.outcome = Some(e.clone());
        }
        result
    }

    /// The error of the step that stopped the scenario, if a step failed through [`settle`].
    ///
    /// [`settle`]: Self::settle
    pub fn outcome(&self) -> Option<&StepError> {
        self.outcome.as_ref()
    }
}
