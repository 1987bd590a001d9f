//! Spec citations. Every expectation a check states names the sentence of `spec/` it
//! enforces, as h2spec quotes its RFC, so a failure explains itself and no check demands more
//! than the spec says. A test keeps every sentence below present, verbatim, in its file.

use std::fmt;

/// One normative sentence of `spec/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clause {
    /// The file, relative to the repository root.
    pub file: &'static str,
    /// The section heading it stands under.
    pub section: &'static str,
    /// The sentence, exactly as the file words it.
    pub text: &'static str,
}

impl Clause {
    /// `spec/x.md, "Section": sentence` for reports.
    pub fn cite(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, \"{}\": {}", self.file, self.section, self.text)
    }
}

const fn clause(file: &'static str, section: &'static str, text: &'static str) -> Clause {
    Clause {
        file,
        section,
        text,
    }
}

/// `spec/error-format.md`.
pub mod error_format {
    use super::{Clause, clause};

    const FILE: &str = "spec/error-format.md";
    const ENV: &str = "The envelope";
    const HEADERS: &str = "Headers that go with some codes";
    const DETAILS: &str = "`details`";
    const IDS: &str = "Request ids";
    const SAN: &str = "Sanitization";

    /// Status ≥ 400 means an envelope.
    pub const ENVELOPE: Clause = clause(
        FILE,
        ENV,
        "Every response with status ≥ 400 to a request the server has parsed SHALL have `Content-Type: application/json` and a body that is a JSON object of the form below.",
    );
    /// Exactly the defined members.
    pub const MEMBERS: Clause = clause(
        FILE,
        ENV,
        "The body SHALL hold `error`, `request_id` and `timestamp`, and `error` SHALL hold `code`, `number` and `message`; the server SHALL NOT add members other than those defined on this page.",
    );
    /// No nulls.
    pub const ABSENT_OMITTED: Clause = clause(
        FILE,
        ENV,
        "Absent optional members SHALL be omitted, not sent as `null`.",
    );
    /// The wire string.
    pub const CODE: Clause = clause(
        FILE,
        ENV,
        "`error.code` SHALL be the `wire` string of a row of `spec/error-codes.toml`.",
    );
    /// The number of the same row.
    pub const NUMBER: Clause = clause(
        FILE,
        ENV,
        "`error.number` SHALL be the `number` of the same row, as a JSON integer.",
    );
    /// A message.
    pub const MESSAGE: Clause = clause(
        FILE,
        ENV,
        "`error.message` SHALL be a string of at least one character.",
    );
    /// A suggestion, when present.
    pub const SUGGESTION: Clause = clause(
        FILE,
        ENV,
        "`error.suggestion`, when present, SHALL be a string of at least one character.",
    );
    /// Details hold only listed members.
    pub const DETAILS_MEMBERS: Clause = clause(
        FILE,
        ENV,
        "`error.details`, when present, SHALL be a JSON object holding only members listed under `details` below, each only with the codes it is listed with.",
    );
    /// The request id in the body.
    pub const REQUEST_ID: Clause = clause(
        FILE,
        ENV,
        "`request_id` SHALL be a non-empty string equal to the response's `X-Request-Id` header.",
    );
    /// The timestamp's form.
    pub const TIMESTAMP_FORM: Clause = clause(
        FILE,
        ENV,
        "`timestamp` SHALL be the time the response was produced, in RFC 3339 form in UTC with the `Z` suffix: `YYYY-MM-DDTHH:MM:SS`, optionally a fraction of a second, then `Z`.",
    );
    /// The timestamp is current.
    pub const TIMESTAMP_CURRENT: Clause = clause(
        FILE,
        ENV,
        "`timestamp` SHALL lie within 2 seconds of the time in the response's `Date` header.",
    );
    /// 405 and Allow.
    pub const ALLOW: Clause = clause(
        FILE,
        HEADERS,
        "A 405 response SHALL carry one `Allow` header listing exactly the methods the path supports.",
    );
    /// 429 and Retry-After.
    pub const RETRY_AFTER: Clause = clause(
        FILE,
        HEADERS,
        "A 429 response SHALL carry one `Retry-After` header, an integer number of seconds ≥ 1, and `details.retry_after_seconds` with the same value.",
    );
    /// 4001 names its field.
    pub const FIELD: Clause = clause(
        FILE,
        DETAILS,
        "Every 4001 `VALIDATION_FAILED` response SHALL carry `details.field`, a non-empty string.",
    );
    /// 4013 states the limit.
    pub const MAX_BODY_BYTES: Clause = clause(
        FILE,
        DETAILS,
        "Every 4013 `PAYLOAD_TOO_LARGE` response SHALL carry `details.max_body_bytes`, equal to `limits.max_body_bytes` of the discovery document.",
    );
    /// Readiness checks.
    pub const CHECKS: Clause = clause(
        FILE,
        DETAILS,
        "`details.checks` SHALL map each check name to `\"ok\"`, `\"not_configured\"` or `\"unavailable\"`.",
    );
    /// Debug detail only in development.
    pub const DEBUG_ONLY_DEVELOPMENT: Clause = clause(
        FILE,
        DETAILS,
        "`details.debug` SHALL NOT appear outside the development profile.",
    );
    /// A valid id is kept.
    pub const ID_KEPT: Clause = clause(
        FILE,
        IDS,
        "A request with exactly one `X-Request-Id` header whose value matches `^[A-Za-z0-9._:-]{1,128}$` SHALL keep that id.",
    );
    /// Anything else gets a generated id.
    pub const ID_GENERATED: Clause = clause(
        FILE,
        IDS,
        "Any other request (no such header, several of them, or a value that does not match) SHALL be given a generated id: a UUID v4 in lower-case hyphenated form.",
    );
    /// Every response carries the id.
    pub const ID_ON_EVERY_RESPONSE: Clause = clause(
        FILE,
        IDS,
        "Every response to a request the server has parsed, success or error, SHALL carry exactly one `X-Request-Id` header with the request's id.",
    );
    /// 5xx messages are the defaults.
    pub const DEFAULT_MESSAGE_5XX: Clause = clause(
        FILE,
        SAN,
        "For every code whose HTTP status is 5xx, `error.message` SHALL be the code's default message from `spec/error-codes.toml`.",
    );
    /// No internals: unhandled-failure text.
    pub const NO_TRACE: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry a stack trace, a backtrace or the text of an unhandled failure (in the reference, a panic message).",
    );
    /// No internals: source errors.
    pub const NO_SOURCE_TEXT: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry the text of an internal cause of an error, such as a library's, parser's or driver's error string.",
    );
    /// No internals: paths.
    pub const NO_PATH: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry a file system path or a source location (such as `src/handlers/x.rs:12`).",
    );
    /// No internals: SQL.
    pub const NO_SQL: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry SQL text.",
    );
    /// No internals: connection strings and credentials.
    pub const NO_CREDENTIAL: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry a connection string (database, Redis, broker) or any credential, key or token other than those the response exists to deliver.",
    );
    /// No internals: environment.
    pub const NO_ENVIRONMENT: Clause = clause(
        FILE,
        SAN,
        "No response body or header SHALL carry the value of an environment variable.",
    );
}

/// `spec/error-codes.md`.
pub mod error_codes {
    use super::{Clause, clause};

    /// One code, one status.
    pub const STATUS: Clause = clause(
        "spec/error-codes.md",
        "Rules",
        "A response carrying a code SHALL use that code's HTTP status",
    );
}

/// `spec/http-contract.md`.
pub mod http_contract {
    use super::{Clause, clause};

    const FILE: &str = "spec/http-contract.md";
    const GENERAL: &str = "General rules";
    const ORDER: &str = "The order of request checks";
    const JSON: &str = "JSON request bodies";
    const REPORTS: &str = "`POST /api/v1/client-errors`: client error reports";
    const COUNTERS: &str = "The shared counters";
    const HOOKS: &str = "Hooks";
    const AUTH: &str = "Authentication";
    const MINT: &str = "Minting tokens (conformance profile only)";

    /// Authenticated routes.
    pub const BEARER: Clause = clause(
        FILE,
        ORDER,
        "A route that requires an access token (`spec/auth.md`) SHALL answer 401 unless the request carries exactly one `Authorization` header of the form `Bearer` *token* that `spec/tokens.md` accepts; every such 401 carries `WWW-Authenticate: Bearer` (RFC 6750).",
    );
    /// The auth routes' answers.
    pub const AUTH_ANSWERS: Clause = clause(
        FILE,
        AUTH,
        "Each route SHALL answer a request that succeeds as the table above says, and a request that fails with the code the table below gives for its situation.",
    );
    /// Token responses are not cached; 401s challenge.
    pub const AUTH_HEADERS: Clause = clause(
        FILE,
        AUTH,
        "Every response carrying a token has `Cache-Control: no-store` (RFC 6749 §5.1), and every 401 carries `WWW-Authenticate` (RFC 9110 §15.5.2).",
    );
    /// The mint hook.
    pub const MINT_HOOK: Clause = clause(
        FILE,
        MINT,
        "The hook SHALL answer 200 `{\"token\", \"iat\", \"exp\"}` with a token signed by the signing key whose `iat` is the server's current time and whose `exp` is `iat + n` (zero or negative: already expired), both also given in Unix seconds.",
    );

