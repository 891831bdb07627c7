//! Property tests: random operation sequences over a page (SendWindow + Coalescer) and a
//! service worker (ReceiveWindow) connected by two ordered message queues, as postMessage is.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use sluice_core::window::{Delivery, FlowConfig, ReceiveWindow, SendError, SendWindow};
use sluice_core::{Coalescer, DownloadId, Message};

#[derive(Debug, Clone)]
enum Op {
    /// The app writes this many bytes.
    Write(usize),
    /// Deliver the next page -> service worker message.
    ToWorker,
    /// Deliver the next service worker -> page message.
    ToPage,
    /// The consumer's stream pulls.
    Pull,
    /// The app closes the writer.
    Close,
    /// The app aborts.
    Abort,
    /// The consumer cancels.
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..3000).prop_map(Op::Write),
        4 => Just(Op::ToWorker),
        3 => Just(Op::ToPage),
        3 => Just(Op::Pull),
        1 => Just(Op::Close),
        1 => Just(Op::Abort),
        1 => Just(Op::Cancel),
    ]
}

fn config() -> impl Strategy<Value = FlowConfig> {
    (1u32..6, 1u32..400, 1u32..4).prop_map(|(chunks, min, max_factor)| {
        let max = min * max_factor;
        FlowConfig {
            window_chunks: chunks,
            window_bytes: u64::from(max) * u64::from(chunks.div_ceil(2)),
            min_chunk: min,
            max_chunk: max,
        }
    })
}

/// The page: app bytes waiting in the coalescer or for credit, and the window.
struct Page {
    window: SendWindow,
    coalescer: Coalescer,
    /// A chunk taken from the coalescer that waits for credit.
    pending: VecDeque<Vec<u8>>,
    written: Vec<u8>,
    closing: bool,
}

