//! The page's side of one download, sans-IO: what the download's actor decides.
//!
//! A [`Writer`] owns the [`SendWindow`] and the [`Coalescer`] and works on one write or close
//! at a time. The actor feeds it the caller's writes and closes, the service worker's messages
//! and the settling of stream writes (`handle_*`), and carries out its [`Output`]s in order
//! ([`Writer::poll_output`]): send a chunk, tell the service worker, settle the caller's call,
//! end the download. Nothing here touches JavaScript, so every rule is tested natively.

use std::collections::VecDeque;
use std::time::Duration;

use crate::coalesce::{Coalescer, Step};
use crate::window::{ByteLength, ConfigError, FlowConfig, Progress, SendError, SendWindow};
use crate::wire::Message;
use crate::{DownloadId, TransferPath};

/// The bytes of one write, which the writer cuts without copying them whole.
pub trait Buffer {
    /// What goes out as one chunk.
    type Piece: ByteLength;
    /// Length in bytes.
    fn len(&self) -> usize;
    /// Whether it holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` bytes from `at`, copied (they go into the coalescer).
    fn copy(&self, at: usize, len: usize) -> Vec<u8>;
    /// `len` bytes from `at` as a chunk of their own. A piece of the whole may take the bytes
    /// with it (a transferred buffer): the writer then reads only `len` of this buffer.
    fn piece(&self, at: usize, len: usize) -> Self::Piece;
    /// A chunk made of coalesced bytes.
    fn coalesced(bytes: Vec<u8>) -> Self::Piece;
}

impl Buffer for Vec<u8> {
    type Piece = Vec<u8>;

    fn len(&self) -> usize {
        self.len()
    }

    fn copy(&self, at: usize, len: usize) -> Vec<u8> {
        self[at..at + len].to_vec()
    }

    fn piece(&self, at: usize, len: usize) -> Vec<u8> {
        self[at..at + len].to_vec()
    }

    fn coalesced(bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }
}

/// What the actor must do next, in this order.
#[derive(Debug, PartialEq)]
pub enum Output<P, E> {
    /// Fallback path: post `header` with `piece`'s bytes to the service worker.
    Send {
        /// The chunk's `Message::Chunk`.
        header: Message,
        /// Its bytes.
        piece: P,
    },
    /// Transfer path: write `piece` to the transferred stream, then call
    /// [`Writer::handle_written`] when the write settles.
    Write(P),
    /// Transfer path: close the transferred stream, then call [`Writer::handle_written`].
    CloseStream,
    /// Tell the service worker (a `Close` or an `Abort`).
    Tell(Message),
    /// A chunk went out: report [`Writer::progress`].
    Progressed,
    /// The caller's current write or close is over, with this result.
    Settled(Result<(), E>),
    /// The service worker served every byte: the download succeeded.
    Done(u64),
    /// The download failed (once; also the stream's writer must be aborted).
    Failed(E),
}

/// Why a write or close was not taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused<E> {
    /// Another write or close still runs: await it first.
    Busy,
    /// The download ended: its failure, or [`SendError::Closed`] once it succeeded.
    Ended(E),
}

enum Job<B> {
    Write {
        bytes: B,
        at: usize,
    },
    Close,
    /// Transfer path: the stream's close is settling.
    Closing,
}

/// One download's page-side decisions. `E` is the caller's error type.
pub struct Writer<B: Buffer, E> {
    window: SendWindow,
    coalescer: Coalescer,
    /// The transfer path: chunks go into a stream whose writes settle one at a time.
    stream: bool,
    job: Option<Job<B>>,
    /// A chunk cut from the job, waiting for credit.
    pending: Option<B::Piece>,
    /// A stream write or close has not settled yet.
    in_flight: bool,
    outputs: VecDeque<Output<B::Piece, E>>,
    /// `Some` once the download ended: `Ok(total)` or its failure.
    outcome: Option<Result<u64, E>>,
    /// The caller closed the download: it goes on to its end without a caller.
    closed: bool,
    /// The caller aborted once the `Close` went out: the worker's answer decides.
    aborting: Option<E>,
    /// The most bytes the download takes, and the bytes of the writes taken so far.
    limit: Option<u64>,
    taken: u64,
}