    /// HEAD is GET without a body.
    pub const HEAD: Clause = clause(
        FILE,
        GENERAL,
        "`HEAD` is accepted wherever `GET` is and answers like `GET` without a body.",
    );
    /// Unparseable bytes.
    pub const UNPARSEABLE: Clause = clause(
        FILE,
        ORDER,
        "Bytes that do not form an HTTP/1.1 request the server can parse (a malformed request line, an unknown HTTP version, a header section over the server's limit, a `Transfer-Encoding` other than `chunked`, conflicting `Content-Length` headers) SHALL be answered with a status ≥ 400 or by closing the connection; such an answer MAY lack the envelope, and SHALL NOT affect other connections.",
    );
    /// Content-Length with Transfer-Encoding.
    pub const LENGTH_AND_CHUNKED: Clause = clause(
        FILE,
        ORDER,
        "A request with both `Content-Length` and `Transfer-Encoding` SHALL be refused with a status ≥ 400, or served by its `Transfer-Encoding` alone and answered with `Connection: close` (RFC 9112, section 6.3).",
    );
    /// The body limit, on every route.
    pub const BODY_LIMIT: Clause = clause(
        FILE,
        ORDER,
        "A body longer than `limits.max_body_bytes`, counted on the declared `Content-Length` and on the bytes received (a chunked body has no declared length), SHALL get 413 `PAYLOAD_TOO_LARGE` with `Connection: close`, whatever the path and method.",
    );
    /// The drain.
    pub const DRAIN: Clause = clause(
        FILE,
        ORDER,
        "Before answering 413 the server SHALL read and discard at least 1 MiB of the excess, so that a client still sending its body receives the 413 instead of a reset.",
    );
    /// Expect: 100-continue.
    pub const EXPECT_CONTINUE: Clause = clause(
        FILE,
        ORDER,
        "A request that declares a `Content-Length` over the limit and carries `Expect: 100-continue` SHALL be answered 413 without an interim 100 (Continue) response.",
    );
    /// Unknown paths.
    pub const NOT_FOUND: Clause = clause(
        FILE,
        ORDER,
        "A request to a path no route serves SHALL get 404 `NOT_FOUND`, whatever its method.",
    );
    /// Wrong methods.
    pub const METHOD: Clause = clause(
        FILE,
        ORDER,
        "A request whose method the path does not support SHALL get 405 `METHOD_NOT_ALLOWED`.",
    );
    /// Media type.
    pub const MEDIA_TYPE: Clause = clause(
        FILE,
        ORDER,
        "A request to a route that takes a JSON body SHALL get 415 `UNSUPPORTED_MEDIA_TYPE` unless its media type is `application/json` or `application/*+json`, compared case-insensitively, with any parameters.",
    );
    /// Well-formed JSON.
    pub const MALFORMED: Clause = clause(
        FILE,
        ORDER,
        "A JSON body that is not well-formed SHALL get 400 `BAD_REQUEST`.",
    );
    /// Shape.
    pub const SHAPE: Clause = clause(
        FILE,
        ORDER,
        "A well-formed body or a path parameter that does not meet the route's rules SHALL get 422 `VALIDATION_FAILED`, with `details.field` naming an offending member or parameter (`\"$\"` when the body is not a JSON object).",
    );
    /// The timeout.
    pub const TIMEOUT: Clause = clause(
        FILE,
        ORDER,
        "A request not answered within `limits.request_timeout_ms`, counted from the moment its header section has been received and including the time its body takes to arrive, SHALL get 408 `REQUEST_TIMEOUT`.",
    );
    /// Unhandled failures.
    pub const UNHANDLED: Clause = clause(
        FILE,
        ORDER,
        "An unhandled failure while serving a request (in the reference, a panic) SHALL get 500 `INTERNAL_ERROR`, and the server SHALL keep serving other requests.",
    );
    /// Readiness follows its checks.
    pub const READINESS: Clause = clause(
        FILE,
        "`GET /ready`: readiness",
        "The readiness endpoint SHALL answer 200 `{\"status\":\"ready\",\"checks\":…}` when no check is `\"unavailable\"`, and 503 `SERVICE_UNAVAILABLE` with `details.checks` when any check is.",
    );
    /// What well-formed means.
    pub const WELL_FORMED: Clause = clause(
        FILE,
        JSON,
        "A body is well-formed JSON only when it is exactly one JSON value (RFC 8259) encoded in UTF-8 without a byte order mark, no object in it has two members with the same name, no string in it holds an escaped lone surrogate (RFC 7493, I-JSON), and arrays and objects nest at most 64 deep.",
    );
    /// 4xx messages are the server's own words.
    pub const OWN_WORDS: Clause = clause(
        FILE,
        JSON,
        "The `message` of a 400 or 422 SHALL be the server's own text: it SHALL NOT quote the body or a parser's error text.",
    );
    /// Accepted reports.
    pub const REPORT_ACCEPTED: Clause = clause(
        FILE,
        REPORTS,
        "A report that passes every check SHALL get 202 with the body `{\"accepted\":true,\"request_id\":…}`, where `request_id` equals the `X-Request-Id` header.",
    );
    /// Report members.
    pub const REPORT_MEMBERS: Clause = clause(
        FILE,
        REPORTS,
        "A report SHALL be a JSON object with `boundary`, a string of 1 to 128 characters; `message`, a string of 1 to 2048 characters; optionally `code`, a JSON integer (no fraction, no exponent) from 0 to 65535; optionally `url`, a string of at most 2048 characters; and no other member.",
    );
    /// Reports are never echoed.
    pub const REPORT_NOT_ECHOED: Clause = clause(
        FILE,
        REPORTS,
        "No response SHALL echo any part of a report, except that `details.field` names an offending member.",
    );
    /// Hook state arithmetic.
    pub const HOOK_STATE: Clause = clause(
        FILE,
        COUNTERS,
        "After any sequence of requests, concurrent or not, the scope's state SHALL show `value` equal to the sum of every `add` applied to it and `updates` equal to their number, those of `poison` requests included, and `recoveries` equal to the number of `poison` requests.",
    );
    /// The oldest scope is evicted.
    pub const HOOK_EVICTION: Clause = clause(
        FILE,
        COUNTERS,
        "At most 1024 scopes exist at once; creating one more evicts the oldest-created, which then reads as zeros.",
    );
    /// add answers 200 with the state.
    pub const HOOK_ADD: Clause = clause(
        FILE,
        HOOKS,
        "`add` SHALL answer 200 with the scope's state after the add, also when an earlier request left the scope's lock poisoned.",
    );
    /// poison answers 500.
    pub const HOOK_POISON: Clause =
        clause(FILE, HOOKS, "`poison` SHALL answer 500 `INTERNAL_ERROR`.");
    /// add's bound.
    pub const HOOK_ADD_BOUND: Clause = clause(
        FILE,
        HOOKS,
        "`add` SHALL be a JSON integer with |n| ≤ 1000000000; any other value gets 422 with `details.field` = `\"add\"`.",
    );
    /// Scope names.
    pub const HOOK_SCOPE: Clause = clause(
        FILE,
        COUNTERS,
        "A scope SHALL be 1 to 64 characters of `[A-Za-z0-9_-]`, after percent-decoding when it is a path segment; any other scope gets 422 with `details.field` = `\"scope\"`.",
    );
    /// The panic hook's member.
    pub const HOOK_PANIC_MESSAGE: Clause = clause(
        FILE,
        HOOKS,
        "`panic`'s `message`: a string of at most 4096 characters (it may be empty).",
    );
    /// The error hook's members.
    pub const HOOK_MEMBERS: Clause = clause(
        FILE,
        HOOKS,
        "`error`'s `number`: a JSON integer; `message`: 1 to 512 characters; `source` (optional): at most 4096 characters; `suggestion` (optional): 1 to 512 characters.",
    );
    /// The error hook.
    pub const HOOK_ERROR: Clause = clause(
        FILE,
        HOOKS,
        "`error` SHALL answer with the envelope of code `number`: the given `message` for a code with a 4xx status, the code's default message for a 5xx status, the given `suggestion` when one was sent, and the members bound to the code (`spec/error-format.md`).",
    );
    /// The error hook's unknown codes.
    pub const HOOK_ERROR_UNKNOWN: Clause = clause(
        FILE,
        HOOKS,
        "An unknown `number` SHALL get 422 with `details.field` = `\"number\"`.",
    );
}

/// `spec/auth.md`.
pub mod auth {
    use super::{Clause, clause};

    const FILE: &str = "spec/auth.md";
    const ACCOUNTS: &str = "Accounts";
    const PASSWORDS: &str = "Passwords";
    const ISSUE: &str = "Issue";
    const REFRESH: &str = "Refresh";
    const REVOCATION: &str = "Revocation";