impl Page {
    /// Sends what credit allows; returns the frames (header + bytes) for the worker.
    fn pump(&mut self, out: &mut VecDeque<(Message, Vec<u8>)>) {
        loop {
            if self.pending.is_empty() {
                match self.coalescer.poll_chunk() {
                    Some(chunk) => self.pending.push_back(chunk),
                    None if self.closing => match self.coalescer.flush() {
                        Some(chunk) => self.pending.push_back(chunk),
                        None => break,
                    },
                    None => break,
                }
            }
            let Some(chunk) = self.pending.front() else {
                break;
            };
            match self.window.send(chunk.len()) {
                Ok(header) => {
                    let chunk = self.pending.pop_front().unwrap();
                    out.push_back((header, chunk));
                }
                Err(e) => {
                    assert!(e.is_blocked() || self.window.error().is_some(), "unexpected {e:?}");
                    break;
                }
            }
        }
        if self.closing && self.pending.is_empty() && self.coalescer.buffered() == 0 && self.window.error().is_none() {
            match self.window.close() {
                Ok(()) | Err(SendError::Closed) => {}
                Err(SendError::SizeMismatch { declared, sent }) => assert_ne!(declared, sent),
                Err(e) => panic!("close failed: {e:?}"),
            }
        }
        while let Some(msg) = self.window.poll_transmit() {
            out.push_back((msg, Vec::new()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn honest_peers_keep_every_rule(
        config in config(),
        declared in prop::option::of(0u64..20_000),
        ops in prop::collection::vec(op(), 1..400),
    ) {
        let id = DownloadId::from_u128(1);
        let mut page = Page {
            window: SendWindow::new(id, config, declared, Duration::ZERO).unwrap(),
            coalescer: Coalescer::new(config.min_chunk, config.max_chunk),
            pending: VecDeque::new(),
            written: Vec::new(),
            closing: false,
        };
        let mut worker: ReceiveWindow<Vec<u8>> =
            ReceiveWindow::new(id, config.window_chunks, config.window_bytes, declared).unwrap();
        let mut to_worker: VecDeque<(Message, Vec<u8>)> = VecDeque::new();
        let mut to_page: VecDeque<Message> = VecDeque::new();
        let mut delivered: Vec<u8> = Vec::new();
        let mut outcome: Option<Delivery<()>> = None;
        let mut cancelled = false;
        let mut aborted = false;
        let mut granted_chunks = 0u64;
        let mut sent_chunks = 0u64;
        let mut pulls = 0u64;
        let mut delivered_chunks = 0u64;

        for op in ops {
            match op {
                Op::Write(n) => {
                    if page.closing || page.window.error().is_some() { continue; }
                    // Stay within the declared size: the app is honest here.
                    let room = declared.map_or(n, |d| n.min((d - page.written.len() as u64) as usize));
                    let data: Vec<u8> = (0..room).map(|i| (page.written.len() + i) as u8).collect();
                    let mut rest = &data[..];
                    while !rest.is_empty() {
                        let taken = page.coalescer.push(rest);
                        rest = &rest[taken..];
                        if let Some(chunk) = page.coalescer.poll_chunk() { page.pending.push_back(chunk); }
                    }
                    page.written.extend_from_slice(&data);
                }
                Op::ToWorker => {
                    if let Some((msg, bytes)) = to_worker.pop_front() {
                        match msg {
                            Message::Chunk { seq, len, .. } => {
                                sent_chunks += 1;
                                // Every chunk the page sends was granted: the worker never objects.
                                worker.handle_chunk(seq, len, bytes).unwrap();
                            }
                            Message::Close { total, .. } => {
                                let r = worker.handle_close(total);
                                if let Some(d) = declared { prop_assert_eq!(r.is_ok(), d == total || cancelled); }
                                else { r.unwrap(); }
                            }
                            Message::Abort { reason, .. } => worker.handle_abort(&reason),
                            other => panic!("page sent {other:?}"),
                        }
                    }
                }
                Op::ToPage => {
                    if let Some(msg) = to_page.pop_front() {
                        match msg {
                            Message::Grant { chunks, bytes, .. } => page.window.handle_grant(chunks, bytes).unwrap(),
                            Message::Cancel { reason, .. } => page.window.handle_cancel(&reason),
                            Message::Error { message, .. } => page.window.handle_error(&message),
                            other => panic!("worker sent {other:?}"),
                        }
                    }
                }
                Op::Pull => { pulls += 1; worker.handle_pull() }
                Op::Close => page.closing = true,
                Op::Abort => { if page.window.error().is_none() && !page.closing { aborted = true; } page.window.abort("app gave up") }
                Op::Cancel => { cancelled = cancelled || outcome.is_none(); worker.handle_cancel("user cancelled") }
            }
            page.pump(&mut to_worker);
            while let Some(msg) = worker.poll_transmit() {
                if let Message::Grant { chunks, .. } = msg { granted_chunks += u64::from(chunks); }
                to_page.push_back(msg);
            }
            while let Some(d) = worker.poll_deliver() {
                prop_assert!(outcome.is_none(), "delivery after the end: {:?}", d);
                match d {
                    Delivery::Chunk(bytes) => { delivered_chunks += 1; delivered.extend_from_slice(&bytes) }
                    Delivery::End => outcome = Some(Delivery::End),
                    Delivery::Failed(f) => outcome = Some(Delivery::Failed(f)),
                }
            }

            // The window bounds the worker's queue and the page's credit.
            let (queued_chunks, queued_bytes) = worker.queued();
            let (out_chunks, out_bytes) = worker.outstanding();
            prop_assert!(queued_chunks as u64 + u64::from(out_chunks) <= u64::from(config.window_chunks));
            prop_assert!(queued_bytes + out_bytes <= config.window_bytes);
            let (credit_chunks, credit_bytes) = page.window.credit();
            prop_assert!(credit_chunks <= config.window_chunks && credit_bytes <= config.window_bytes);
            // Chunks in flight (sent, not yet handed to the consumer) stay within the window.
            let in_flight = page.window.bytes_sent() - delivered.len() as u64;
            if outcome.is_none() && !cancelled && !aborted {
                prop_assert!(in_flight <= config.window_bytes);
            }
            prop_assert!(sent_chunks <= granted_chunks);
            // Each chunk answers one pull of the consumer.
            prop_assert!(delivered_chunks <= pulls);
            // Bytes reach the consumer in order, none invented.
            prop_assert_eq!(&delivered[..], &page.written[..delivered.len()]);
        }
        let (peak_chunks, peak_bytes) = worker.peak_queued();
        prop_assert!(peak_chunks as u64 <= u64::from(config.window_chunks) && peak_bytes <= config.window_bytes);
        // A clean end means every byte arrived and the count matched the declared size.
        if let Some(Delivery::End) = outcome {
            prop_assert!(!aborted);
            prop_assert_eq!(&delivered, &page.written);
            if let Some(d) = declared { prop_assert_eq!(delivered.len() as u64, d); }
        }
    }

    #[test]
    fn short_or_long_close_never_ends_cleanly(declared in 1u64..5000, sent in 0u64..6000) {
        prop_assume!(sent != declared);
        let id = DownloadId::from_u128(2);
        let config = FlowConfig { window_chunks: 4, window_bytes: 8000, min_chunk: 1, max_chunk: 8000 };
        let mut worker: ReceiveWindow<Vec<u8>> = ReceiveWindow::new(id, 4, 8000, Some(declared)).unwrap();
        let mut page = SendWindow::new(id, config, Some(declared), Duration::ZERO).unwrap();
        worker.handle_pull();
        let Some(Message::Grant { chunks, bytes, .. }) = worker.poll_transmit() else { panic!("no grant") };
        page.handle_grant(chunks, bytes).unwrap();
        match page.send(sent as usize) {
            Ok(Message::Chunk { seq, len, .. }) => worker.handle_chunk(seq, len, vec![0; sent as usize]).unwrap(),
            Ok(other) => panic!("{other:?}"),
            Err(e) => prop_assert_eq!(e, SendError::SizeExceeded { declared, attempted: sent }),
        }
        // The page refuses to close short; a lying close is refused by the worker too.
        if sent < declared {
            prop_assert_eq!(page.close(), Err(SendError::SizeMismatch { declared, sent }));
            let abort = matches!(page.poll_transmit(), Some(Message::Abort { .. }));
            prop_assert!(abort);
        }
        let received = worker.bytes_received();
        prop_assert!(worker.handle_close(received).is_err());
        let mut saw_end = false;
        let mut saw_failure = false;
        while let Some(d) = worker.poll_deliver() {
            match d { Delivery::End => saw_end = true, Delivery::Failed(_) => saw_failure = true, Delivery::Chunk(_) => {} }
            worker.handle_pull();
        }
        prop_assert!(!saw_end && saw_failure);
    }

    #[test]
    fn hostile_input_never_panics_and_terminal_states_absorb(
        inputs in prop::collection::vec((0u8..7, 0u64..12, 0u32..3000, 0usize..3000), 0..200)
    ) {
        let id = DownloadId::from_u128(3);
        let mut worker: ReceiveWindow<Vec<u8>> = ReceiveWindow::new(id, 3, 4000, Some(5000)).unwrap();
        let config = FlowConfig { window_chunks: 3, window_bytes: 4000, min_chunk: 1, max_chunk: 2000 };
        let mut page = SendWindow::new(id, config, Some(5000), Duration::ZERO).unwrap();
        let mut ended = false;
        for (kind, a, b, c) in inputs {
            match kind {
                0 => { let _ = worker.handle_chunk(a, b, vec![0; c]); }
                1 => { let _ = worker.handle_close(a * 500); }
                2 => worker.handle_pull(),
                3 => worker.handle_abort("x"),
                4 => worker.handle_cancel("y"),
                5 => { let _ = page.handle_grant(b, a * 1000); }
                _ => { let _ = page.send(c); }
            }
            while worker.poll_transmit().is_some() {}
            while let Some(d) = worker.poll_deliver() {
                prop_assert!(!ended, "delivery after a terminal state");
                if !matches!(d, Delivery::Chunk(_)) { ended = true; }
            }
            let (qc, qb) = worker.queued();
            let (oc, ob) = worker.outstanding();
            prop_assert!(qc as u64 + u64::from(oc) <= 3 && qb + ob <= 4000);
            let (cc, cb) = page.credit();
            prop_assert!(cc <= 3 && cb <= 4000);
            // Once the page's side has ended, it stays ended with the same error.
            if let Some(e) = page.error().cloned() {
                prop_assert_eq!(page.send(1), Err(e.clone()));
                prop_assert_eq!(page.close(), Err(e.clone()));
                let _ = page.handle_grant(1, 1);
                page.handle_cancel("later");
                prop_assert_eq!(page.error(), Some(&e));
            }
        }
    }

    #[test]
    fn coalescing_keeps_every_byte_in_order(
        min in 1u32..200,
        extra in 0u32..300,
        writes in prop::collection::vec(0usize..1000, 0..100),
    ) {
        let max = min + extra;
        let mut c = Coalescer::new(min, max);
        let mut input = Vec::new();
        let mut chunks = Vec::new();
        for n in writes {
            let data: Vec<u8> = (0..n).map(|i| (input.len() + i) as u8 ^ (n as u8)).collect();
            input.extend_from_slice(&data);
            let mut rest = &data[..];
            while !rest.is_empty() {
                let taken = c.push(rest);
                rest = &rest[taken..];
                chunks.extend(c.poll_chunk());
                prop_assert!(c.buffered() <= max as usize);
            }
        }
        let last = c.flush();
        for chunk in &chunks {
            prop_assert!(chunk.len() >= min as usize && chunk.len() <= max as usize, "{}", chunk.len());
        }
        if let Some(last) = &last { prop_assert!(!last.is_empty() && last.len() <= max as usize); }
        chunks.extend(last);
        prop_assert_eq!(chunks.concat(), input);
    }
}

#[test]
fn sender_errors_name_what_unblocks_them() {
    let id = DownloadId::from_u128(4);
    let mut page = SendWindow::new(id, FlowConfig::default(), None, Duration::ZERO).unwrap();
    let e = page.send(10).unwrap_err();
    assert!(e.is_blocked());
    assert!(e.to_string().contains("grants credit"), "{e}");
    page.handle_grant(1, 5).unwrap();
    assert_eq!(page.send(10), Err(SendError::NoByteCredit { needed: 10, available: 5 }));
    assert_eq!(
        page.handle_grant(100, 0).unwrap_err().to_string(),
        "the service worker failed the download: credit granted beyond the window (101 chunks, 5 bytes)"
    );
}

#[test]
fn an_unmetered_window_needs_no_credit_but_keeps_the_size_rules() {
    let id = DownloadId::from_u128(6);
    let mut page = SendWindow::unmetered(id, FlowConfig::default(), Some(10), Duration::ZERO).unwrap();
    assert_eq!(page.send(6), Ok(Message::Chunk { id, seq: 0, len: 6 }));
    assert_eq!(page.send(6), Err(SendError::SizeExceeded { declared: 10, attempted: 12 }));
    assert_eq!(page.close(), Err(SendError::SizeMismatch { declared: 10, sent: 6 }));
    assert!(matches!(page.poll_transmit(), Some(Message::Abort { .. })));
}

/// A receive window of 2 chunks and 100 bytes that granted them.
fn granted_window(id: DownloadId) -> ReceiveWindow<Vec<u8>> {
    let mut w: ReceiveWindow<Vec<u8>> = ReceiveWindow::new(id, 2, 100, None).unwrap();
    w.handle_pull();
    assert_eq!(w.poll_transmit(), Some(Message::Grant { id, chunks: 2, bytes: 100 }));
    w
}

#[test]
fn receiver_rejects_broken_rules() {
    use sluice_core::ProtocolError::*;
    let id = DownloadId::from_u128(5);
    let fresh = || granted_window(id);
    let mut unsolicited: ReceiveWindow<Vec<u8>> = ReceiveWindow::new(id, 2, 100, None).unwrap();
    assert_eq!(unsolicited.handle_chunk(0, 1, vec![1]), Err(Unsolicited { seq: 0 }));
    assert!(matches!(unsolicited.poll_deliver(), Some(Delivery::Failed(_))));
    assert_eq!(fresh().handle_chunk(1, 1, vec![1]), Err(OutOfOrder { seq: 1, expected: 0 }));
    assert_eq!(fresh().handle_chunk(0, 2, vec![1]), Err(LengthMismatch { seq: 0, header: 2, actual: 1 }));
    assert_eq!(fresh().handle_chunk(0, 101, vec![0; 101]), Err(ByteCreditExceeded { seq: 0, len: 101, credit: 100 }));
    let mut dup = fresh();
    dup.handle_chunk(0, 1, vec![1]).unwrap();
    assert_eq!(dup.handle_chunk(0, 1, vec![1]), Err(Duplicate { seq: 0, expected: 1 }));
    let mut twice = fresh();
    twice.handle_chunk(0, 1, vec![1]).unwrap();
    twice.handle_chunk(1, 1, vec![1]).unwrap();
    assert_eq!(twice.handle_chunk(2, 1, vec![1]), Err(Unsolicited { seq: 2 }));
    let mut closed = fresh();
    closed.handle_close(0).unwrap();
    assert_eq!(closed.handle_chunk(0, 1, vec![1]), Err(ChunkAfterClose { seq: 0 }));
    let mut lying = fresh();
    lying.handle_chunk(0, 3, vec![1, 2, 3]).unwrap();
    assert_eq!(lying.handle_close(4), Err(SizeMismatch { expected: 4, received: 3 }));
    // The error also goes back to the page.
    assert!(matches!(lying.poll_transmit(), Some(Message::Error { .. })));
}

#[test]
fn a_page_gone_fails_an_open_download_but_not_one_it_closed() {
    let id = DownloadId::from_u128(6);
    let granted = || {
        let mut w = granted_window(id);
        w.handle_chunk(0, 3, vec![1, 2, 3]).unwrap();
        w.handle_chunk(1, 2, vec![4, 5]).unwrap();
        w
    };
    // Closed with every byte here: the rest is still handed to the stream, then the end.
    let mut closed = granted();
    closed.handle_close(5).unwrap();
    closed.handle_page_gone("the page went away");
    let mut delivered = Vec::new();
    for _ in 0..4 {
        closed.handle_pull();
        while let Some(d) = closed.poll_deliver() {
            delivered.push(d);
        }
    }
    assert_eq!(delivered, vec![Delivery::Chunk(vec![1, 2, 3]), Delivery::Chunk(vec![4, 5]), Delivery::End]);
    // Still sending: it fails, and nothing more reaches the stream.
    let mut open = granted();
    open.handle_page_gone("the page went away");
    open.handle_pull();
    assert!(matches!(open.poll_deliver(), Some(Delivery::Failed(_))));
    assert_eq!(open.poll_deliver(), None);
}
