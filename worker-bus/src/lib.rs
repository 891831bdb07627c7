//! Sluice's actor bus over `postMessage`.
//!
//! `postMessage` is one-way; the bus makes it a conversation. Each side wraps its endpoint
//! (a `MessagePort`, a service worker, a worker, or [`memory`] in tests) in a [`Bus`], which
//!
//! - says hello with its wire version and queues messages until the peer answered;
//! - routes every incoming message to the actor at its address ([`sluice_core::Address`]:
//!   the control actor or one download), and answers "no such actor" for unknown ones;
//! - correlates requests with replies by slot + generation ([`sluice_core::RequestId`]), with
//!   timeouts, so a late reply never resolves a newer request;
//! - rejects malformed input with a logged, counted error, never a panic.
//!
//! Single-threaded by design (JavaScript values are `!Send`): spawn with `spawn_local`.

mod bus;
mod endpoint;
pub mod memory;
mod requests;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use bus::{ActorHandle, Bus, BusConfig, BusError, Incoming, Mailbox, Reply, Responder, Stats};
pub use endpoint::{Endpoint, Inbound, Listener, PostError, Rejected};
pub use sluice_core::{Address, Envelope, Frame, Message, RequestId};