    /// Emails are normalised.
    pub const EMAIL_NORMALISED: Clause = clause(
        FILE,
        ACCOUNTS,
        "Emails SHALL be normalised before they are stored or looked up: Unicode NFC, then lowercase (Unicode default case mapping), so one person has one account whatever their keyboard sends.",
    );
    /// Full case mapping for emails.
    pub const EMAIL_CASE_MAPPING: Clause = clause(
        FILE,
        ACCOUNTS,
        "Lowercasing SHALL use the full default mapping (UnicodeData, the unconditional SpecialCasing mappings and the Final_Sigma condition, no language-specific rule; e.g. `İ` → `i̇`, `ẞ` → `ß`, a word-final `Σ` → `ς`), the result is not normalised again, and the 254-character limit applies to it.",
    );
    /// The shape of an email.
    pub const EMAIL: Clause = clause(
        FILE,
        ACCOUNTS,
        "A normalised email SHALL contain exactly one `@` with at least one character on each side, no white space or control characters, and at most 254 characters; any other email gets 422 `VALIDATION_FAILED` with `details.field` = `\"email\"`.",
    );
    /// NFC.
    pub const NFC: Clause = clause(
        FILE,
        PASSWORDS,
        "A password SHALL be normalised to Unicode NFC before it is hashed or verified, so canonically equivalent strings are the same password.",
    );
    /// 1 to 1024 bytes.
    pub const PASSWORD_LENGTH: Clause = clause(
        FILE,
        PASSWORDS,
        "A password SHALL be 1 to 1024 bytes in UTF-8 after normalisation; an empty or longer password gets 422 `VALIDATION_FAILED` with `details.field` = `\"password\"`, at registration and at login alike, before any account is looked up.",
    );
    /// No truncation.
    pub const EVERY_BYTE: Clause = clause(
        FILE,
        PASSWORDS,
        "Every byte of the normalised password counts: two passwords that differ anywhere, the last byte included, are different passwords.",
    );
    /// Unknown email and wrong password look alike.
    pub const SAME_FAILURE: Clause = clause(
        FILE,
        PASSWORDS,
        "A failed login SHALL be answered 401 `INVALID_CREDENTIALS` with the same body, apart from `request_id` and `timestamp`, whether the email has no account or the password is wrong.",
    );
    /// Bounded hashing.
    pub const BOUNDED: Clause = clause(
        FILE,
        PASSWORDS,
        "past that the server SHALL answer 503 `RESOURCE_EXHAUSTED` with a `Retry-After` header rather than queue without bound.",
    );
    /// What a login issues.
    pub const LOGIN_ISSUES: Clause = clause(
        FILE,
        ISSUE,
        "A successful login SHALL answer a new access token and a new refresh token, both with `iat` the time of the login, the access token's `exp` its `iat` plus `auth.access_ttl_seconds`, the refresh token's `exp` its `iat` plus `auth.refresh_ttl_seconds`.",
    );
    /// Rotation.
    pub const ROTATION: Clause = clause(
        FILE,
        REFRESH,
        "Presenting a valid refresh token at the refresh endpoint SHALL spend it and answer a new pair of its family, whose access token has `iat` equal to the time of the refresh and `exp` equal to that `iat` plus `auth.access_ttl_seconds`.",
    );
    /// The rotated refresh token's lifetime.
    pub const ROTATED_REFRESH: Clause = clause(
        FILE,
        REFRESH,
        "The new refresh token SHALL have `iat` equal to the time of the refresh and an `exp` no earlier than the spent token's `exp` and no later than its own `iat` plus `auth.refresh_ttl_seconds`: a server may renew the family's lifetime at each refresh (the reference does) or keep the one the login gave it, but never shorten it nor extend it past one lifetime from now.",
    );
    /// Reuse kills the family.
    pub const REUSE: Clause = clause(
        FILE,
        REFRESH,
        "Presenting a spent refresh token again SHALL be refused with 401 `TOKEN_REVOKED` and SHALL revoke its family: from then on every refresh token of the family, the newest included, is refused with 401 `TOKEN_REVOKED`.",
    );
    /// The revoke endpoint's answer.
    pub const REVOKE_ANSWER: Clause = clause(
        FILE,
        REVOCATION,
        "The revoke endpoint SHALL answer 200 `{}` to every request that passes the request checks, whether or not it revoked anything, so the answer tells a caller nothing about the token.",
    );
    /// Revoked means refused.
    pub const REVOKED: Clause = clause(
        FILE,
        REVOCATION,
        "From the moment the revocation is answered, the token SHALL be refused with 401 `TOKEN_REVOKED` at every use before its `exp`, by every instance behind the target's URL; from its `exp` on it is refused as expired or as revoked (`spec/tokens.md`).",
    );
}

/// `spec/tokens.md`.
pub mod tokens {
    use super::{Clause, clause};

    const FILE: &str = "spec/tokens.md";

    /// Canonical base64url.
    pub const CANONICAL: Clause = clause(
        FILE,
        "Encoding",
        "Base64url text in a token SHALL be canonical: only the characters `A-Z a-z 0-9 - _`, no padding `=`, and zero bits in the unused low bits of the last character.",
    );
    /// The signature.
    pub const SIGNATURE: Clause = clause(
        FILE,
        "Encoding",
        "The signature SHALL be the Ed25519 signature (RFC 8032, section 5.1) of PAE(`v4.public.`, payload, footer, empty) by the key the footer names, where PAE is PASETO's pre-authentication encoding: the number of pieces, then for each piece its length in bytes and its bytes, every number as 8 bytes little-endian with the most significant bit cleared.",
    );
    /// The claims.
    pub const PAYLOAD: Clause = clause(
        FILE,
        "Payload",
        "The payload SHALL be a UTF-8 JSON object with exactly the members `jti`, `sub`, `iat`, `exp` and `typ`, each once:",
    );
    /// The footer.
    pub const FOOTER: Clause = clause(
        FILE,
        "Footer",
        "The footer SHALL be the UTF-8 JSON object `{\"kid\": k}` with exactly that member, where `k` is the key id of the signing key as the discovery document's `auth.keys` publishes it.",
    );
    /// What verification accepts.
    pub const VERIFY: Clause = clause(
        FILE,
        "Verification",
        "A verifier SHALL accept a token only when all of the following hold, and SHALL refuse it with 401 `TOKEN_INVALID` otherwise:",
    );
    /// The order of the checks: expiry comes after every other check.
    pub const ORDER: Clause = clause(
        FILE,
        "Verification",
        "The checks apply in the order above, then expiry, then revocation (`spec/auth.md`): a forged, mistyped or malformed token is `TOKEN_INVALID` whatever its `exp`, and an expired revoked token MAY get either `TOKEN_EXPIRED` or `TOKEN_REVOKED`.",
    );
    /// The expiry boundary.
    pub const EXPIRY: Clause = clause(
        FILE,
        "Verification",
        "A token that passes these checks and whose `exp` is T SHALL be accepted at every time before T and refused with 401 `TOKEN_EXPIRED` at every time from T on.",
    );
    /// One signing key.
    pub const SIGNING_KEY: Clause = clause(
        FILE,
        "Keys and rotation",
        "A server SHALL sign with the signing key only and SHALL accept tokens signed by any published key.",
    );
}

/// `spec/conformance.md`.
pub mod conformance {
    use super::{Clause, clause};

    /// A target that stops answering has failed.
    pub const TRANSPORT: Clause = clause(
        "spec/conformance.md",
        "Checks and verdicts",
        "A transport error during a check (refused connection, reset, timeout) is a failure with the error as the actual result, not a reason for \"not verified\": a target that stops answering under test has failed.",
    );

    /// A check that does not end in time has failed.
    pub const CHECK_TIME_LIMIT: Clause = clause(
        "spec/conformance.md",
        "Checks and verdicts",
        "A check still running when its time limit (`--timeout`, 120 seconds by default) passes is stopped and fails: a target too slow to be checked has not shown that it conforms.",
    );
}

/// `spec/properties.toml`, for properties whose statement is the expectation itself.
pub mod properties {
    use super::{Clause, clause};

    /// Property 7's statement.
    pub const ISOLATION: Clause = clause(
        "spec/properties.toml",
        "Property 7",
        "other components outside that boundary SHALL continue to operate normally",
    );
}

/// `spec/client-abi.md`, `spec/htip.md` and `spec/delta.md`: the client checks.
pub mod client {
    use super::{Clause, clause};

    const ABI: &str = "spec/client-abi.md";
    const HTIP: &str = "spec/htip.md";
    const DELTA: &str = "spec/delta.md";

