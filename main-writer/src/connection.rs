//! The page's connection to the service worker: an actor that owns the bus (a `MessageChannel`
//! to the worker), its liveness (keepalive events and pings), the re-handshake after the worker
//! restarted, the downloads opened over each bus, and what opened their URLs. When a bus dies,
//! exactly its downloads fail, with [`SluiceError::ServiceWorkerGone`].

use std::time::Duration;

use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{Fuse, FusedFuture, LocalBoxFuture};
use futures::FutureExt;
use js_sys::Reflect;
use litemap::LiteMap;
use sluice_core::wire::nonce;
use sluice_core::{Action, Checked, LinkId, Message, PageConnection, Refusal, ToPage, ToServiceWorker};
use sluice_web::{now, sleep};
use sluice_worker_bus::web::{written, WebEndpoint};
use sluice_worker_bus::{Bus, BusConfig, BusError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    HtmlIFrameElement, MessageChannel, MessageEvent, MessagePort, ServiceWorker, ServiceWorkerRegistration,
    ServiceWorkerState,
};

use crate::args::Trigger;
use crate::error::SluiceError;

/// The bus to the service worker.
pub(crate) type ServiceWorkerBus = Bus<WebEndpoint>;

/// A download its connection can fail (when its bus dies), beyond seeing whether it ended.
pub(crate) trait Failable: sluice_core::Carried {
    /// Fails the download (no effect once it ended).
    fn fail(&self, e: SluiceError);
}

/// Timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// How long to wait for the service worker's answers.
    pub(crate) timeout: Duration,
    /// How often to ping while downloads are open.
    pub(crate) keepalive: Duration,
    /// The service worker's log level, sent with each connect.
    pub(crate) debug: bool,
}

/// Where a connection runs, which decides how it reaches the service worker.
pub(crate) enum Host {
    /// A page: it has the registration (new ports, the worker's run, its events).
    Page(ServiceWorkerRegistration),
    /// A worker given a port by a page ([`crate::handoff`]): the page makes the ports, opens
    /// the download URLs and sends the service worker its events.
    Worker(std::rc::Rc<crate::handoff::PageLink>),
}

impl Host {
    /// A new bus that answered the handshake.
    async fn connect(&self, timing: Timing) -> Result<Connected, SluiceError> {
        match self {
            Host::Page(registration) => connect(registration, timing).await,
            Host::Worker(page) => match page.port(timing.timeout).await? {
                Some((port, _)) => handshake(port, None, timing).await,
                None => Err(SluiceError::Unsupported(sluice_core::Unsupported::NotActive)),
            },
        }
    }

    /// Whether the worker that `run` was is still the one that answers (a page can ask; a
    /// worker's ping over the bus says the rest).
    async fn same_run(&self, run: &Option<String>, timeout: Duration) -> bool {
        match self {
            Host::Page(registration) => run.is_some() && worker_run(registration, timeout).await == *run,
            Host::Worker(_) => true,
        }
    }

    /// A message event for the service worker itself: Firefox stops a worker 30 s after its
    /// last event (less where configured), and messages on a `MessagePort` are not events of
    /// the worker. A worker has no handle on the service worker: its page posts it.
    fn wake_worker(&self) {
        match self {
            Host::Page(registration) => {
                if let Some(worker) = registration.active() {
                    if let Err(e) = worker.post_message(&written(|o| ToServiceWorker::Keepalive.write(o))) {
                        log::warn!("keepalive: {}", sluice_web::describe(&e));
                    }
                }
            }
            Host::Worker(page) => page.tell(&ToPage::Active),
        }
    }
}

enum Command {
    Attach(Rc<dyn Failable>, Reply),
    /// Bytes flow: the worker must not go idle.
    Active,
    /// Hands a download's URL to the browser's download manager.
    Open(String, Trigger, oneshot::Sender<Result<(), SluiceError>>),
    /// A download ended (`true`: served whole): what opened its URL, if any, is let go of.
    Ended(Option<String>, bool),
    Close,
}

