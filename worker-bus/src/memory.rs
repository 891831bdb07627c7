//! An in-memory endpoint pair, for tests. Frames go through a JSON value (as through a
//! structured clone) and are decoded by core's types on arrival. Nothing arrives by itself:
//! the test delivers (in order, shuffled, one by one), so every interleaving can be tried.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::Value;
use sluice_core::{DecodeError, Frame, WIRE_VERSION};

use crate::endpoint::{Endpoint, Inbound, Listener, PostError, Rejected};

type Deliver = Box<dyn Fn(Inbound<Vec<u8>>)>;

#[derive(Default)]
struct Side {
    inbox: RefCell<VecDeque<(Value, Option<Vec<u8>>)>>,
    deliver: RefCell<Option<Rc<Deliver>>>,
    /// Overrides the `v` of posted frames (to play another build).
    version: RefCell<Option<u32>>,
    /// Every post fails (a port that broke).
    broken: std::cell::Cell<bool>,
}

/// One end of an in-memory channel; attachments are byte vectors.
#[derive(Clone)]
pub struct MemoryEndpoint {
    own: Rc<Side>,
    peer: Rc<Side>,
}

impl std::fmt::Debug for MemoryEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEndpoint").field("pending", &self.pending()).finish()
    }
}

/// Two connected endpoints.
pub fn pair() -> (MemoryEndpoint, MemoryEndpoint) {
    let (a, b) = (Rc::new(Side::default()), Rc::new(Side::default()));
    (MemoryEndpoint { own: a.clone(), peer: b.clone() }, MemoryEndpoint { own: b, peer: a })
}

impl MemoryEndpoint {
    /// Messages waiting to be delivered to this end.
    pub fn pending(&self) -> usize {
        self.own.inbox.borrow().len()
    }

    /// Puts a raw value in this end's inbox, as if the peer had posted it.
    pub fn inject(&self, value: Value, attachment: Option<Vec<u8>>) {
        self.own.inbox.borrow_mut().push_back((value, attachment));
    }

    /// This end plays another build: frames it posts carry `v = version`, and it refuses
    /// frames of any other version.
    pub fn set_wire_version(&self, version: u32) {
        *self.own.version.borrow_mut() = Some(version);
    }

    /// Makes every later post from this end fail (a port that broke).
    pub fn break_posts(&self) {
        self.own.broken.set(true);
    }

    /// Delivers the oldest waiting message; `false` if there was none.
    pub fn deliver_one(&self) -> bool {
        let Some((value, attachment)) = self.own.inbox.borrow_mut().pop_front() else {
            return false;
        };
        let deliver = self.own.deliver.borrow().clone();
        if let Some(deliver) = deliver {
            deliver(self.decode(&value).map(|frame| (frame, attachment)));
        }
        true
    }

    /// Delivers until the inbox is empty; returns how many were delivered.
    pub fn deliver_all(&self) -> usize {
        let mut n = 0;
        while self.deliver_one() {
            n += 1;
        }
        n
    }

    /// Decodes as core does; a side playing another build refuses every other version.
    fn decode(&self, value: &Value) -> Result<Frame, Rejected> {
        let played = *self.own.version.borrow();
        match (played, value.get("v").and_then(Value::as_u64)) {
            (Some(ours), Some(theirs)) if u64::from(ours) != theirs => {
                let theirs = u32::try_from(theirs).unwrap_or(u32::MAX);
                Err(DecodeError::VersionMismatch { ours, theirs }.into())
            }
            (Some(_), Some(_)) => {
                let mut value = value.clone();
                value["v"] = WIRE_VERSION.into();
                Ok(Frame::decode(&value)?)
            }
            _ => Ok(Frame::decode(value)?),
        }
    }

    /// Shuffles the waiting messages (a small deterministic generator seeded by `seed`).
    pub fn shuffle(&self, seed: u64) {
        let mut state = seed | 1;
        let mut inbox = self.own.inbox.borrow_mut();
        let slice = inbox.make_contiguous();
        for i in (1..slice.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            slice.swap(i, (state % (i as u64 + 1)) as usize);
        }
    }
}

struct ClearOnDrop(Rc<Side>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.deliver.borrow_mut().take();
    }
}

impl Endpoint for MemoryEndpoint {
    type Attachment = Vec<u8>;

    fn post(&self, frame: &Frame, attachment: Option<Vec<u8>>) -> Result<(), PostError> {
        if self.own.broken.get() {
            return Err(PostError("the port is broken".into()));
        }
        let mut value = Value::from(frame.encode());
        if let (Some(v), Value::Object(map)) = (*self.own.version.borrow(), &mut value) {
            map.insert("v".into(), v.into());
        }
        self.peer.inbox.borrow_mut().push_back((value, attachment));
        Ok(())
    }

    fn listen(&self, deliver: Box<dyn Fn(Inbound<Vec<u8>>)>) -> Listener {
        *self.own.deliver.borrow_mut() = Some(Rc::new(deliver));
        Listener::new(ClearOnDrop(self.own.clone()))
    }
}