    /// Property 10.
    pub const ALLOC_DISJOINT: Clause = clause(
        ABI,
        "Guarantees",
        "Regions returned by `alloc` since the last `reset_heap` SHALL NOT overlap, SHALL lie inside `memory`, and SHALL start at an address that is a multiple of `align`.",
    );
    /// What `alloc` must serve.
    pub const ALLOC_FLOOR: Clause = clause(
        ABI,
        "Guarantees",
        "After `reset_heap`, a client SHALL serve requests of at least 1 MiB in all, alignment padding included.",
    );
    /// What `alloc` refuses.
    pub const ALLOC_EXPORT: Clause = clause(
        ABI,
        "Exports",
        "reserves `size` bytes aligned to `align` (a power of two, at most 65,536) for the host to write into; returns the address, or 0 when the request is invalid or memory is exhausted (never a trap)",
    );
    /// Property 11, requirement 3.5.
    pub const INPUT: Clause = clause(
        ABI,
        "Guarantees",
        "For any arguments and any bytes in its memory, every export SHALL return (no trap, no endless loop) and SHALL NOT write outside the regions it owns (its own data and the `out` range it was given) or call an import with a range outside its memory.",
    );
    /// Bad ranges.
    pub const BAD_REGION: Clause = clause(
        ABI,
        "Guarantees",
        "A range argument that does not lie inside `memory` is refused with `-BAD_REGION`.",
    );
    /// When `BAD_REGION` is the answer, and so when it is not.
    pub const BAD_REGION_CODE: Clause = clause(
        ABI,
        "Error codes beyond the formats'",
        "| 26 | `BAD_REGION` | a pointer and length given to an export are not inside the client's memory |",
    );
    /// A refused stream changes nothing.
    pub const REFUSAL: Clause = clause(
        ABI,
        "Guarantees",
        "A stream `render_stream` refuses for codes 1-18 and 26 causes no import call other than `host_log` (`htip.md`, \"Checking a stream\").",
    );
    /// Requirement 3.4.
    pub const REFUSE_MALFORMED: Clause = clause(
        HTIP,
        "Checking a stream",
        "A decoder SHALL check, before reporting the stream valid:",
    );
    /// The codes.
    pub const CODES: Clause = clause(
        HTIP,
        "Error codes",
        "A refused stream yields one of these codes; `render_stream` returns it negated (`client-abi.md`).",
    );
    /// What `on_event` answers.
    pub const ON_EVENT: Clause = clause(
        ABI,
        "Exports",
        "| `on_event` | `(handler) → code` | a listener attached with `handler` fired; 0, or `-UNKNOWN_HANDLER` when no `LISTEN` since the last `reset` attached `handler` |",
    );
    /// What `reset` forgets.
    pub const RESET: Clause = clause(
        ABI,
        "Exports",
        "| `reset` | `()` | forgets nodes, templates and handlers (the page itself is the host's); handles start again at 1 |",
    );
    /// What `get_node_count` counts.
    pub const NODE_COUNT: Clause = clause(
        ABI,
        "Exports",
        "| `get_node_count` | `() → count` | nodes created (handles taken, one per `CLONE`) since the last `reset` |",
    );
    /// What `get_template_count` counts.
    pub const TEMPLATE_COUNT: Clause = clause(
        ABI,
        "Exports",
        "| `get_template_count` | `() → count` | distinct templates cached since the last `reset` (caching a template again replaces its HTML and does not count twice) |",
    );
    /// An accepted stream's page operations.
    pub const RENDERS_OPS: Clause = clause(
        HTIP,
        "Ops section",
        "A client that accepts a stream SHALL call, for each operation in order, the host import its row names, with the operands the row gives (handles as the host's node ids, strings as their UTF-8 bytes), and no other import that changes the page.",
    );
    /// Property 9.
    pub const ROUND_TRIP: Clause = clause(
        DELTA,
        "What generating guarantees",
        "Applying the patch generated from base to target, to that base, SHALL yield the target byte for byte; and the patch generated from the target back to the base SHALL restore the base (requirement 3.2).",
    );
    /// The wrong base.
    pub const WRONG_BASE: Clause = clause(
        DELTA,
        "Versions are named by hash",
        "applying a patch to any other base SHALL be refused, never produce output",
    );
    /// Which code a refused patch yields.
    pub const PATCH_CODES: Clause = clause(
        DELTA,
        "Error codes",
        "One numbering with the HTIP stream's (`htip.md`): 1-5 and 11, 12, 14, 17, 18 mean what they mean there; these are the patch's own.",
    );
    /// What an applier guarantees.
    pub const APPLIER: Clause = clause(
        DELTA,
        "Instructions",
        "An applier SHALL check the base (length and hash) before writing any output, SHALL never write more than `target_len` bytes, and SHALL NOT hand out output from a patch it refused: a refused patch leaves the caller with its base and an error code, never with a corrupted target.",
    );
    /// Versions over HTTP.
    pub const ETAG: Clause = clause(
        DELTA,
        "Over HTTP",
        "Every `200` and `226` response for an asset SHALL carry `ETag: \"<hash>\"`, the target's hash as above (a strong validator).",
    );
    /// 304.
    pub const NOT_MODIFIED: Clause = clause(
        DELTA,
        "Over HTTP",
        "A request with `If-None-Match` naming the current version SHALL be answered `304 Not Modified`.",
    );
    /// 226.
    pub const IM_USED: Clause = clause(
        DELTA,
        "Over HTTP",
        "A request with `A-IM: dxdp` and `If-None-Match` naming an older version the server still holds SHALL be answered either `226 IM Used` with `IM: dxdp`, `Delta-Base: \"<base hash>\"`, the target's `ETag` and the patch as the body, or `200` with the whole target (when the patch would not be smaller, or the server prefers).",
    );
    /// Vary.
    pub const VARY: Clause = clause(
        DELTA,
        "Over HTTP",
        "`226` and `200` responses SHALL carry `Vary: A-IM, If-None-Match`, so a cache never serves a patch to a client that holds another base.",
    );
    /// Older versions.
    pub const OLDER_VERSIONS: Clause = clause(
        DELTA,
        "Over HTTP",
        "Each listed version SHALL be served whole at `{path}?v=<hash>` (200, with its own `ETag`), so a client can hold any of them as a base; an unknown version answers 404 `NOT_FOUND`.",
    );
    /// The export.
    pub const APPLY_EXPORT: Clause = clause(
        ABI,
        "Exports",
        "applies the patch to the base (`delta.md`), writing the target at `out_ptr`; returns its length, or the negated error code (`-LIMIT_EXCEEDED` when `out_cap` is smaller than the target)",
    );
}