type Reply = oneshot::Sender<Result<ServiceWorkerBus, SluiceError>>;

/// How often a download whose bytes flow sends the worker an event (see
/// [`ConnectionHandle::active`]).
pub(crate) const ACTIVE_EVERY: Duration = Duration::from_millis(500);

/// Sends to the connection actor; the actor ends (saying `Bye`) once closed, or when the last
/// handle drops, and its downloads ended.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle {
    tx: sluice_worker_bus::channel::Sender<Command>,
}

impl ConnectionHandle {
    /// A bus for a new download, checked alive (a fresh connection if the service worker
    /// restarted); the download fails with the bus.
    pub(crate) async fn attach(&self, download: Rc<dyn Failable>) -> Result<ServiceWorkerBus, SluiceError> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Command::Attach(download, reply)).map_err(|_| SluiceError::SluiceClosed)?;
        answer.await.unwrap_or(Err(SluiceError::SluiceClosed))
    }

    /// Bytes of a download flow. Engines stop a worker some time after its last event, and a
    /// stream's chunks are no events of the worker (nor are page timers sure to fire in a
    /// hidden tab): a download tells this at most every [`ACTIVE_EVERY`] while it sends, and
    /// the connection sends the worker an event.
    pub(crate) fn active(&self) {
        let _ = self.tx.try_send(Command::Active);
    }

    /// Hands a download's URL to the browser's download manager, as `trigger` says: a page
    /// opens it, a worker has its page open it.
    pub(crate) async fn open(&self, url: String, trigger: Trigger) -> Result<(), SluiceError> {
        let (reply, answer) = oneshot::channel();
        self.tx.try_send(Command::Open(url, trigger, reply)).map_err(|_| SluiceError::SluiceClosed)?;
        answer.await.unwrap_or(Err(SluiceError::SluiceClosed))
    }

    /// A download ended (`finished`: served whole): what opened its `url`, if any, is let go
    /// of, and a closed connection may let its bus go.
    pub(crate) fn ended(&self, url: Option<String>, finished: bool) {
        let _ = self.tx.try_send(Command::Ended(url, finished));
    }

    /// Closes the connection: new downloads are refused; open ones fail, except those whose
    /// bytes all went out, which wait for the service worker's answer; then it ends.
    pub(crate) fn close(&self) {
        let _ = self.tx.try_send(Command::Close);
    }
}

/// Starts the connection actor with a bus that just answered the handshake.
pub(crate) fn spawn(host: Host, connected: Connected, timing: Timing) -> ConnectionHandle {
    // Bounded by the downloads: each sends an attach and an open (each awaited), an `Active`
    // at most every ACTIVE_EVERY (which the actor takes at once), and its `Ended`.
    let (tx, rx) = sluice_worker_bus::channel::unbounded();
    let actor = Connection {
        host: Rc::new(host),
        timing,
        state: PageConnection::new(connected, timing.keepalive),
        frames: LiteMap::new_vec(),
    };
    spawn_local(actor.run(rx));
    ConnectionHandle { tx }
}

/// The connection's state ([`PageConnection`]) and what carries out its actions.
struct Connection {
    host: Rc<Host>,
    timing: Timing,
    state: PageConnection<Connected, Rc<dyn Failable>, Reply, SluiceError>,
    /// The frame that opened each download URL (a page's; a worker's page keeps its own).
    frames: LiteMap<String, HtmlIFrameElement>,
}

/// Slow work beside the connection's loop, and what it reports.
type Slow<T> = Fuse<LocalBoxFuture<'static, T>>;

