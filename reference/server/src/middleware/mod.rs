//! The request pipeline, outermost first: security headers (dx-security), request id and
//! access log, error envelope rendering (with the last-resort panic net), request timeout,
//! rate limits (dx-security), body buffering within the size limit, the CSRF check
//! (dx-security), then per-route error boundaries around the handlers.

pub mod body_limit;
pub mod boundary;
pub mod envelope;
pub mod request_id;
