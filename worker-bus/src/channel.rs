//! The actors' mailboxes: a single-threaded channel (`Rc`, no atomics, no locks).
//!
//! Every actor of Sluice runs on one thread (a page, a worker or a service worker), so the
//! channel needs none of what makes a multi-threaded one large: this is async-channel's API
//! as Sluice uses it, in about a sixth of its WebAssembly (measured with twiggy: async-channel,
//! event-listener and concurrent-queue weighed ~16 KB before gzip). The channel closes when
//! every sender or every receiver is gone, or on `close()`; what was queued is still received.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

struct State<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    closed: bool,
    senders: usize,
    receivers: usize,
    /// The receivers waiting for a value or the close.
    waiting: Vec<Waker>,
}

type Shared<T> = Rc<RefCell<State<T>>>;

fn channel<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let state = Rc::new(RefCell::new(State {
        queue: VecDeque::new(),
        capacity,
        closed: false,
        senders: 1,
        receivers: 1,
        waiting: Vec::new(),
    }));
    (Sender(state.clone()), Receiver(state))
}

/// A channel that holds any number of values.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

/// A channel that holds at most `capacity` values (at least one).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    channel(Some(capacity.max(1)))
}

/// Why [`Sender::try_send`] failed; the value is handed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel holds `capacity` values.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

/// The channel is closed and empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Receiver::try_recv`] got nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// The channel is closed and empty.
    Closed,
}

/// Closes the channel and wakes every waiting receiver; `false` if it was closed already.
fn close<T>(state: &Shared<T>) -> bool {
    let mut state = state.borrow_mut();
    if state.closed {
        return false;
    }
    state.closed = true;
    let waiting = std::mem::take(&mut state.waiting);
    drop(state);
    waiting.into_iter().for_each(Waker::wake);
    true
}

/// The sending side; clones send into the same channel.
pub struct Sender<T>(Shared<T>);

impl<T> Sender<T> {
    /// Queues `value` at once, or hands it back when the channel is full or closed.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.0.borrow_mut();
        if state.closed {
            return Err(TrySendError::Closed(value));
        }
        if state.capacity.is_some_and(|c| state.queue.len() >= c) {
            return Err(TrySendError::Full(value));
        }
        state.queue.push_back(value);
        let waiting = std::mem::take(&mut state.waiting);
        drop(state);
        waiting.into_iter().for_each(Waker::wake);
        Ok(())
    }

    /// Closes the channel; `false` if it was closed already.
    pub fn close(&self) -> bool {
        close(&self.0)
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.0.borrow().closed
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.0.borrow_mut().senders += 1;
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.borrow_mut();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            close(&self.0);
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender")
    }
}

/// The receiving side.
pub struct Receiver<T>(Shared<T>);

impl<T> Receiver<T> {
    /// The next value, waiting for one; an error once the channel is closed and empty.
    pub async fn recv(&self) -> Result<T, RecvError> {
        poll_fn(|cx| {
            let mut state = self.0.borrow_mut();
            if let Some(value) = state.queue.pop_front() {
                return Poll::Ready(Ok(value));
            }
            if state.closed {
                return Poll::Ready(Err(RecvError));
            }
            if !state.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiting.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The next value. Once the channel is closed and empty: `None` if `tell`, else it waits
    /// forever (so that a `select!` over a closed channel never spins).
    pub async fn recv_until_closed(&self, tell: bool) -> Option<T> {
        match self.recv().await {
            Ok(value) => Some(value),
            Err(RecvError) if tell => None,
            Err(RecvError) => std::future::pending().await,
        }
    }

    /// The next value if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.0.borrow_mut();
        match state.queue.pop_front() {
            Some(value) => Ok(value),
            None if state.closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Closes the channel (what is queued can still be received); `false` if it was closed.
    pub fn close(&self) -> bool {
        close(&self.0)
    }

    /// Whether the channel is closed.
    pub fn is_closed(&self) -> bool {
        self.0.borrow().closed
    }

    /// How many values are queued.
    pub fn len(&self) -> usize {
        self.0.borrow().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.0.borrow_mut().receivers += 1;
        Receiver(self.0.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.borrow_mut();
            state.receivers -= 1;
            state.receivers == 0
        };
        if last {
            close(&self.0);
        }
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Receiver({} queued)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::FutureExt;

    #[test]
    fn values_arrive_in_order_and_survive_the_close() {
        let (tx, rx) = unbounded();
        for n in 0..3 {
            tx.try_send(n).unwrap();
        }
        assert_eq!(rx.len(), 3);
        drop(tx); // the last sender: closed, yet what was queued is still received
        assert!(rx.is_closed());
        assert_eq!(block_on(rx.recv()), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(block_on(rx.recv()), Ok(2));
        assert_eq!(block_on(rx.recv()), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    #[test]
    fn a_bounded_channel_hands_back_what_does_not_fit() {
        let (tx, rx) = bounded(1);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.close());
        assert!(!tx.close());
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    }

    #[test]
    fn a_waiting_receiver_wakes_on_a_value_and_on_the_close() {
        let (tx, rx) = unbounded::<u8>();
        let mut waiting = Box::pin(rx.recv());
        assert!(waiting.as_mut().now_or_never().is_none());
        let tx2 = tx.clone();
        tx2.try_send(7).unwrap();
        assert_eq!(block_on(waiting), Ok(7));
        let mut waiting = Box::pin(rx.recv());
        assert!(waiting.as_mut().now_or_never().is_none());
        drop(tx);
        assert!(!rx.is_closed(), "a clone still sends");
        drop(tx2);
        assert_eq!(block_on(waiting), Err(RecvError));
    }

    #[test]
    fn a_closed_channel_is_told_once_or_never() {
        let (tx, rx) = unbounded::<u8>();
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(block_on(rx.recv_until_closed(false)), Some(1), "what was queued first");
        assert_eq!(rx.recv_until_closed(true).now_or_never(), Some(None));
        assert_eq!(rx.recv_until_closed(false).now_or_never(), None, "never ready: a select! over it does not spin");
    }

    #[test]
    fn the_last_receiver_gone_closes_the_channel() {
        let (tx, rx) = unbounded::<u8>();
        let rx2 = rx.clone();
        drop(rx);
        assert!(!tx.is_closed());
        drop(rx2);
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
    }
}