impl Connection {
    async fn run(mut self, commands: sluice_worker_bus::channel::Receiver<Command>) {
        let mut checking: Slow<Result<Checked<Connected>, SluiceError>> = Fuse::terminated();
        let mut pinging: Slow<Vec<LinkId>> = Fuse::terminated();
        // Why the open downloads fail when the connection closes (none when every handle is gone).
        let mut closing = None;
        let mut handles_gone = false;
        loop {
            while let Some(action) = self.state.poll_action() {
                match action {
                    Action::Check(current) => {
                        checking = check(self.host.clone(), current, self.timing).boxed_local().fuse()
                    }
                    Action::Round(buses) => {
                        self.host.wake_worker();
                        pinging = ping(buses, self.timing.timeout).boxed_local().fuse();
                    }
                    Action::Bye(link) => drop(link.bus.tell(Message::Bye, None)),
                    Action::Attached(reply, link) => drop(reply.send(Ok(link.bus))),
                    Action::Refused(reply, why) => drop(reply.send(Err(match why {
                        Refusal::NotIntercepted => sluice_core::Unsupported::NotIntercepted.into(),
                        Refusal::Closed => SluiceError::SluiceClosed,
                        Refusal::Failed(e) => e,
                    }))),
                    Action::Lost(download) => download.fail(SluiceError::ServiceWorkerGone(self.timing.timeout)),
                    Action::Closed(download) => {
                        if let Some(e) = &closing {
                            download.fail(SluiceError::clone(e));
                        }
                    }
                }
            }
            if self.state.is_ended() {
                // A check that runs is let finish: its steps take their listeners off as they end.
                if !checking.is_terminated() {
                    spawn_local(checking.map(drop));
                }
                return self.end(&commands);
            }
            // Due at its time, however many commands come meanwhile.
            let keepalive = match self.state.poll_deadline(now()) {
                Some(due) => sleep(due.saturating_sub(now())).left_future(),
                None => futures::future::pending().right_future(),
            };
            futures::select_biased! {
                command = commands.recv_until_closed(!handles_gone).fuse() => match command {
                    Some(Command::Attach(download, reply)) => self.state.handle_attach(download, reply),
                    Some(Command::Active) => self.host.wake_worker(),
                    Some(Command::Open(_, _, reply)) if self.state.is_closed() => drop(reply.send(Err(SluiceError::SluiceClosed))),
                    Some(Command::Open(url, trigger, reply)) => drop(reply.send(self.open(url, trigger))),
                    Some(Command::Ended(url, finished)) => self.ended(url, finished),
                    Some(Command::Close) => {
                        closing = Some(SluiceError::SluiceClosed);
                        self.state.handle_close();
                    }
                    // Every handle dropped (the Sluice and all its downloads): nothing left to serve.
                    None => {
                        handles_gone = true;
                        self.state.handle_close();
                    }
                },
                checked = checking => self.state.handle_checked(checked),
                dead = pinging => self.state.handle_pinged(&dead),
                () = keepalive.fuse() => self.state.handle_timeout(now()),
            }
        }
    }

    /// Every download ended, and every bus was said goodbye to: what opened the downloads goes
    /// (an `Ended` still queued is heard first), and a worker's page stops serving it.
    fn end(&mut self, commands: &sluice_worker_bus::channel::Receiver<Command>) {
        // Anything else still queued is refused by dropping its reply (`closed`).
        while let Ok(command) = commands.try_recv() {
            if let Command::Ended(url, finished) = command {
                self.ended(url, finished);
            }
        }
        for (_, frame) in std::mem::take(&mut self.frames).into_tuple_vec() {
            let_go(frame, false);
        }
        if let Host::Worker(page) = &*self.host {
            page.tell(&ToPage::Bye);
        }
    }

    fn open(&mut self, url: String, trigger: Trigger) -> Result<(), SluiceError> {
        match &*self.host {
            Host::Page(_) => {
                if let Some(frame) = open_here(trigger, &url)? {
                    self.frames.insert(url, frame);
                }
            }
            Host::Worker(page) => page.tell(&ToPage::Open { url, navigate: trigger == Trigger::Navigate }),
        }
        Ok(())
    }