/// Every clause, for the test that keeps them in their files.
pub const ALL: &[&Clause] = &[
    &should::REHASH,
    &should::SAME_WORK,
    &should::LOGGED_ID,
    &should::NO_VERSION,
    &error_format::ENVELOPE,
    &error_format::MEMBERS,
    &error_format::ABSENT_OMITTED,
    &error_format::CODE,
    &error_format::NUMBER,
    &error_format::MESSAGE,
    &error_format::SUGGESTION,
    &error_format::DETAILS_MEMBERS,
    &error_format::REQUEST_ID,
    &error_format::TIMESTAMP_FORM,
    &error_format::TIMESTAMP_CURRENT,
    &error_format::ALLOW,
    &error_format::RETRY_AFTER,
    &error_format::FIELD,
    &error_format::MAX_BODY_BYTES,
    &error_format::CHECKS,
    &error_format::DEBUG_ONLY_DEVELOPMENT,
    &error_format::ID_KEPT,
    &error_format::ID_GENERATED,
    &error_format::ID_ON_EVERY_RESPONSE,
    &error_format::DEFAULT_MESSAGE_5XX,
    &error_format::NO_TRACE,
    &error_format::NO_SOURCE_TEXT,
    &error_format::NO_PATH,
    &error_format::NO_SQL,
    &error_format::NO_CREDENTIAL,
    &error_format::NO_ENVIRONMENT,
    &error_codes::STATUS,
    &http_contract::HEAD,
    &http_contract::UNPARSEABLE,
    &http_contract::LENGTH_AND_CHUNKED,
    &http_contract::BODY_LIMIT,
    &http_contract::DRAIN,
    &http_contract::EXPECT_CONTINUE,
    &http_contract::NOT_FOUND,
    &http_contract::METHOD,
    &http_contract::MEDIA_TYPE,
    &http_contract::MALFORMED,
    &http_contract::SHAPE,
    &http_contract::TIMEOUT,
    &http_contract::UNHANDLED,
    &http_contract::READINESS,
    &http_contract::WELL_FORMED,
    &http_contract::OWN_WORDS,
    &http_contract::REPORT_ACCEPTED,
    &http_contract::REPORT_MEMBERS,
    &http_contract::REPORT_NOT_ECHOED,
    &http_contract::HOOK_STATE,
    &http_contract::HOOK_EVICTION,
    &http_contract::HOOK_ADD,
    &http_contract::HOOK_POISON,
    &http_contract::HOOK_ADD_BOUND,
    &http_contract::HOOK_SCOPE,
    &http_contract::HOOK_PANIC_MESSAGE,
    &http_contract::HOOK_MEMBERS,
    &http_contract::HOOK_ERROR,
    &http_contract::HOOK_ERROR_UNKNOWN,
    &http_contract::BEARER,
    &http_contract::AUTH_ANSWERS,
    &http_contract::AUTH_HEADERS,
    &http_contract::MINT_HOOK,
    &auth::EMAIL,
    &auth::NFC,
    &auth::PASSWORD_LENGTH,
    &auth::EVERY_BYTE,
    &auth::SAME_FAILURE,
    &auth::BOUNDED,
    &auth::LOGIN_ISSUES,
    &auth::ROTATION,
    &auth::ROTATED_REFRESH,
    &auth::EMAIL_NORMALISED,
    &auth::EMAIL_CASE_MAPPING,
    &auth::REUSE,
    &auth::REVOKE_ANSWER,
    &auth::REVOKED,
    &tokens::CANONICAL,
    &tokens::ORDER,
    &tokens::SIGNATURE,
    &tokens::PAYLOAD,
    &tokens::FOOTER,
    &tokens::VERIFY,
    &tokens::EXPIRY,
    &tokens::SIGNING_KEY,
    &properties::ISOLATION,
    &conformance::TRANSPORT,
    &security::EVERY_RESPONSE,
    &security::CSP,
    &security::HSTS,
    &security::FRAME,
    &security::NOSNIFF,
    &security::XSS,
    &security::REFERRER,
    &security::RETRY_RANGE,
    &security::SLIDING,
    &security::FIELDS,
    &security::REMAINING,
    &security::REFUSED,
    &security::RETRY_AFTER,
    &security::PARTITION,
    &security::TOKEN_ENDPOINT,
    &security::TOKEN_COOKIE,
    &security::SESSION_END,
    &security::RANDOM_BITS,
    &security::DISTINCT,
    &security::CROSS_SITE,
    &security::REQUIRED,
    &security::ENDED,
    &security::EITHER_PLACE,
    &security::REASON,
    &security::UNCHECKED,
    &security::FORWARDED,
    &query::BIND_ONLY,
    &query::BYTE_FOR_BYTE,
    &query::NUL_REFUSED,
    &query::POOL_BOUND,
    &query::EXHAUSTED,
    &query::TIMEOUT,
    &query::DETAILS,
    &query::NO_SECRET,
    &query::DEFAULT_MESSAGE,
    &query::CACHE_WRITE,
    &query::OWNER_SCOPE,
    &query::ITEM_SHAPE,
    &query::LISTING,
    &query::CREATED,
    &query::DUPLICATE,
    &query::METRICS,
    &query::SLOW_QUERY,
    &query::DELETED,
    &query::BAD_INPUT,
    &client::ALLOC_DISJOINT,
    &client::ALLOC_FLOOR,
    &client::ALLOC_EXPORT,
    &client::INPUT,
    &client::BAD_REGION,
    &client::REFUSAL,
    &client::REFUSE_MALFORMED,
    &client::CODES,
    &client::RENDERS_OPS,
    &client::NODE_COUNT,
    &client::ON_EVENT,
    &client::RESET,
    &client::TEMPLATE_COUNT,
    &client::ROUND_TRIP,
    &client::WRONG_BASE,
    &client::APPLIER,
    &client::PATCH_CODES,
    &client::BAD_REGION_CODE,
    &client::APPLY_EXPORT,
    &client::ETAG,
    &client::NOT_MODIFIED,
    &client::IM_USED,
    &client::VARY,
    &client::OLDER_VERSIONS,
    &sync::EXACTLY_ONCE,
    &sync::ORDER,
    &sync::SUBSCRIBED_AT,
    &sync::REPLAY,
    &sync::NO_GAP,
    &sync::RELOAD,
    &sync::FOREIGN_SESSION,
    &sync::ERROR_MESSAGE,
    &sync::KEPT,
    &sync::PRESENCE,
    &sync::LEAVE,
    &sync::PRESENCE_EVENTS,
    &sync::SEND_QUEUE,
    &sync::DEAD,
    &sync::ACK,
    &sync::NO_ACK,
    &sync::UPGRADE,
    &sync::FRAMES,
    &sync::TOKEN_PLACES,
    &sync::SELECTS_SUBPROTOCOL,
    &sync::TOKEN_REQUIRED,
    &sync::NOT_AN_UPGRADE,
    &sync::SESSION_USER,
    &sync::FRAME_ENDS,
    &sync::CHANNEL_RULE,
    &sync::RESUBSCRIBE,
    &sync::UNSUBSCRIBED,
    &sync::REFUSAL,
    &sync::STAYS_OPEN,
    &sync::TEXT_FRAME,
    &sync::FRAME_TOO_LONG,
    &sync::MALFORMED,
    &sync::BAD_CHANNEL,
    &sync::PAYLOAD_TOO_LARGE,
    &sync::TOO_MANY_CHANNELS,
    &sync::NOBODY_SUBSCRIBED,
    &sync::PUBLISH_LIMIT,
    &sync::TOKEN_LAPSED,
    &sync::TOKEN_CHECK,
    &ssr::PAGES,
    &ssr::ANSWERS,
    &ssr::PINNED,
    &ssr::VARY,
    &ssr::ONE_ROOT,
    &ssr::SHELL,
    &ssr::RENDERED,
    &ssr::SAME_TREE,
    &ssr::ESCAPED,
    &ssr::TITLE,
    &ssr::BOUNDARY,
    &ssr::FALLBACK,
    &ssr::PLANTED,
];

/// `spec/ssr.md`: server-side rendering (`features/ssr.feature`).
pub mod ssr {
    use super::{Clause, clause};

    const FILE: &str = "spec/ssr.md";

    /// Pages are listed.
    pub const PAGES: Clause = clause(
        FILE,
        "Pages",
        "A target that serves pages SHALL list them in the discovery document's `ssr` member: for each, its `path`, the URL of its HTIP stream (`stream`) and optionally its `title`; and, in `crawlers`, a description of its crawler rule for people (`discovery.md`).",
    );
    /// 200 and HTML.
    pub const ANSWERS: Clause = clause(
        FILE,
        "Who gets what",
        "A `GET` of a page SHALL be answered `200` with `Content-Type: text/html` and one of two documents:",
    );
    /// The pinned agents.
    pub const PINNED: Clause = clause(
        FILE,
        "Who gets what",
        "The crawler rule is the target's, but it SHALL class every user agent of `spec/crawlers.toml` as that file says: each of its `crawlers` gets the rendered document and each of its `browsers` the shell.",
    );
    /// Vary.
    pub const VARY: Clause = clause(
        FILE,
        "Who gets what",
        "Both answers SHALL carry a `Vary` header naming `User-Agent` (or `*`), so no cache hands a crawler's answer to a browser or the reverse.",
    );
    /// One root.
    pub const ONE_ROOT: Clause = clause(
        FILE,
        "The two documents",
        "Both documents SHALL have exactly one element with `id=\"dx-root\"`, the *root*: the host's mount point (node 0 of `client-abi.md`).",
    );
    /// The shell's root.
    pub const SHELL: Clause = clause(
        FILE,
        "The two documents",
        "In **the shell**, the root SHALL be empty and SHALL name the page's stream in its `data-dx-stream` attribute (and MAY name the client in `data-dx-client`); the document loads a script that runs the client on it.",
    );
    /// The rendered root.
    pub const RENDERED: Clause = clause(
        FILE,
        "The two documents",
        "In **the rendered document**, the root SHALL hold the page: the nodes its stream builds when a host renders it into an empty root as `client-abi.md` describes, and nothing else.",
    );
    /// The same tree.
    pub const SAME_TREE: Clause = clause(
        FILE,
        "The same page",
        "The rendered document, parsed by an HTML parser, SHALL give under the root the same tree as the stream builds in a client.",
    );
    /// Escaping.
    pub const ESCAPED: Clause = clause(
        FILE,
        "The same page",
        "So text and attribute values SHALL be escaped: whatever a page's texts say, however hostile (`<script>`, a quote that would end an attribute, `</title>`, character references, control and bidirectional characters), an HTML parser reads back exactly them and nothing becomes markup.",
    );
    /// The title.
    pub const TITLE: Clause = clause(
        FILE,
        "The same page",
        "The document's title, where the page has one, SHALL be the text of its `<title>` element in both documents.",
    );
    /// Boundaries.
    pub const BOUNDARY: Clause = clause(
        FILE,
        "Components",
        "Each component SHALL render inside an error boundary (`error-format.md`, Property 7): a component that fails, by an error or a panic, SHALL show a fallback in its place, the rest of the page SHALL render as if nothing had failed, and the answer SHALL stay `200`.",
    );
    /// The fallback says nothing.
    pub const FALLBACK: Clause = clause(
        FILE,
        "Components",
        "The fallback SHALL NOT say why the component failed (no error message, stack trace, path or query: the rules of \"Sanitization\" in `error-format.md`); the server logs the failure with the request id.",
    );
    /// The planted page.
    pub const PLANTED: Clause = clause(
        FILE,
        "Conformance hook",
        "The planted page SHALL show `title` as its title, each text, in order, as the whole text content of an element whose attribute `data-planted` has the text as its value, and a component that fails as `fail` says inside an element with `data-dx-component=\"faulty\"`, followed by at least one more component.",
    );
}

/// `spec/security.md` and requirement 4 of `spec/requirements.md`.
pub mod query {
    use super::{Clause, clause};

    const FILE: &str = "spec/query.md";
    const HTTP: &str = "spec/http-contract.md";

