//! Sluice's actor bus over `postMessage`.
//!
//! `postMessage` is one-way; the bus makes it a conversation. Each side wraps its endpoint
//! (a `MessagePort`, a service worker, a worker, or `memory` in tests, feature `testing`) in a [`Bus`], which
//!
//! - says hello with its wire version and queues messages until the peer answered;
//! - routes every incoming message to the actor at its address ([`sluice_core::Address`]:
//!   the control actor or one download), and answers "no such actor" for unknown ones;
//! - correlates requests with replies by slot + generation ([`sluice_core::RequestId`]), with
//!   timeouts, so a late reply never resolves a newer request;
//! - rejects malformed input with a logged, counted error, never a panic.
//!
//! Single-threaded by design (JavaScript values are `!Send`): spawn with `spawn_local`.
//!
//! Two buses over the in-memory endpoint (in a browser: `web::WebEndpoint` over a port):
//!
//! ```
//! use std::{cell::RefCell, rc::Rc};
//! use futures::{executor::LocalPool, task::LocalSpawnExt};
//! use sluice_core::{Address, DownloadId, Message};
//! use sluice_worker_bus::{memory::pair, Bus, BusConfig};
//!
//! let (here, there) = pair();
//! let (page, worker) = (Bus::new(here, BusConfig::default()), Bus::new(there, BusConfig::default()));
//! let mut pool = LocalPool::new();
//! // An actor on the worker's side, at one download's address, answers every request.
//! let id = DownloadId::from_u128(7);
//! let (actor, mailbox) = worker.actor(Address::Download(id))?;
//! pool.spawner().spawn_local(async move {
//!     while let Some(incoming) = mailbox.recv().await {
//!         if let Some(responder) = incoming.responder {
//!             let _ = responder.reply(Message::Pong { nonce: 42 }, None);
//!         }
//!     }
//! })?;
//! // The page asks; the answer is matched to its request by id.
//! let answer = Rc::new(RefCell::new(None));
//! let (bus, slot) = (page.clone(), answer.clone());
//! pool.spawner().spawn_local(async move {
//!     *slot.borrow_mut() = Some(bus.request(Message::Chunk { id, seq: 0, len: 0 }, None).await);
//! })?;
//! // Nothing arrives by itself in memory: run, deliver both ways, until nothing moves.
//! loop {
//!     pool.run_until_stalled();
//!     if page.endpoint().deliver_all() + worker.endpoint().deliver_all() == 0 {
//!         break;
//!     }
//! }
//! let reply = answer.borrow_mut().take().expect("answered")?;
//! assert_eq!(reply.msg, Message::Pong { nonce: 42 });
//! drop(actor);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bus;
pub mod channel;
mod endpoint;
#[cfg(feature = "testing")]
pub mod memory;
mod requests;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use bus::{ActorHandle, Bus, BusConfig, BusError, Incoming, Mailbox, Reply, Responder, Stats};
pub use endpoint::{Endpoint, Inbound, Listener, PostError, Rejected};
pub use sluice_core::{Address, Envelope, Frame, Message, RequestId};