    fn ended(&mut self, url: Option<String>, finished: bool) {
        let Some(url) = url else { return };
        match &*self.host {
            Host::Page(_) => {
                if let Some(frame) = self.frames.remove(&url) {
                    let_go(frame, finished);
                }
            }
            Host::Worker(page) => page.tell(&ToPage::Ended { url, finished }),
        }
    }
}

/// Whether `current` still answers (a worker that was stopped is started by the question, and
/// answers as a new run at once: its old ports are dead, and a ping over them would only time
/// out); else a new bus, and whether its run answers this page's navigations.
async fn check(host: Rc<Host>, current: Option<Connected>, timing: Timing) -> Result<Checked<Connected>, SluiceError> {
    let quick = timing.timeout.min(Duration::from_secs(2));
    if let Some(current) = current {
        if host.same_run(&current.run, quick).await
            && current.bus.request_within(Message::Ping { nonce: nonce::ATTACH_CHECK }, None, quick).await.is_ok()
        {
            return Ok(Checked::Alive);
        }
    }
    let bus = host.connect(timing).await?;
    let intercepts = match &*host {
        Host::Page(registration) => intercepts(&registration.scope(), timing.timeout).await,
        Host::Worker(_) => true,
    };
    Ok(Checked::Connected { bus, intercepts })
}

