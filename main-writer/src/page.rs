//! Registration, the ready handshake, detection, the connection and its keepalive.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use js_sys::{Object, Reflect};
use sluice_core::window::FlowConfig;
use sluice_core::{decide, DownloadId, DownloadUrl, FileMeta, ForcedMode, Message, Probe, TransferPath, Unsupported};
use sluice_worker_bus::web::WebEndpoint;
pub(crate) use sluice_worker_bus::web::{now, sleep};
use sluice_worker_bus::{Bus, BusConfig, BusError};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{MessageChannel, ReadableStream, RegistrationOptions, ServiceWorkerRegistration, ServiceWorkerState};

use crate::download::Download;
use crate::error::SluiceError;

/// How [`Sluice::register`] sets up.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// URL of `sluice-sw.js` (or of the app's own service worker that imports it).
    pub service_worker: String,
    /// Registration scope; the service worker's directory when `None`.
    pub scope: Option<String>,
    /// Probe (`Auto`) or force a path.
    pub mode: ForcedMode,
    /// Window and chunk sizes of each download.
    pub flow: FlowConfig,
    /// How long to wait for the service worker's answers.
    pub timeout: Duration,
    /// How often to ping the service worker while a download is open (browsers stop idle
    /// service workers after ~30 s, even mid-download).
    pub keepalive: Duration,
    /// A download's URL expires if nobody requests it within this time (default 60 s).
    pub expire_after: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            service_worker: "./sluice-sw.js".into(),
            scope: None,
            mode: ForcedMode::Auto,
            flow: FlowConfig::default(),
            timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            expire_after: sluice_core::lease::DEFAULT_UNCLAIMED_TTL,
        }
    }
}

/// How a download reaches the browser's download manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// A hidden iframe opens the URL (removed when the download is done).
    #[default]
    Iframe,
    /// The page navigates to the URL.
    Navigate,
    /// The caller opens [`Download::url`] itself (e.g. `fetch` in tests).
    None,
}

pub(crate) type PageBus = Bus<WebEndpoint>;

pub(crate) struct Page {
    pub(crate) options: Options,
    registration: ServiceWorkerRegistration,
    pub(crate) scope: String,
    pub(crate) path: TransferPath,
    pub(crate) probe: Probe,
    bus: RefCell<PageBus>,
    downloads: RefCell<Vec<Weak<crate::download::Inner>>>,
    keepalive_running: Cell<bool>,
}

/// A registered, connected Sluice. Cheap to clone.
#[derive(Clone)]
pub struct Sluice {
    pub(crate) page: Rc<Page>,
}

impl std::fmt::Debug for Sluice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sluice").field("path", &self.page.path).field("scope", &self.page.scope).finish()
    }
}

pub(crate) fn window() -> Result<web_sys::Window, SluiceError> {
    web_sys::window().ok_or_else(|| SluiceError::Browser("Sluice's page side runs in a window".into()))
}

/// `navigator.serviceWorker`, if this context has one (secure, not hidden by private mode).
fn service_worker_container() -> Option<web_sys::ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    let container = Reflect::get(&navigator, &"serviceWorker".into()).ok()?;
    (!container.is_undefined() && !container.is_null()).then(|| container.unchecked_into())
}