    /// Requirement 8.2.
    pub const BIND_ONLY: Clause = clause(
        FILE,
        "Bind parameters only",
        "Every value that comes from a request SHALL reach the database as a bound parameter, never as part of SQL text (requirement 8.2).",
    );
    /// Property 19's consequence.
    pub const BYTE_FOR_BYTE: Clause = clause(
        FILE,
        "Bind parameters only",
        "Consequently quotes, semicolons, comment markers, `%` and `_`, and every other character a client sends are stored and returned byte for byte and never change another row or the schema (Property 19).",
    );
    /// U+0000.
    pub const NUL_REFUSED: Clause = clause(
        FILE,
        "Bind parameters only",
        "Text containing U+0000 is refused with 422 `VALIDATION_FAILED` before the database is asked",
    );
    /// Requirement 8.3.
    pub const POOL_BOUND: Clause = clause(
        FILE,
        "The pool",
        "no burst of queries, however large, SHALL make the server hold more connections than the maximum (requirement 8.3, Property 20).",
    );
    /// Pool exhaustion.
    pub const EXHAUSTED: Clause = clause(
        FILE,
        "The pool",
        "When the pool stays exhausted that long the answer is 503 `RESOURCE_EXHAUSTED` with `Retry-After: 1`",
    );
    /// Requirement 8.5.
    pub const TIMEOUT: Clause = clause(
        FILE,
        "Timeouts",
        "Every query SHALL be bounded by the query timeout (default 5 s, configurable), waiting for its connection included; past it the answer is 504 `DB_QUERY_TIMEOUT` (requirement 8.5).",
    );
    /// Requirement 8.4, the details.
    pub const DETAILS: Clause = clause(
        FILE,
        "Errors",
        "The envelope's `details` SHALL carry `error_type`, `table` and `operation` (`select`, `insert`, `update` or `delete`), and `constraint` when a constraint refused the change and the database named it.",
    );
    /// Requirement 8.4, the message.
    pub const DEFAULT_MESSAGE: Clause =
        clause(FILE, "Errors", "The message is the code's default message.");
    /// Requirement 8.4, what never appears.
    pub const NO_SECRET: Clause = clause(
        FILE,
        "Errors",
        "No part of the response (message, details, headers) SHALL contain a password, a connection string, SQL text, a bound value, or the driver's own error text",
    );
    /// The cache after a write.
    pub const CACHE_WRITE: Clause = clause(
        FILE,
        "Cache",
        "A write to a table SHALL make every result cached for that table unreachable once the write has committed, so no read after a write sees the rows from before it.",
    );
    /// The items' owner scope.
    pub const OWNER_SCOPE: Clause = clause(
        HTTP,
        "Items",
        "an item belongs to the account its token speaks for, and no request reads or changes another account's items: they answer 404 as if absent.",
    );
    /// The items routes' answers.
    pub const ITEM_SHAPE: Clause = clause(
        HTTP,
        "Items",
        "`name` 1 to 256 bytes, `body` 0 to 16384 bytes, both returned byte for byte as stored",
    );
    /// The listing.
    pub const LISTING: Clause = clause(
        HTTP,
        "Items",
        "The listing returns the caller's items in id order after the id `after` (default 0), at most `limit` (1 to `query.max_page`, default 20) of them, those whose name contains `q` as a plain substring when `q` is given",
    );
    /// Creating.
    pub const CREATED: Clause = clause(HTTP, "Items", "201, the item, `Location: {items}/{id}`");
    /// Deleting.
    pub const DELETED: Clause = clause(HTTP, "Items", "`DELETE {items}/{id}` | none | 204");
    /// Bad input.
    pub const BAD_INPUT: Clause = clause(
        HTTP,
        "Items",
        "`name` empty or too long, `body` too long, either containing U+0000; `q` too long or containing U+0000; `after` not an integer ≥ 0; `limit` out of range; a parameter repeated or unknown | 422 `VALIDATION_FAILED`, `details.field` naming it",
    );
    /// A duplicate.
    pub const DUPLICATE: Clause = clause(
        HTTP,
        "Items",
        "a name the caller already uses | 409 `DB_CONSTRAINT_VIOLATION`, `details` as in `spec/query.md`",
    );
    /// `/metrics`.
    pub const METRICS: Clause = clause(
        HTTP,
        "`GET /metrics`",
        "When `query.metrics` is a path, it SHALL answer 200 with the Prometheus text exposition format",
    );
    /// The slow-query hook.
    pub const SLOW_QUERY: Clause = clause(
        HTTP,
        "Hooks",
        "On a target that offers `query`, `slow-query` SHALL answer 504 `DB_QUERY_TIMEOUT` with the `details` of `spec/query.md` (\"Errors\"), and the target SHALL serve the next request as before.",
    );
}

pub mod security {
    use super::{Clause, clause};

    const FILE: &str = "spec/security.md";
    const REQ: &str = "spec/requirements.md";
    const HEADERS: &str = "Security headers";
    const REQ_HEADERS: &str = "4. Security headers";
    const RATE: &str = "Rate limits";
    const CSRF: &str = "CSRF";

    /// Forwarding headers.
    pub const FORWARDED: Clause = clause(
        FILE,
        RATE,
        "`Forwarded` (RFC 7239) or, without it, `X-Forwarded-For` SHALL count only when the peer is a configured trusted proxy",
    );
    /// What the CSRF check leaves alone.
    pub const UNCHECKED: Clause = clause(
        FILE,
        CSRF,
        "A safe request SHALL NOT be refused with `CSRF_INVALID`, whatever its cookies, and neither SHALL an unsafe request to a path under `csrf.exempt.paths` whose `Sec-Fetch-Site` is not `cross-site`",
    );
    /// The six headers on every response.
    pub const EVERY_RESPONSE: Clause = clause(
        FILE,
        HEADERS,
        "Every response the server sends to a request it has parsed SHALL carry each of the six headers below exactly once",
    );
    /// 4.1.
    pub const CSP: Clause = clause(
        REQ,
        REQ_HEADERS,
        "In production and conformance it SHALL set `default-src` and `frame-ancestors`, and its script sources SHALL NOT allow `'unsafe-inline'` or `'unsafe-eval'` (`'wasm-unsafe-eval'` is allowed).",
    );
    /// 4.2.
    pub const HSTS: Clause = clause(
        REQ,
        REQ_HEADERS,
        "`Strict-Transport-Security` with a `max-age` of at least 31536000 in production and conformance, and `includeSubDomains` when configured; development MAY send `max-age=0`.",
    );
    /// 4.3.
    pub const FRAME: Clause = clause(
        REQ,
        REQ_HEADERS,
        "`X-Frame-Options`: `DENY` (the default) or `SAMEORIGIN`.",
    );
    /// 4.4.
    pub const NOSNIFF: Clause = clause(REQ, REQ_HEADERS, "`X-Content-Type-Options: nosniff`.");
    /// 4.5.
    pub const XSS: Clause = clause(
        REQ,
        REQ_HEADERS,
        "`X-XSS-Protection`: `0` (the default, disabling legacy filters) or `1; mode=block`.",
    );
    /// 4.6.
    pub const REFERRER: Clause = clause(
        REQ,
        REQ_HEADERS,
        "`Referrer-Policy`: a standard policy other than `unsafe-url`; the default is `strict-origin-when-cross-origin`.",
    );
    /// 5.3: the range of Retry-After.
    pub const RETRY_RANGE: Clause = clause(
        REQ,
        "5. Rate limiting",
        "Every 429 SHALL carry `Retry-After` as an integer number of seconds from 1 to `window_seconds`.",
    );
    /// The sliding window.
    pub const SLIDING: Clause = clause(
        FILE,
        RATE,
        "a request at time T SHALL be admitted if and only if fewer than `max_requests` admitted requests of the same client and category lie in `(T − window_seconds, T]`.",
    );
    /// The fields on admitted requests.
    pub const FIELDS: Clause = clause(
        FILE,
        RATE,
        "An admitted request in a limited category SHALL be answered with the fields of draft-ietf-httpapi-ratelimit-headers-09",
    );
    /// What `remaining` counts.
    pub const REMAINING: Clause = clause(
        FILE,
        RATE,
        "where `remaining` is `max_requests` minus the admitted requests now in the window (this one included)",
    );
    /// The 429.
    pub const REFUSED: Clause = clause(
        FILE,
        RATE,
        "A refused request SHALL be answered 429 `RATE_LIMITED` without reaching the application",
    );
    /// Retry-After is honoured.
    pub const RETRY_AFTER: Clause = clause(
        FILE,
        RATE,
        "so that the same request sent `Retry-After` seconds later is admitted unless other requests of the same client were admitted meanwhile",
    );
    /// Partitions are counted apart.
    pub const PARTITION: Clause = clause(
        FILE,
        RATE,
        "A request carrying that header with a value of 1 to 64 characters from `[A-Za-z0-9_-]` SHALL be counted apart from the same client's requests with another value or without the header.",
    );
    /// The token endpoint.
    pub const TOKEN_ENDPOINT: Clause = clause(
        FILE,
        CSRF,
        "`GET csrf.token_endpoint` SHALL answer 200 with a JSON object whose `token` member is a token for the request's live session",
    );
    /// The token cookie.
    pub const TOKEN_COOKIE: Clause = clause(
        FILE,
        CSRF,
        "The same token SHALL be set in the script-readable cookie `csrf.token_cookie`.",
    );
    /// Ending a session.
    pub const SESSION_END: Clause = clause(
        FILE,
        CSRF,
        "`POST csrf.session_end_endpoint`, a state-changing request like any other, SHALL end the request's session and answer 204 when the CSRF check lets it through.",
    );
    /// 128 random bits.
    pub const RANDOM_BITS: Clause = clause(
        FILE,
        CSRF,
        "each carries at least 128 random bits, its issue time, and an HMAC-SHA256 under the server's secret that binds it to its session.",
    );
    /// Distinct tokens.
    pub const DISTINCT: Clause = clause(
        FILE,
        CSRF,
        "Tokens issued to different sessions SHALL differ",
    );
    /// Fetch Metadata.
    pub const CROSS_SITE: Clause = clause(
        FILE,
        CSRF,
        "An unsafe request SHALL be refused with 403 `CSRF_INVALID` when its `Sec-Fetch-Site` header is `cross-site`.",
    );
    /// The token requirement.
    pub const REQUIRED: Clause = clause(
        FILE,
        CSRF,
        "SHALL be refused with 403 `CSRF_INVALID` unless its session cookie names a live session and it carries a token that is well-formed, issued by this server, issued to that session and younger than `csrf.ttl_seconds`.",
    );
    /// Ended sessions.
    pub const ENDED: Clause = clause(
        FILE,
        CSRF,
        "an ended session's tokens SHALL be refused by every instance.",
    );
    /// Either place.
    pub const EITHER_PLACE: Clause = clause(
        FILE,
        CSRF,
        "a valid token SHALL be accepted in either place, and when both are sent, both SHALL be valid.",
    );
    /// The reason.
    pub const REASON: Clause = clause(
        FILE,
        CSRF,
        "Every CSRF refusal SHALL carry `details.reason`, one of `missing`, `malformed`, `invalid`, `expired`, `session-mismatch`, `no-session` and `cross-site`.",
    );
}

