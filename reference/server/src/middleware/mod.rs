//! The request pipeline, outermost first: request id and access log, error envelope rendering
//! (with the last-resort panic net), request timeout, body buffering within the size limit,
//! then per-route error
//! boundaries around the handlers.

pub mod body_limit;
pub mod boundary;
pub mod envelope;
pub mod request_id;