/// Waits until the registration has an activated worker.
async fn active_worker(registration: &ServiceWorkerRegistration, timeout: Duration) -> Option<web_sys::ServiceWorker> {
    let deadline = now() + timeout;
    while now() < deadline {
        if let Some(worker) = registration.active().filter(|w| w.state() == ServiceWorkerState::Activated) {
            return Some(worker);
        }
        sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Opens a bus to the active service worker over a new `MessageChannel` and waits for its
/// answer to a ping (the ready handshake).
async fn connect(registration: &ServiceWorkerRegistration, options: &Options) -> Result<PageBus, SluiceError> {
    let worker = active_worker(registration, options.timeout).await.ok_or(Unsupported::NotActive)?;
    let channel = MessageChannel::new()?;
    let hello = Object::new();
    Reflect::set(&hello, &"sluice".into(), &"connect".into())?;
    worker.post_message_with_transferable(&hello, &js_sys::Array::of1(&channel.port2()))?;
    let config = BusConfig { request_timeout: options.timeout, ..BusConfig::default() };
    let bus = Bus::new(WebEndpoint::port(channel.port1()), config);
    match bus.request(Message::Ping { nonce: 0 }, None).await {
        Ok(_) => Ok(bus),
        Err(BusError::Timeout(_)) => Err(Unsupported::NotActive.into()),
        Err(e) => Err(e.into()),
    }
}

impl Sluice {
    /// Registers the service worker, waits for the ready handshake, probes and picks a path.
    pub async fn register(options: Options) -> Result<Sluice, SluiceError> {
        options.flow.validate().map_err(|e| SluiceError::Browser(e.to_string()))?;
        let container = service_worker_container().ok_or(Unsupported::NoServiceWorker)?;
        let registration_options = RegistrationOptions::new();
        if let Some(scope) = &options.scope {
            registration_options.set_scope(scope);
        }
        let registration =
            JsFuture::from(container.register_with_options(&options.service_worker, &registration_options))
                .await
                .map_err(|e| SluiceError::Registration(crate::js::describe(&e)))?;
        let registration: ServiceWorkerRegistration = registration.unchecked_into();
        let bus = connect(&registration, &options).await?;
        let probe = Probe {
            service_worker: true,
            registration_active: true,
            stream_transferable: stream_transferable(&bus, options.timeout).await,
            response_from_stream: response_from_stream(),
        };
        let path = decide(probe, options.mode).path()?;
        let page = Page {
            scope: registration.scope(),
            registration,
            options,
            path,
            probe,
            bus: RefCell::new(bus),
            downloads: RefCell::new(Vec::new()),
            keepalive_running: Cell::new(false),
        };
        Ok(Sluice { page: Rc::new(page) })
    }

    /// The path downloads take.
    pub fn mode(&self) -> TransferPath {
        self.page.path
    }

    /// What the probe found.
    pub fn probe(&self) -> Probe {
        self.page.probe
    }

    /// Starts a download of `meta`; write its bytes, then close it.
    pub fn create_download(&self, meta: FileMeta, trigger: Trigger) -> Result<Download, SluiceError> {
        sluice_core::response_headers(&meta)?;
        let id = DownloadId::random().map_err(|e| SluiceError::Browser(e.to_string()))?;
        let url = DownloadUrl::build(&self.page.scope, id, &sluice_core::sanitize_filename(&meta.name));
        Download::start(self.page.clone(), id, url, meta, trigger)
    }
}

/// Posts a `ReadableStream` to the service worker: WebKit throws `DataCloneError`.
async fn stream_transferable(bus: &PageBus, timeout: Duration) -> bool {
    let Ok(stream) = ReadableStream::new() else {
        return false;
    };
    bus.request_within(Message::Ping { nonce: 1 }, Some(stream.into()), timeout).await.is_ok()
}

fn response_from_stream() -> bool {
    ReadableStream::new().and_then(|stream| web_sys::Response::new_with_opt_readable_stream(Some(&stream))).is_ok()
}

impl Page {
    /// The bus, after checking the service worker still answers; a new connection (a new
    /// handshake) if it was stopped and restarted since.
    pub(crate) async fn live_bus(&self) -> Result<PageBus, SluiceError> {
        let bus = self.bus.borrow().clone();
        let quick = self.options.timeout.min(Duration::from_secs(2));
        if bus.request_within(Message::Ping { nonce: 2 }, None, quick).await.is_ok() {
            return Ok(bus);
        }
        let fresh = connect(&self.registration, &self.options).await?;
        *self.bus.borrow_mut() = fresh.clone();
        Ok(fresh)
    }

    /// Tracks an open download and keeps the service worker awake while any is open.
    pub(crate) fn track(self: &Rc<Self>, download: &Rc<crate::download::Inner>) {
        self.downloads.borrow_mut().push(Rc::downgrade(download));
        if !self.keepalive_running.replace(true) {
            spawn_local(keepalive(self.clone()));
        }
    }

    fn open_downloads(&self) -> Vec<Rc<crate::download::Inner>> {
        let mut downloads = self.downloads.borrow_mut();
        downloads.retain(|d| d.upgrade().is_some_and(|d| !d.is_finished()));
        downloads.iter().filter_map(Weak::upgrade).collect()
    }
}

/// Every `keepalive` while downloads are open: a message event for the service worker itself
/// (Firefox stops a worker 30 s after its last event, and messages on a `MessagePort` are not
/// events of the worker), and a ping over the bus: if the worker stops answering, every open
/// download fails instead of hanging.
async fn keepalive(page: Rc<Page>) {
    loop {
        sleep(page.options.keepalive).await;
        let open = page.open_downloads();
        if open.is_empty() {
            break;
        }
        if let Some(worker) = page.registration.active() {
            let message = Object::new();
            let _ = Reflect::set(&message, &"sluice".into(), &"keepalive".into());
            let _ = worker.post_message(&message);
        }
        let bus = page.bus.borrow().clone();
        if let Err(BusError::Timeout(after)) = bus.request(Message::Ping { nonce: 3 }, None).await {
            for download in page.open_downloads() {
                download.fail(SluiceError::ServiceWorkerGone(after));
            }
        }
    }
    page.keepalive_running.set(false);
}