/// The SHOULD sentences of `spec/`, one per SHOULD-level check (`--strict`; spec/conformance.md,
/// "SHOULD-level checks").
pub mod should {
    use super::{Clause, clause};

    /// `s01`.
    pub const REHASH: Clause = clause(
        "spec/auth.md",
        "Passwords",
        "When a login succeeds against a hash with weaker parameters, the server SHOULD replace it with a hash of the current parameters.",
    );
    /// `s02`.
    pub const SAME_WORK: Clause = clause(
        "spec/auth.md",
        "Passwords",
        "The server SHOULD spend the same hashing work in both cases (the reference verifies against a decoy hash when there is no account), so the time does not tell them apart either.",
    );
    /// `s03`.
    pub const LOGGED_ID: Clause = clause(
        "spec/error-format.md",
        "Request ids",
        "Log lines written while serving a request SHOULD carry the id, so an operator can go from a client's report to the server's log.",
    );
    /// `s04`.
    pub const NO_VERSION: Clause = clause(
        "spec/security.md",
        "Security headers",
        "A response SHOULD NOT reveal the software that produced it or its version: no `X-Powered-By` header, and no version number (no digit) in a `Server` header.",
    );
}

/// The text of a spec file this crate cites (compiled in, for the test below).
pub fn spec_text(file: &str) -> Option<&'static str> {
    match file {
        "spec/error-format.md" => Some(include_str!("../../spec/error-format.md")),
        "spec/error-codes.md" => Some(include_str!("../../spec/error-codes.md")),
        "spec/http-contract.md" => Some(include_str!("../../spec/http-contract.md")),
        "spec/properties.toml" => Some(include_str!("../../spec/properties.toml")),
        "spec/conformance.md" => Some(include_str!("../../spec/conformance.md")),
        "spec/auth.md" => Some(include_str!("../../spec/auth.md")),
        "spec/tokens.md" => Some(include_str!("../../spec/tokens.md")),
        "spec/security.md" => Some(include_str!("../../spec/security.md")),
        "spec/query.md" => Some(include_str!("../../spec/query.md")),
        "spec/client-abi.md" => Some(include_str!("../../spec/client-abi.md")),
        "spec/htip.md" => Some(include_str!("../../spec/htip.md")),
        "spec/delta.md" => Some(include_str!("../../spec/delta.md")),
        "spec/sync.md" => Some(include_str!("../../spec/sync.md")),
        "spec/requirements.md" => Some(include_str!("../../spec/requirements.md")),
        "spec/ssr.md" => Some(include_str!("../../spec/ssr.md")),
        _ => None,
    }
}

/// The clause an expectation cites, for reports that give it as file, section and sentence:
/// the one of [`ALL`] whose citation stands first in `text`.
pub fn cited_in(text: &str) -> Option<&'static Clause> {
    ALL.iter()
        .filter_map(|c| text.find(&c.cite()).map(|at| (at, *c)))
        .min_by_key(|(at, c)| (*at, std::cmp::Reverse(c.text.len())))
        .map(|(_, c)| c)
}

/// Whitespace folded to single spaces, so line breaks in the Markdown do not matter.
fn folded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `clause` stands, verbatim, in its file under its section heading.
pub fn is_in_spec(clause: &Clause) -> bool {
    let Some(text) = spec_text(clause.file) else {
        return false;
    };
    let file = folded(text);
    let Some(at) = file.find(&folded(clause.text)) else {
        return false;
    };
    // The nearest heading before the sentence names its section (TOML: the property number).
    let before = &file[..at];
    if clause.file.ends_with(".toml") {
        let number = clause.section.trim_start_matches("Property ");
        return before.rfind("number = ").is_some_and(|i| {
            let rest = &before[i + 9..];
            rest.starts_with(number)
                && !rest[number.len()..].starts_with(|c: char| c.is_ascii_digit())
        });
    }
    before
        .rfind("# ")
        .is_some_and(|i| before[i + 2..].starts_with(clause.section))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cited_sentence_stands_in_its_spec_section() {
        let missing: Vec<String> = ALL
            .iter()
            .filter(|c| !is_in_spec(c))
            .map(|c| c.cite())
            .collect();
        assert!(missing.is_empty(), "not in spec/:\n{}", missing.join("\n"));
    }

    #[test]
    fn citations_name_file_section_and_sentence() {
        assert_eq!(
            error_codes::STATUS.cite(),
            "spec/error-codes.md, \"Rules\": A response carrying a code SHALL use that code's HTTP status"
        );
        assert!(!is_in_spec(&clause("spec/none.md", "x", "y")));
        let cited = format!("request_id `x`: {}", error_format::ID_KEPT.cite());
        assert_eq!(cited_in(&cited), Some(&error_format::ID_KEPT));
        assert_eq!(cited_in("HTTP 200"), None);
        assert!(!is_in_spec(&clause(
            "spec/error-codes.md",
            "Rules",
            "no such sentence"
        )));
        assert!(!is_in_spec(&clause(
            "spec/error-codes.md",
            "Wrong section",
            "A response carrying a code SHALL use that code's HTTP status"
        )));
    }
}

/// `spec/sync.md`.
pub mod sync {
    use super::{Clause, clause};

    const FILE: &str = "spec/sync.md";
    const G: &str = "Guarantees";