/// Pings every bus of a keepalive round at once; returns those that did not answer in `timeout`
/// or failed.
async fn ping(buses: Vec<(LinkId, Connected)>, timeout: Duration) -> Vec<LinkId> {
    let mut pings: Vec<_> = buses
        .into_iter()
        .map(|(id, link)| {
            Box::pin(async move {
                let ping = link.bus.request_within(Message::Ping { nonce: nonce::KEEPALIVE }, None, timeout);
                // Not answered in time, or the bus failed (its port, its peer): dead. A bus
                // with too many requests in flight is busy, not dead.
                (id, matches!(ping.await, Err(e) if !matches!(e, BusError::TooManyRequests(_))))
            })
        })
        .collect();
    let mut dead = Vec::new();
    std::future::poll_fn(|cx| {
        pings.retain_mut(|ping| match std::future::Future::poll(ping.as_mut(), cx) {
            std::task::Poll::Ready((id, gone)) => {
                dead.extend(gone.then_some(id));
                false
            }
            std::task::Poll::Pending => true,
        });
        if pings.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    dead
}

/// How long a finished download's iframe stays (see [`let_go`]).
const IFRAME_LINGER: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands the download URL to the browser's download manager, from a page; returns the frame
/// that opened it, if one did.
fn open_here(trigger: Trigger, url: &str) -> Result<Option<web_sys::HtmlIFrameElement>, SluiceError> {
    let window = || web_sys::window().ok_or_else(|| SluiceError::Browser("no window here".into()));
    match trigger {
        Trigger::None => Ok(None),
        Trigger::Navigate => Ok(window()?.location().set_href(url).map(|()| None)?),
        Trigger::Iframe => {
            let document = window()?.document().ok_or(SluiceError::Browser("no document".into()))?;
            let frame: web_sys::HtmlIFrameElement = document.create_element("iframe")?.unchecked_into();
            frame.set_src(url);
            frame.style().set_property("display", "none")?;
            // Beside the body, not in it: a page that replaces its body's content (`innerHTML`)
            // would take the frame along, and Firefox then drops the download it was saving.
            document
                .document_element()
                .ok_or(SluiceError::Browser("no document element".into()))?
                .append_child(&frame)?;
            Ok(Some(frame))
        }
    }
}

/// Lets go of a download's frame once it ended: a failed one at once, a finished one a while
/// later, since WebKit cancels a download whose frame goes before its download manager took it
/// over, and a small file is all sent before that.
fn let_go(frame: web_sys::HtmlIFrameElement, finished: bool) {
    match finished {
        true => spawn_local(async move {
            sluice_web::sleep(IFRAME_LINGER).await;
            frame.remove();
        }),
        false => frame.remove(),
    }
}

/// Waits until `worker` is activated (its `statechange` events, never polling). One that turns
/// redundant failed to install: the registration's error says so at once.
async fn activated(worker: &ServiceWorker, timeout: Duration) -> Result<(), SluiceError> {
    let settled =
        |w: &ServiceWorker| matches!(w.state(), ServiceWorkerState::Activated | ServiceWorkerState::Redundant);
    let (tx, rx) = sluice_worker_bus::channel::bounded::<()>(1);
    let on_change = {
        let worker = worker.clone();
        Closure::<dyn FnMut()>::new(move || {
            if settled(&worker) {
                let _ = tx.try_send(());
            }
        })
    };
    // A listener of its own (not `onstatechange`): concurrent register() calls each wait.
    let listener = on_change.as_ref().unchecked_ref();
    let _ = worker.add_event_listener_with_callback("statechange", listener);
    if !settled(worker) {
        futures::select_biased! {
            _ = rx.recv().fuse() => {},
            () = sleep(timeout).fuse() => {},
        }
    }
    let _ = worker.remove_event_listener_with_callback("statechange", listener);
    match worker.state() {
        ServiceWorkerState::Activated => Ok(()),
        ServiceWorkerState::Redundant => Err(SluiceError::Registration(not_installed(&worker.script_url()))),
        _ => Err(sluice_core::Unsupported::NotActive.into()),
    }
}

/// Why a service worker at `script` turned redundant while it installed.
fn not_installed(script: &str) -> String {
    let folder = script.rsplit_once('/').map_or(script, |(folder, _)| folder);
    format!(
        "the service worker {script} did not install: is {folder}/sluice_bg.wasm missing, or of \
         another Sluice version? Copy both files from one package (its console says which)"
    )
}

/// The registration's worker once it is activated.
pub(crate) async fn active_worker(
    registration: &ServiceWorkerRegistration,
    timeout: Duration,
) -> Result<ServiceWorker, SluiceError> {
    if let Some(worker) = registration.active().filter(|w| w.state() == ServiceWorkerState::Activated) {
        return Ok(worker);
    }
    let newest = || registration.installing().or_else(|| registration.waiting()).or_else(|| registration.active());
    let worker = newest().ok_or(sluice_core::Unsupported::NotActive)?;
    match activated(&worker, timeout).await {
        // A newer worker may have replaced this one: then that one decides.
        Err(_) if newest().is_some_and(|w| w != worker) => {
            let worker = newest().ok_or(sluice_core::Unsupported::NotActive)?;
            activated(&worker, timeout).await.map(|()| worker)
        }
        activated => activated.map(|()| worker),
    }
}

/// Which run of the active service worker answers now (`{ sluice: "instance" }` with a reply
/// port; the message starts a stopped worker), or `None` if none answers within `timeout`.
async fn worker_run(registration: &ServiceWorkerRegistration, timeout: Duration) -> Option<String> {
    let worker = registration.active()?;
    let channel = MessageChannel::new().ok()?;
    // Its run, or why its wasm did not start (the handshake then fails with that) end the wait;
    // an app's own answers on the port do not.
    let (tx, rx) = sluice_worker_bus::channel::bounded::<Option<String>>(1);
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let text = |key: &str| Reflect::get(&event.data(), &key.into()).ok().and_then(|v| v.as_string());
        match (text("sluiceInstance"), text("sluiceServiceWorkerError")) {
            (Some(run), _) => drop(tx.try_send(Some(run))),
            (None, Some(_)) => drop(tx.try_send(None)),
            (None, None) => {}
        }
    });
    channel.port1().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let question = written(|o| ToServiceWorker::Run.write(o));
    worker.post_message_with_transferable(&question, &js_sys::Array::of1(&channel.port2())).ok()?;
    let run = futures::select_biased! {
        run = rx.recv().fuse() => run.ok().flatten(),
        () = sleep(timeout).fuse() => None,
    };
    channel.port1().set_onmessage(None);
    channel.port1().close();
    run
}

