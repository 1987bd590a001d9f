//! The step library. Each step is a thin function over the world; cucumber registers it by
//! its attribute. Every fallible step passes its result through [`DxWorld::settle`] so the
//! runner can report expected, actual and the replay line of a failure.
//!
//! [`DxWorld::settle`]: crate::DxWorld::settle

mod auth;
mod client;
mod discovery;
mod errors;
mod faults;
mod http;
mod query;
mod security;
mod ssr;
mod sync;