    /// Property 22.
    pub const EXACTLY_ONCE: Clause = clause(
        FILE,
        G,
        "A connection subscribed to a channel receives each message of that channel published after its `SUBSCRIBED` exactly once, until it unsubscribes or closes, whichever instance it and the publisher are connected to.",
    );
    /// Order.
    pub const ORDER: Clause = clause(
        FILE,
        G,
        "Messages of a channel are delivered in offset order to every subscriber (requirement 9.2).",
    );
    /// Where a subscription starts.
    pub const SUBSCRIBED_AT: Clause = clause(
        FILE,
        "Channels, epochs and offsets",
        "`SUBSCRIBED` gives the channel's epoch and its last offset when the subscription took effect (0 when nothing was published in the epoch yet): the subscriber receives every message after it.",
    );
    /// Property 23.
    pub const REPLAY: Clause = clause(
        FILE,
        G,
        "For each channel the server either replays every message after that offset, in order, each once, then sends `RESUMED` (the offset it replayed up to) and continues live with no gap and no repeat;",
    );
    /// Beyond the window.
    pub const NO_GAP: Clause = clause(
        FILE,
        G,
        "A server SHALL NOT resume a channel with a gap (requirement 9.3).",
    );
    /// A history that cannot be resumed.
    pub const RELOAD: Clause = clause(
        FILE,
        G,
        "or, when the epoch differs or a message after the offset is no longer kept, sends `ERROR` 3004 `SYNC_BUFFER_OVERFLOW` for that channel and subscribes it afresh (`SUBSCRIBED` with the current offset), so the client knows to reload that channel's state.",
    );
    /// A session that is not the user's.
    pub const FOREIGN_SESSION: Clause = clause(
        FILE,
        G,
        "A session id the server did not issue to the same user, or whose connection closed longer than `retention_seconds` ago, gets for every channel listed, in order, `ERROR` 3004 for that channel and a fresh subscription (`SUBSCRIBED` with the current offset), as for an epoch that differs.",
    );
    /// What an `ERROR`'s message may hold.
    pub const ERROR_MESSAGE: Clause = clause(
        FILE,
        "Refusals",
        "Like an error envelope's (`spec/error-format.md`), an `ERROR`'s `message` SHALL NOT carry a stack trace, the text of an internal cause, a file system path or source location, SQL text, a connection string or credential, or an environment variable's value.",
    );
    /// What is kept.
    pub const KEPT: Clause = clause(
        FILE,
        G,
        "A server keeps, per channel, at least the last `buffer_size` messages not older than `retention_seconds` (its **retention window**).",
    );
    /// Property 24.
    pub const PRESENCE: Clause = clause(
        FILE,
        G,
        "`PRESENCE_LIST` lists, sorted by byte order and each once, the user ids that have at least one connection subscribed to the channel, on any instance (requirement 9.4).",
    );
    /// Leaving.
    pub const LEAVE: Clause = clause(
        FILE,
        G,
        "A user leaves a channel when their last such connection unsubscribes, closes, or is found dead:",
    );
    /// A slow subscriber.
    pub const SEND_QUEUE: Clause = clause(
        FILE,
        "Refusals",
        "A slow subscriber never slows others or grows the server's memory without bound: its send queue holds at most `send_queue` frames; past that it is closed (and may resume within the retention window).",
    );
    /// Presence events.
    pub const PRESENCE_EVENTS: Clause = clause(
        FILE,
        G,
        "When a user joins a channel (a first connection of theirs subscribes there) or leaves it, every connection subscribed to the channel, other than that user's own, receives one `PRESENCE_EVENT` saying so, in the order of the changes; a subscription or departure that leaves the list as it was sends none.",
    );
    /// Dead connections.
    pub const DEAD: Clause = clause(
        FILE,
        G,
        "a server pings every `ping_interval_seconds` and considers a connection that answered no ping for `ping_timeout_seconds` dead (both published).",
    );
    /// Property 25.
    pub const ACK: Clause = clause(
        FILE,
        G,
        "A `PUBLISH` with bit 0 set gets exactly one answer: `ACK` when the message reached at least one subscriber, `NACK` otherwise, with code 3002 `SYNC_CHANNEL_NOT_FOUND` when the channel had no subscriber when it was published, 3003 `SYNC_DELIVERY_FAILED` when it had subscribers and none received it (each subscriber's connection was overflowing or closing).",
    );
    /// Publishing without an ack.
    pub const NO_ACK: Clause = clause(
        FILE,
        G,
        "A `PUBLISH` without bit 0 gets no answer unless it is refused (`ERROR`).",
    );
    /// The upgrade.
    pub const UPGRADE: Clause = clause(
        FILE,
        "Connecting",
        "On upgrade the server sends `WELCOME` first.",
    );
    /// Frames.
    pub const FRAMES: Clause = clause(
        FILE,
        "Frames",
        "Every frame is one binary WebSocket message: an opcode byte, then the fields in the order given.",
    );

    const CONNECTING: &str = "Connecting";
    const REFUSALS: &str = "Refusals";

    /// Where the upgrade's token may be.
    pub const TOKEN_PLACES: Clause = clause(
        FILE,
        CONNECTING,
        "The upgrade (RFC 6455) SHALL carry a valid access token (`spec/tokens.md`), either as `Authorization: Bearer <token>` or, for browsers, which cannot set that header, as the subprotocol list `Sec-WebSocket-Protocol: dx-sync.1, dx-token.<token>` (a PASETO token consists of subprotocol characters).",
    );
    /// The subprotocol.
    pub const SELECTS_SUBPROTOCOL: Clause = clause(
        FILE,
        CONNECTING,
        "A server SHALL select `dx-sync.1` when the client offered it.",
    );
    /// Requirement 9.1.
    pub const TOKEN_REQUIRED: Clause = clause(
        FILE,
        CONNECTING,
        "An upgrade without a valid token SHALL be refused before switching protocols, with the error envelope and status of `spec/http-contract.md` (401 with `WWW-Authenticate: Bearer` for 1002-1004, the token codes of `spec/auth.md`), and SHALL NOT be upgraded (requirement 9.1).",
    );
    /// A plain GET.
    pub const NOT_AN_UPGRADE: Clause = clause(
        FILE,
        CONNECTING,
        "A `GET` to the endpoint that is not an upgrade is answered 400 `BAD_REQUEST`.",
    );
    /// Whose connection it is.
    pub const SESSION_USER: Clause = clause(
        FILE,
        CONNECTING,
        "The connection's user is the token's subject; its session is the id `WELCOME` names (below).",
    );
    /// No trailing bytes.
    pub const FRAME_ENDS: Clause = clause(
        FILE,
        "Frames",
        "A frame SHALL end exactly after its last field.",
    );
    /// Channel names.
    pub const CHANNEL_RULE: Clause = clause(
        FILE,
        "Frames",
        "A **channel** name is 1 to 128 bytes of `A-Z a-z 0-9 _ . : -`.",
    );
    /// Subscribing twice.
    pub const RESUBSCRIBE: Clause = clause(
        FILE,
        "Channels, epochs and offsets",
        "Subscribing to a channel the connection is subscribed to already answers `SUBSCRIBED` again with the same start and changes nothing.",
    );
    /// Unsubscribing.
    pub const UNSUBSCRIBED: Clause = clause(
        FILE,
        "Channels, epochs and offsets",
        "`UNSUBSCRIBED` answers `UNSUBSCRIBE` whether or not the connection was subscribed; after it the connection receives no further message of the channel.",
    );
    /// What a refused frame gets.
    pub const REFUSAL: Clause = clause(
        FILE,
        REFUSALS,
        "A frame the server cannot accept gets `ERROR` with the frame's `request` (0 when the frame is too short to carry one) and, where it names one, the channel: the last valid channel name read before the fault (for a `RESUME` that lists a channel twice, that channel; empty when the fault comes before any valid name, as for a name that breaks the rule).",
    );
    /// What a refusal leaves open.
    pub const STAYS_OPEN: Clause = clause(
        FILE,
        REFUSALS,
        "The connection stays open unless this table says it closes; other connections are unaffected.",
    );
    /// The table's row for text frames.
    pub const TEXT_FRAME: Clause = clause(
        FILE,
        REFUSALS,
        "| a text frame | 4000 `BAD_REQUEST` | close 1003 |",
    );
    /// The table's row for frames over the size limit.
    pub const FRAME_TOO_LONG: Clause = clause(
        FILE,
        REFUSALS,
        "| a frame longer than `max_payload` + 1024 bytes | 4013 `PAYLOAD_TOO_LARGE` | close 1009 |",
    );
    /// The table's row for malformed frames.
    pub const MALFORMED: Clause = clause(
        FILE,
        REFUSALS,
        "| an unknown opcode, a truncated frame, trailing bytes, a flag bit other than bit 0 | 4000 `BAD_REQUEST` | |",
    );
    /// The table's row for channel names.
    pub const BAD_CHANNEL: Clause = clause(
        FILE,
        REFUSALS,
        "| a channel name that breaks the rule above (invalid UTF-8 included), or a channel listed twice in one `RESUME` | 4001 `VALIDATION_FAILED` | |",
    );
    /// The table's row for payloads.
    pub const PAYLOAD_TOO_LARGE: Clause = clause(
        FILE,
        REFUSALS,
        "| a payload over `max_payload` | 4013 `PAYLOAD_TOO_LARGE` | |",
    );
    /// The table's row for subscriptions.
    pub const TOO_MANY_CHANNELS: Clause = clause(
        FILE,
        REFUSALS,
        "| a subscription beyond `max_channels` on one connection | 5003 `RESOURCE_EXHAUSTED` | |",
    );
    /// The table's row for channels nobody is on.
    pub const NOBODY_SUBSCRIBED: Clause = clause(
        FILE,
        REFUSALS,
        "| `PRESENCE` or `UNSUBSCRIBE` of a channel nobody is subscribed to | answered normally (an empty list; `UNSUBSCRIBED`) | |",
    );
    /// The table's row for publish floods.
    pub const PUBLISH_LIMIT: Clause = clause(
        FILE,
        REFUSALS,
        "| more than `publish_limit.max_messages` publishes in `publish_limit.window_seconds` on one connection | 1005 `RATE_LIMITED` per refused publish | |",
    );
    /// The table's row for tokens that stop holding.
    pub const TOKEN_LAPSED: Clause = clause(
        FILE,
        REFUSALS,
        "| the access token expires or is revoked while the connection is open | 1002 `TOKEN_EXPIRED` or 1004 `TOKEN_REVOKED` (request 0) | close 4001 |",
    );
    /// How often tokens are checked again.
    pub const TOKEN_CHECK: Clause = clause(
        FILE,
        REFUSALS,
        "A server checks the token's expiry and revocation at least every `token_check_seconds` (published) on every open connection.",
    );
}
