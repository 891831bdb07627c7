//! The table of requests waiting for replies: slab slots plus generations.

use futures::channel::oneshot;
use slab::Slab;
use sluice_core::RequestId;

/// Pending requests. Slab keys are reused, so each entry also keeps the generation it was
/// given: a reply must name both to resolve it.
#[derive(Debug)]
pub(crate) struct Requests<T> {
    slots: Slab<(u32, oneshot::Sender<T>)>,
    next_generation: u32,
}

impl<T> Requests<T> {
    pub(crate) fn new() -> Self {
        Self { slots: Slab::new(), next_generation: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// A new request id and the receiver of its answer.
    pub(crate) fn insert(&mut self) -> (RequestId, oneshot::Receiver<T>) {
        let (tx, rx) = oneshot::channel();
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let slot = self.slots.insert((generation, tx));
        // The caller bounds the table far below u32::MAX entries.
        (RequestId { slot: slot as u32, generation }, rx)
    }

    /// Takes the waiting request `id` out, if it is still there (same slot, same generation).
    pub(crate) fn take(&mut self, id: RequestId) -> Option<oneshot::Sender<T>> {
        let slot = id.slot as usize;
        match self.slots.get(slot) {
            Some((generation, _)) if *generation == id.generation => Some(self.slots.remove(slot).1),
            _ => None,
        }
    }

    /// Takes every waiting request out.
    pub(crate) fn drain(&mut self) -> Vec<oneshot::Sender<T>> {
        self.slots.drain().map(|(_, tx)| tx).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_needs_the_new_generation() {
        let mut table: Requests<u8> = Requests::new();
        let (old, _rx) = table.insert();
        assert!(table.take(old).is_some());
        let (new, _rx2) = table.insert();
        assert_eq!(new.slot, old.slot);
        assert_ne!(new.generation, old.generation);
        assert!(table.take(old).is_none(), "a stale id must not resolve the new request");
        assert!(table.take(new).is_some());
        assert!(table.take(new).is_none());
        assert_eq!(table.len(), 0);
    }
}