impl<B: Buffer, E: std::fmt::Debug> std::fmt::Debug for Writer<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("window", &self.window)
            .field("buffered", &self.coalescer.buffered())
            .field("busy", &self.job.is_some())
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<B: Buffer, E: Clone + std::fmt::Display + From<SendError>> Writer<B, E> {
    /// A download of `declared` bytes (if known) on `path`, opened at `now`.
    pub fn new(
        id: DownloadId,
        path: TransferPath,
        flow: FlowConfig,
        declared: Option<u64>,
        now: Duration,
    ) -> Result<Self, ConfigError> {
        let window = match path {
            TransferPath::Transfer => SendWindow::unmetered(id, flow, declared, now)?,
            TransferPath::Fallback => SendWindow::new(id, flow, declared, now)?,
        };
        Ok(Self {
            window,
            coalescer: Coalescer::new(flow.min_chunk, flow.max_chunk),
            stream: path == TransferPath::Transfer,
            job: None,
            pending: None,
            in_flight: false,
            outputs: VecDeque::new(),
            outcome: None,
            aborting: None,
            closed: false,
            limit: None,
            taken: 0,
        })
    }

    /// The download takes at most `limit` bytes: a write past it fails the download
    /// ([`SendError::OverLimit`]), and so does a declared size past it, at once.
    pub fn with_limit(mut self, limit: Option<u64>) -> Result<Self, SendError> {
        if let (Some(limit), Some(bytes)) = (limit, self.window.progress(Duration::ZERO).total) {
            if bytes > limit {
                return Err(SendError::OverLimit { bytes, limit });
            }
        }
        self.limit = limit;
        Ok(self)
    }

    // ---- getters ----

    /// How far the download got.
    pub fn progress(&self, now: Duration) -> Progress {
        self.window.progress(now)
    }

    /// The download ended (succeeded or failed); nothing more is taken.
    pub fn is_ended(&self) -> bool {
        self.outcome.is_some()
    }

    /// Its failure, once it failed.
    pub fn failure(&self) -> Option<&E> {
        self.outcome.as_ref().and_then(|o| o.as_ref().err())
    }

    /// What a write or close gets once the download ended.
    pub fn refusal(&self) -> E {
        self.failure().cloned().unwrap_or_else(|| SendError::Closed.into())
    }

    // ---- inputs ----

    /// The caller writes `bytes`; [`Output::Settled`] answers once they are all taken.
    pub fn handle_write(&mut self, bytes: B) -> Result<(), Refused<E>> {
        let taken = self.taken.saturating_add(bytes.len() as u64);
        self.take_job(Job::Write { bytes, at: 0 })?;
        self.taken = taken;
        if let Some(limit) = self.limit.filter(|&limit| taken > limit) {
            self.fail(SendError::OverLimit { bytes: taken, limit }.into());
        }
        Ok(())
    }

    /// The caller closes: what is buffered goes out, then the close (or, with a declared size
    /// not met, the download fails).
    pub fn handle_close(&mut self) -> Result<(), Refused<E>> {
        self.take_job(Job::Close)?;
        self.closed = true;
        Ok(())
    }

    /// Every handle to the download is gone: nobody can write or close it any more. Unless it
    /// was closed, it fails as aborted (the browser shows a failed download, never one that
    /// waits forever).
    pub fn handle_abandoned(&mut self) {
        if !self.closed {
            self.fail(SendError::Aborted("the download was dropped before it was closed".into()).into());
        }
    }

    /// The service worker granted credit.
    pub fn handle_grant(&mut self, chunks: u32, bytes: u64) {
        if let Err(e) = self.window.handle_grant(chunks, bytes) {
            self.fail(e.into());
        }
    }

    /// The last [`Output::Write`] or [`Output::CloseStream`] settled.
    pub fn handle_written(&mut self, result: Result<(), E>) {
        self.in_flight = false;
        match (result, &self.job) {
            (Err(e), _) => self.fail(e),
            (Ok(()), Some(Job::Closing)) => {
                self.job = None;
                self.outputs.push_back(Output::Settled(Ok(())));
            }
            (Ok(()), _) => self.outputs.push_back(Output::Progressed),
        }
    }

    /// The service worker served all `total` bytes. A close still settling succeeded. A `total`
    /// other than what was sent fails the download: its file cannot be whole.
    pub fn handle_done(&mut self, total: u64) {
        if self.outcome.is_some() {
            return;
        }
        let sent = self.window.bytes_sent();
        if total != sent {
            let why = format!("the service worker says it served {total} bytes, but {sent} were sent");
            return self.fail(SendError::Failed(why).into());
        }
        match self.job.take() {
            Some(Job::Close | Job::Closing) => self.outputs.push_back(Output::Settled(Ok(()))),
            Some(Job::Write { .. }) => self.outputs.push_back(Output::Settled(Err(SendError::Closed.into()))),
            None => {}
        }
        self.pending = None;
        self.outcome = Some(Ok(total));
        self.outputs.push_back(Output::Done(total));
    }

    /// The consumer cancelled the download (the service worker needs no `Abort`).
    pub fn handle_cancel(&mut self, reason: &str) {
        if self.outcome.is_none() {
            self.window.handle_cancel(reason);
        }
        self.fail(SendError::Cancelled(reason.to_string()).into());
    }

    /// The caller aborted with `e`. Once the `Close` went out, the worker may have served
    /// every byte already: it is told, and its answer decides (a `Done` on its way: done; else
    /// `e`), so `done` says what the browser got. Before, the download fails at once.
    pub fn handle_abort(&mut self, e: E) {
        if self.outcome.is_none() && self.aborting.is_none() && self.window.is_closed() {
            self.window.abort(&e.to_string());
            self.transmit();
            self.aborting = Some(e);
        } else {
            self.fail(e);
        }
    }

    /// The page's connection closed (`sluice.close()`) with `e`. A download whose `Close` went
    /// out waits for the worker's answer (the browser may have its every byte already: `done`
    /// says what it got); any other fails with `e`.
    pub fn handle_connection_closed(&mut self, e: E) {
        if !self.window.is_closed() {
            self.fail(e);
        }
    }

    /// The download fails with `e` (an abort, an error from the worker, a lost connection):
    /// the service worker is told, the current call settles with `e`. No effect once ended.
    pub fn handle_fail(&mut self, e: E) {
        self.fail(e);
    }

    // ---- outputs ----

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output<B::Piece, E>> {
        if self.outputs.is_empty() {
            self.advance();
        }
        self.outputs.pop_front()
    }

    fn take_job(&mut self, job: Job<B>) -> Result<(), Refused<E>> {
        if self.outcome.is_some() {
            return Err(Refused::Ended(self.refusal()));
        }
        // Refused, not failed: the worker may still be serving what was closed.
        if self.closed {
            return Err(Refused::Ended(SendError::Closed.into()));
        }
        if self.job.is_some() {
            return Err(Refused::Busy);
        }
        self.job = Some(job);
        Ok(())
    }

    /// Moves the job on until a chunk goes out, credit or the stream blocks, or it settles.
    fn advance(&mut self) {
        while self.outcome.is_none() && !self.in_flight {
            if let Some(piece) = self.pending.take() {
                match self.window.send(piece.byte_len() as usize) {
                    Ok(_) if self.stream => {
                        self.in_flight = true;
                        self.outputs.push_back(Output::Write(piece));
                    }
                    Ok(header) => {
                        self.outputs.push_back(Output::Send { header, piece });
                        self.outputs.push_back(Output::Progressed);
                    }
                    Err(e) if e.is_blocked() => self.pending = Some(piece), // a Grant moves it on
                    Err(e) => self.fail(e.into()),
                }
                return;
            }
            match self.job.take() {
                None => return,
                Some(Job::Write { bytes, at }) => match self.coalescer.next_step(bytes.len() - at) {
                    None => {
                        self.outputs.push_back(Output::Settled(Ok(())));
                        return;
                    }
                    Some(Step::Emit) => {
                        self.pending = self.coalescer.poll_chunk().map(B::coalesced);
                        self.job = Some(Job::Write { bytes, at });
                    }
                    Some(Step::Direct(n)) => {
                        self.pending = Some(bytes.piece(at, n));
                        self.job = Some(Job::Write { bytes, at: at + n });
                    }
                    Some(Step::Buffer(n)) => {
                        self.coalescer.push(&bytes.copy(at, n));
                        self.job = Some(Job::Write { bytes, at: at + n });
                    }
                },
                Some(Job::Close) => {
                    if let Some(last) = self.coalescer.flush() {
                        self.pending = Some(B::coalesced(last));
                        self.job = Some(Job::Close);
                        continue;
                    }
                    if let Err(e) = self.window.close() {
                        self.job = Some(Job::Close);
                        return self.fail(e.into());
                    }
                    self.transmit();
                    if self.stream {
                        // The service worker ends the response once it has the Close and the
                        // stream's end: a stream cut short by the page's going is never complete.
                        self.job = Some(Job::Closing);
                        self.in_flight = true;
                        self.outputs.push_back(Output::CloseStream);
                    } else {
                        self.outputs.push_back(Output::Settled(Ok(())));
                    }
                    return;
                }
                Some(Job::Closing) => {
                    self.job = Some(Job::Closing);
                    return;
                }
            }
        }
    }

    fn transmit(&mut self) {
        while let Some(msg) = self.window.poll_transmit() {
            self.outputs.push_back(Output::Tell(msg));
        }
    }

    fn fail(&mut self, e: E) {
        if self.outcome.is_some() {
            return;
        }
        // The worker's answer to an abort fails the download with that abort.
        let e = self.aborting.take().unwrap_or(e);
        self.window.abort(&e.to_string()); // even once closed: the worker may still be serving
        self.transmit();
        if self.job.take().is_some() {
            self.outputs.push_back(Output::Settled(Err(e.clone())));
        }
        // A fallback close settles Ok right behind its Close: if telling that failed, it fails.
        if let Some(next @ Output::Settled(Ok(()))) = self.outputs.front_mut() {
            *next = Output::Settled(Err(e.clone()));
        }
        self.pending = None;
        self.outcome = Some(Err(e.clone()));
        self.outputs.push_back(Output::Failed(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type W = Writer<Vec<u8>, SendError>;
    type Out = Output<Vec<u8>, SendError>;

    fn flow() -> FlowConfig {
        FlowConfig { window_chunks: 2, window_bytes: 100, min_chunk: 10, max_chunk: 40 }
    }

    fn writer(path: TransferPath, size: Option<u64>) -> W {
        W::new(DownloadId::from_u128(1), path, flow(), size, Duration::ZERO).unwrap()
    }

    /// A writer whose every byte went out and whose `Close` was sent.
    fn closed_writer(path: TransferPath) -> W {
        let mut w = writer(path, None);
        w.handle_grant(2, 100);
        w.handle_close().unwrap();
        drain(&mut w);
        if path == TransferPath::Transfer {
            w.handle_written(Ok(()));
            drain(&mut w);
        }
        w
    }

    fn drain(w: &mut W) -> Vec<Out> {
        std::iter::from_fn(|| w.poll_output()).collect()
    }

    fn pieces(outputs: &[Out]) -> Vec<usize> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { piece, .. } | Output::Write(piece) => Some(piece.len()),
                _ => None,
            })
            .collect()
    }

    /// A buffer whose bytes go with its piece: cut twice, copied, or cut in part, it panics.
    struct Taken {
        len: usize,
        cut: std::cell::Cell<bool>,
    }

    impl Buffer for Taken {
        type Piece = Vec<u8>;

        fn len(&self) -> usize {
            self.len
        }

        fn copy(&self, _: usize, _: usize) -> Vec<u8> {
            panic!("copied")
        }

        fn piece(&self, at: usize, len: usize) -> Vec<u8> {
            assert!(!self.cut.replace(true), "cut twice");
            assert_eq!((at, len), (0, self.len), "cut in part");
            vec![0; len]
        }

        fn coalesced(bytes: Vec<u8>) -> Vec<u8> {
            bytes
        }
    }

    #[test]
    fn a_write_that_makes_one_chunk_is_cut_once_whole_and_not_read_again() {
        for path in [TransferPath::Fallback, TransferPath::Transfer] {
            let id = DownloadId::from_u128(1);
            let mut w = Writer::<Taken, SendError>::new(id, path, flow(), None, Duration::ZERO).unwrap();
            w.handle_grant(2, 100);
            w.handle_write(Taken { len: 30, cut: Default::default() }).unwrap();
            let mut out: Vec<_> = std::iter::from_fn(|| w.poll_output()).collect();
            if path == TransferPath::Transfer {
                w.handle_written(Ok(()));
                out.extend(std::iter::from_fn(|| w.poll_output()));
            }
            let sent: Vec<_> = out
                .iter()
                .filter_map(|o| match o {
                    Output::Send { piece, .. } | Output::Write(piece) => Some(piece.len()),
                    _ => None,
                })
                .collect();
            assert_eq!(sent, vec![30], "{path:?}: one chunk of the whole write");
            assert!(matches!(out.last(), Some(Output::Settled(Ok(())))), "{path:?}: {out:?}");
        }
    }

    #[test]
    fn a_limit_refuses_a_larger_declared_size_and_fails_the_write_that_passes_it() {
        let over = writer(TransferPath::Transfer, Some(101)).with_limit(Some(100));
        assert_eq!(over.err(), Some(SendError::OverLimit { bytes: 101, limit: 100 }));
        let mut w = writer(TransferPath::Transfer, None).with_limit(Some(100)).unwrap();
        w.handle_write(vec![1; 60]).unwrap();
        // A second write while the first runs is refused, and does not count.
        assert!(matches!(w.handle_write(vec![2; 60]), Err(Refused::Busy)));
        let mut settled = false;
        while !settled {
            for output in drain(&mut w) {
                match output {
                    Output::Write(_) => w.handle_written(Ok(())),
                    Output::Settled(result) => settled = result.is_ok(),
                    _ => {}
                }
            }
        }
        assert!(!w.is_ended(), "60 of 100 bytes");
        w.handle_write(vec![3; 41]).unwrap();
        let out = drain(&mut w);
        let failed = SendError::OverLimit { bytes: 101, limit: 100 };
        assert!(out.contains(&Output::Settled(Err(failed.clone()))), "{out:?}");
        assert!(out.contains(&Output::Failed(failed)), "{out:?}");
    }

    #[test]
    fn fallback_sends_only_with_credit_and_settles_when_all_is_taken() {
        let mut w = writer(TransferPath::Fallback, Some(95));
        w.handle_write(vec![7; 95]).unwrap();
        assert!(drain(&mut w).is_empty(), "no credit, nothing sent, not settled");
        assert_eq!(w.handle_write(vec![1]), Err(Refused::Busy));
        w.handle_grant(1, 50);
        let out = drain(&mut w);
        assert_eq!(pieces(&out), vec![40]);
        assert!(!out.contains(&Output::Settled(Ok(()))));
        w.handle_grant(1, 20);
        assert!(pieces(&drain(&mut w)).is_empty(), "30 B of credit: the next 40 B chunk waits");
        w.handle_grant(1, 30);
        let out = drain(&mut w);
        assert_eq!(pieces(&out), vec![40, 15]);
        assert_eq!(out.last(), Some(&Output::Settled(Ok(()))));
        w.handle_close().unwrap();
        let out = drain(&mut w);
        assert_eq!(out[0], Output::Tell(Message::Close { id: DownloadId::from_u128(1), total: 95 }));
        assert_eq!(out[1], Output::Settled(Ok(())));
        w.handle_done(95);
        assert_eq!(drain(&mut w), vec![Output::Done(95)]);
        assert!(w.is_ended());
        assert_eq!(w.handle_write(vec![1]), Err(Refused::Ended(SendError::Closed)));
    }

    #[test]
    fn a_close_whose_close_message_cannot_be_told_settles_with_the_failure() {
        let mut w = writer(TransferPath::Fallback, None);
        w.handle_grant(2, 100);
        w.handle_close().unwrap();
        let tell = w.poll_output();
        assert!(matches!(tell, Some(Output::Tell(Message::Close { .. }))), "{tell:?}");
        // Telling it failed (the bus broke): the close must not settle Ok.
        w.handle_fail(SendError::Failed("the port broke".into()));
        let out = drain(&mut w);
        assert!(!out.contains(&Output::Settled(Ok(()))), "{out:?}");
        assert!(out.contains(&Output::Settled(Err(SendError::Failed("the port broke".into())))), "{out:?}");
    }

    #[test]
    fn a_download_abandoned_before_close_fails_as_aborted_and_a_closed_one_goes_on() {
        for path in [TransferPath::Fallback, TransferPath::Transfer] {
            let mut w = writer(path, None);
            w.handle_grant(2, 100);
            w.handle_write(vec![1; 40]).unwrap();
            drain(&mut w);
            w.handle_abandoned();
            let out = drain(&mut w);
            assert!(
                matches!(out.last(), Some(Output::Failed(SendError::Aborted(_)))),
                "{path:?}: dropped unclosed: {out:?}"
            );
            assert!(w.is_ended());

            let mut w = closed_writer(path);
            w.handle_abandoned();
            assert!(!drain(&mut w).iter().any(|o| matches!(o, Output::Failed(_))), "{path:?}: closed");
            w.handle_done(0);
            assert_eq!(drain(&mut w), vec![Output::Done(0)]);
        }
    }

    #[test]
    fn an_abort_after_close_waits_for_the_workers_answer() {
        let aborted = |path| {
            let mut w = closed_writer(path);
            w.handle_abort(SendError::Aborted("too late?".into()));
            let out = drain(&mut w);
            assert!(
                matches!(&out[..], [Output::Tell(Message::Abort { reason, .. })] if reason.ends_with("too late?")),
                "{path:?}: {out:?}"
            );
            assert!(!w.is_ended(), "{path:?}: the worker's answer decides");
            w
        };
        for path in [TransferPath::Fallback, TransferPath::Transfer] {
            // A Done on its way: the file is whole, and done says so.
            let mut w = aborted(path);
            w.handle_done(0);
            assert_eq!(drain(&mut w), vec![Output::Done(0)], "{path:?}");
            // Any other answer: the download failed, with this abort.
            let mut w = aborted(path);
            w.handle_fail(SendError::Failed("no actor".into()));
            let out = drain(&mut w);
            assert!(
                matches!(&out[..], [Output::Failed(SendError::Aborted(r))] if r == "too late?"),
                "{path:?}: {out:?}"
            );
        }
        // Before the Close went out, it fails at once.
        let mut w = writer(TransferPath::Fallback, None);
        w.handle_abort(SendError::Aborted("now".into()));
        assert!(w.is_ended());
    }

    #[test]
    fn the_connection_closing_fails_an_open_download_and_leaves_a_closed_one_to_its_answer() {
        let closing = || SendError::Failed("sluice.close()".into());
        for path in [TransferPath::Fallback, TransferPath::Transfer] {
            let mut w = closed_writer(path);
            w.handle_connection_closed(closing());
            assert_eq!(drain(&mut w), vec![], "{path:?}: nothing told, nothing failed");
            w.handle_done(0);
            assert_eq!(drain(&mut w), vec![Output::Done(0)], "{path:?}");
            let mut w = closed_writer(path);
            w.handle_connection_closed(closing());
            w.handle_fail(SendError::Failed("expired".into()));
            let out = drain(&mut w);
            assert!(out.contains(&Output::Failed(SendError::Failed("expired".into()))), "{path:?}: {out:?}");
        }
        let mut w = writer(TransferPath::Fallback, None);
        w.handle_grant(2, 100);
        w.handle_write(vec![1; 40]).unwrap();
        drain(&mut w);
        w.handle_connection_closed(closing());
        assert!(w.is_ended());
        assert!(drain(&mut w).contains(&Output::Failed(closing())));
    }

    #[test]
    fn a_write_or_close_after_close_is_refused_and_the_download_goes_on() {
        for path in [TransferPath::Fallback, TransferPath::Transfer] {
            let mut w = closed_writer(path);
            assert!(matches!(w.handle_close(), Err(Refused::Ended(SendError::Closed))), "{path:?}");
            assert!(matches!(w.handle_write(vec![1; 60]), Err(Refused::Ended(SendError::Closed))), "{path:?}");
            assert_eq!(drain(&mut w), vec![], "{path:?}: nothing told, nothing failed");
            w.handle_done(0);
            assert_eq!(drain(&mut w), vec![Output::Done(0)], "{path:?}");
        }
    }

    #[test]
    fn small_writes_are_coalesced_and_flushed_on_close() {
        let mut w = writer(TransferPath::Fallback, None);
        w.handle_grant(2, 100);
        let mut sent = Vec::new();
        // The consumer takes each chunk at once and grants its credit back.
        let run = |w: &mut W, sent: &mut Vec<usize>| {
            let mut all = Vec::new();
            loop {
                let out = drain(w);
                let chunks = pieces(&out);
                for &len in &chunks {
                    w.handle_grant(1, len as u64);
                }
                sent.extend(&chunks);
                all.extend(out);
                if chunks.is_empty() {
                    return all;
                }
            }
        };
        for _ in 0..13 {
            w.handle_write(vec![1; 3]).unwrap();
            assert!(run(&mut w, &mut sent).contains(&Output::Settled(Ok(()))), "each write settles");
        }
        w.handle_close().unwrap();
        run(&mut w, &mut sent);
        assert_eq!(sent, vec![12, 12, 12, 3], "chunks of at least min_chunk, the rest flushed by the close");
    }

    #[test]
    fn transfer_waits_for_each_stream_write_and_for_the_stream_close() {
        let mut w = writer(TransferPath::Transfer, Some(50));
        w.handle_write(vec![1; 50]).unwrap();
        assert_eq!(pieces(&drain(&mut w)), vec![40], "one stream write at a time");
        w.handle_written(Ok(()));
        let out = drain(&mut w);
        assert_eq!(out[0], Output::Progressed);
        assert_eq!(pieces(&out), vec![10]);
        w.handle_written(Ok(()));
        assert_eq!(drain(&mut w), vec![Output::Progressed, Output::Settled(Ok(()))]);
        w.handle_close().unwrap();
        let out = drain(&mut w);
        assert_eq!(out.last(), Some(&Output::CloseStream));
        assert!(!out.contains(&Output::Settled(Ok(()))), "settles when the stream's close does");
        w.handle_done(50);
        assert_eq!(drain(&mut w), vec![Output::Settled(Ok(())), Output::Done(50)], "Done may come first");
        w.handle_written(Ok(()));
        assert!(!drain(&mut w).iter().any(|o| matches!(o, Output::Settled(_))), "settled once");
    }

    #[test]
    fn a_done_with_another_total_than_was_sent_fails() {
        for told in [0, 49, 51] {
            let mut w = writer(TransferPath::Fallback, None);
            w.handle_grant(2, 100);
            w.handle_write(vec![1; 50]).unwrap();
            drain(&mut w);
            w.handle_close().unwrap();
            drain(&mut w);
            w.handle_done(told);
            let out = drain(&mut w);
            assert!(
                matches!(out.last(), Some(Output::Failed(SendError::Failed(why))) if why.contains("50 were sent")),
                "{told}: {out:?}"
            );
            assert!(!out.iter().any(|o| matches!(o, Output::Done(_) | Output::Settled(Ok(())))), "{told}");
        }
    }

    #[test]
    fn a_short_close_fails_the_download_and_tells_the_worker() {
        let mut w = writer(TransferPath::Fallback, Some(100));
        w.handle_grant(2, 100);
        w.handle_write(vec![1; 10]).unwrap();
        drain(&mut w);
        w.handle_close().unwrap();
        let out = drain(&mut w);
        let mismatch = SendError::SizeMismatch { declared: 100, sent: 10 };
        assert!(matches!(&out[0], Output::Tell(Message::Abort { .. })));
        assert_eq!(out[1..], [Output::Settled(Err(mismatch.clone())), Output::Failed(mismatch.clone())]);
        assert_eq!(w.handle_close(), Err(Refused::Ended(mismatch)));
    }

    #[test]
    fn a_cancel_fails_without_an_abort_and_a_failure_settles_the_running_write() {
        let mut w = writer(TransferPath::Fallback, None);
        w.handle_write(vec![1; 60]).unwrap();
        drain(&mut w);
        w.handle_cancel("user");
        let cancelled = SendError::Cancelled("user".into());
        assert_eq!(drain(&mut w), vec![Output::Settled(Err(cancelled.clone())), Output::Failed(cancelled)]);
        let mut w = writer(TransferPath::Transfer, None);
        w.handle_write(vec![1; 60]).unwrap();
        drain(&mut w);
        w.handle_fail(SendError::Aborted("bye".into()));
        let out = drain(&mut w);
        assert!(matches!(&out[0], Output::Tell(Message::Abort { reason, .. }) if reason.contains("bye")));
        assert_eq!(out.len(), 3);
        w.handle_fail(SendError::Closed);
        w.handle_done(1);
        assert!(drain(&mut w).is_empty(), "one end only");
    }
}