/// A bus that answered the handshake, and the run of the worker it goes to.
#[derive(Clone)]
pub(crate) struct Connected {
    pub(crate) bus: ServiceWorkerBus,
    run: Option<String>,
}

/// A new port to the active service worker: a `MessageChannel` whose other end the worker
/// got with `{ sluice: "connect" }`.
pub(crate) async fn open_port(
    registration: &ServiceWorkerRegistration,
    timing: Timing,
) -> Result<MessagePort, SluiceError> {
    let worker = active_worker(registration, timing.timeout).await?;
    let channel = MessageChannel::new()?;
    let hello = written(|o| ToServiceWorker::Connect { debug: timing.debug }.write(o));
    worker.post_message_with_transferable(&hello, &js_sys::Array::of1(&channel.port2()))?;
    Ok(channel.port1())
}

/// Opens a bus to the active service worker over a new port and waits for its answer to a
/// ping (the ready handshake).
pub(crate) async fn connect(
    registration: &ServiceWorkerRegistration,
    timing: Timing,
) -> Result<Connected, SluiceError> {
    // Asked first: should the worker restart in between, the bus is taken for dead too early
    // (one needless handshake), never for alive too long.
    active_worker(registration, timing.timeout).await?;
    let run = worker_run(registration, timing.timeout).await;
    handshake(open_port(registration, timing).await?, run, timing).await
}

/// A bus over `port` to the service worker, once it answered a ping.
pub(crate) async fn handshake(
    port: MessagePort,
    run: Option<String>,
    timing: Timing,
) -> Result<Connected, SluiceError> {
    let config = BusConfig { request_timeout: timing.timeout, ..BusConfig::default() };
    let bus = Bus::new(WebEndpoint::port(port), config);
    match bus.request(Message::Ping { nonce: nonce::HANDSHAKE }, None).await {
        Ok(_) => Ok(Connected { bus, run }),
        Err(BusError::Timeout(_)) => Err(sluice_core::Unsupported::NotActive.into()),
        Err(e) => Err(e.into()),
    }
}

/// The interception self-test: whether the service worker answers a navigation under
/// `scope`. A hidden iframe opens [`DownloadUrl::probe`](sluice_core::DownloadUrl::probe), which
/// the worker answers with a page titled [`sluice_core::PROBE_TITLE`]; where the request
/// bypasses the worker (a hard reload, "bypass for network"), the server answers instead.
pub(crate) async fn intercepts(scope: &str, timeout: Duration) -> bool {
    let url = sluice_core::DownloadUrl::probe(scope);
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return false };
    let Some(root) = document.document_element() else { return false };
    let Ok(frame) = document.create_element("iframe") else { return false };
    let frame: HtmlIFrameElement = frame.unchecked_into();
    let (tx, rx) = sluice_worker_bus::channel::bounded::<()>(4);
    let on_load = Closure::<dyn FnMut()>::new(move || {
        let _ = tx.try_send(());
    });
    frame.set_onload(Some(on_load.as_ref().unchecked_ref()));
    let _ = frame.style().set_property("display", "none");
    frame.set_src(&url);
    if root.append_child(&frame).is_err() {
        return false;
    }
    let deadline = sleep(timeout).fuse();
    futures::pin_mut!(deadline);
    let answered = loop {
        futures::select_biased! {
            loaded = rx.recv().fuse() => {
                // The first load may be the frame's initial about:blank.
                let page = frame.content_document().map(|d| (d.url().unwrap_or_default(), d.title()));
                match page {
                    Some((_, title)) if title == sluice_core::PROBE_TITLE => break true,
                    Some((at, _)) if at == "about:blank" && loaded.is_ok() => continue,
                    _ => break false,
                }
            },
            () = deadline => break false,
        }
    };
    frame.set_onload(None);
    frame.remove();
    answered
}
