//! What every download actor of the service worker shares: the handle others use to fail it,
//! and what an actor does when it ends.

use futures::FutureExt;
use sluice_core::incomplete_notice;
use sluice_core::wire::ErrorCode;
use wasm_bindgen::JsValue;
use web_sys::ReadableStreamDefaultController;

use crate::source::SourceEvent;

/// The bus to one page.
pub(crate) type PageBus = sluice_worker_bus::Bus<sluice_worker_bus::web::WebEndpoint>;

/// What others may tell a download actor.
pub(crate) enum Command {
    /// End the download with an error (page gone, URL expired): the response stream errors,
    /// and the page hears `code` and `reason` if it still listens.
    Fail {
        /// Why, for the page.
        code: ErrorCode,
        /// Why, in words.
        reason: String,
    },
    /// The browser requested the download's URL: its response is the browser's now.
    Claimed,
    /// The page's connection ended, for this reason: a download still sending fails; one that
    /// has every byte and was requested is left to the browser.
    PageGone(String),
}

/// Sends to one download's actor. Sending never blocks; a finished actor ignores it, and so
/// does one already told to fail (the first reason wins: nothing piles up; the claim, sent
/// once, has a place of its own).
#[derive(Clone, Debug)]
pub(crate) struct DownloadHandle {
    tx: sluice_worker_bus::channel::Sender<Command>,
}

impl DownloadHandle {
    /// A handle and the actor's end of it.
    pub(crate) fn new() -> (Self, sluice_worker_bus::channel::Receiver<Command>) {
        let (tx, rx) = sluice_worker_bus::channel::bounded(2);
        (Self { tx }, rx)
    }

    /// Fails the download (no effect once it ended).
    pub(crate) fn fail(&self, code: ErrorCode, reason: impl Into<String>) {
        let _ = self.tx.try_send(Command::Fail { code, reason: reason.into() });
    }

    /// The browser requested the download (once: the URL is used up).
    pub(crate) fn claimed(&self) {
        let _ = self.tx.try_send(Command::Claimed);
    }

    /// The page's connection ended.
    pub(crate) fn page_gone(&self, reason: impl Into<String>) {
        let _ = self.tx.try_send(Command::PageGone(reason.into()));
    }
}

impl sluice_core::Carried for DownloadHandle {
    /// The actor ended.
    fn is_finished(&self) -> bool {
        self.tx.is_closed()
    }
}

/// How long a failing stream waits for its consumer to take the incomplete-notice.
const NOTICE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Errors the response stream: the browser must see a failed download, never a complete one.
/// If bytes were served already, the stream first hands out [`incomplete_notice`] and waits
/// (briefly) for the consumer to take it: a browser that keeps a failed download under its
/// final name (WebKit) then keeps a file that says it is incomplete.
pub(crate) async fn fail_visibly(
    controller: &ReadableStreamDefaultController,
    events: &sluice_worker_bus::channel::Receiver<SourceEvent>,
    mut pull: Option<js_sys::Function>,
    high_water_mark: f64,
    (served, declared): (u64, Option<u64>),
    why: &str,
) {
    if served > 0 {
        let notice = incomplete_notice(served, declared, why);
        let _ = controller.enqueue_with_chunk(&js_sys::Uint8Array::from(notice.as_bytes()));
        let wait = sluice_web::sleep(NOTICE_WAIT).fuse();
        futures::pin_mut!(wait);
        // Erroring drops what is queued: wait until the consumer took everything, the notice last.
        loop {
            if let Some(resolve) = pull.take() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            futures::select_biased! {
                event = events.recv().fuse() => match event {
                    Ok(SourceEvent::Pull(resolve)) => pull = Some(resolve),
                    _ => break,
                },
                () = wait => break,
            }
            if controller.desired_size().is_none_or(|free| free >= high_water_mark) {
                break;
            }
        }
    }
    controller.error_with_e(&js_sys::Error::new(&format!("Sluice: {why}")));
}

/// Receives a command, or waits forever once nobody can send one (so a `select!` over it
/// never spins).
pub(crate) async fn next_command(commands: &sluice_worker_bus::channel::Receiver<Command>) -> Command {
    match commands.recv().await {
        Ok(command) => command,
        Err(_) => futures::future::pending().await,
    }
}
