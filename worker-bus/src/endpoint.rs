//! What the bus needs from a `postMessage` endpoint.

use sluice_core::{DecodeError, Frame};

/// A received value that is not a frame the bus accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// It did not decode ([`DecodeError`] says why).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// It came from an origin other than ours.
    #[error("message from a foreign origin \"{0}\"")]
    ForeignOrigin(String),
    /// The peer cannot serve and says why (`{ sluiceServiceWorkerError }`, e.g. from a service
    /// worker whose wasm did not load).
    #[error("{0}")]
    PeerBroken(String),
}

/// What an endpoint hands the bus for each received message: a frame and what travelled
/// beside it, or why it was rejected.
pub type Inbound<A> = Result<(Frame, Option<A>), Rejected>;

/// Posting failed (e.g. a `DataCloneError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("postMessage failed: {0}")]
pub struct PostError(pub String);

/// Keeps a listener installed; dropping it removes the listener.
pub struct Listener(#[allow(dead_code)] Box<dyn std::any::Any>);

impl Listener {
    /// Wraps whatever owns the installed callback (its `Drop` must remove it).
    pub fn new(owner: impl std::any::Any) -> Self {
        Self(Box::new(owner))
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

/// One side of a `postMessage` channel.
pub trait Endpoint: 'static {
    /// What travels beside a frame in its transfer list: an `ArrayBuffer` or a
    /// `ReadableStream` on the web, bytes in memory.
    type Attachment: 'static;

    /// Posts `frame`, transferring `attachment` (never copying it twice).
    fn post(&self, frame: &Frame, attachment: Option<Self::Attachment>) -> Result<(), PostError>;

    /// Delivers every received message to `deliver` until the returned [`Listener`] drops.
    fn listen(&self, deliver: Box<dyn Fn(Inbound<Self::Attachment>)>) -> Listener;
}
