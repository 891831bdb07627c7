//! `Sluice`: registration, the ready handshake, detection, and new downloads.

use std::rc::Rc;
use std::time::Duration;

use js_sys::Reflect;
use sluice_core::window::FlowConfig;
use sluice_core::{decide, DownloadId, DownloadUrl, FileMeta, ForcedMode, Message, Probe, TransferPath, Unsupported};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageChannel, MessagePort, ReadableStream, RegistrationOptions, ServiceWorkerRegistration};

use crate::args::{check_meta, Trigger};
use crate::connection::{self, Connected, ConnectionHandle, Host, PageBus, Timing};
use crate::download::{Download, Plan};
use crate::error::SluiceError;
use crate::handoff::{self, PageLink};

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
    /// Sluice's messages on the console at this level and up (default: warnings).
    pub log_level: log::LevelFilter,
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
            log_level: log::LevelFilter::Warn,
        }
    }
}

struct Setup {
    scope: String,
    path: TransferPath,
    probe: Probe,
    flow: FlowConfig,
    expire_after: Duration,
    timing: Timing,
    /// The page's registration; `None` in a worker.
    registration: Option<ServiceWorkerRegistration>,
}

/// A registered, connected Sluice. Cheap to clone; clones share one connection, which ends
/// (saying goodbye to the service worker) when the last clone and download are gone, or on
/// [`Sluice::close`].
#[derive(Clone)]
pub struct Sluice {
    setup: Rc<Setup>,
    connection: ConnectionHandle,
}

impl std::fmt::Debug for Sluice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sluice").field("path", &self.setup.path).field("scope", &self.setup.scope).finish()
    }
}

/// `navigator.serviceWorker`, if this context has one (secure, not hidden by private mode).
fn service_worker_container() -> Option<web_sys::ServiceWorkerContainer> {
    let navigator = web_sys::window()?.navigator();
    let container = Reflect::get(&navigator, &"serviceWorker".into()).ok()?;
    (!container.is_undefined() && !container.is_null()).then(|| container.unchecked_into())
}

/// A panic reaches the page as an uncaught error (`reportError`), not a silent trap.
fn report_panic(message: &str) {
    let global = js_sys::global();
    if let Ok(report) = Reflect::get(&global, &"reportError".into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
        let _ = report.call1(&global, &js_sys::Error::new(message));
    }
}

impl Sluice {
    /// Registers the service worker, waits for the ready handshake, probes and picks a path.
    pub async fn register(options: Options) -> Result<Sluice, SluiceError> {
        sluice_worker_bus::web::install_diagnostics(options.log_level, report_panic);
        options.flow.validate().map_err(|e| SluiceError::InvalidArgument(e.to_string()))?;
        let container = service_worker_container().ok_or(Unsupported::NoServiceWorker)?;
        let registration_options = RegistrationOptions::new();
        if let Some(scope) = &options.scope {
            registration_options.set_scope(scope);
        }
        let registration =
            JsFuture::from(container.register_with_options(&options.service_worker, &registration_options))
                .await
                .map_err(|e| SluiceError::Registration(sluice_worker_bus::web::describe(&e)))?;
        let registration: ServiceWorkerRegistration = registration.unchecked_into();
        let timing = timing_of(&options);
        let connected = connection::connect(&registration, timing).await?;
        let scope = registration.scope();
        Sluice::start(&options, Host::Page(registration), scope, connected).await
    }

    /// Probes over the bus that just answered, picks a path, and starts the connection actor.
    async fn start(options: &Options, host: Host, scope: String, connected: Connected) -> Result<Sluice, SluiceError> {
        let probe = Probe {
            service_worker: true,
            registration_active: true,
            stream_transferable: stream_transferable(&connected.bus, options.timeout).await,
            response_from_stream: response_from_stream(),
        };
        let path = decide(probe, options.mode).path()?;
        let timing = timing_of(options);
        let registration = match &host {
            Host::Page(registration) => Some(registration.clone()),
            Host::Worker(_) => None,
        };
        let setup =
            Setup { scope, path, probe, flow: options.flow, expire_after: options.expire_after, timing, registration };
        let connection = connection::spawn(host, connected, timing);
        Ok(Sluice { setup: Rc::new(setup), connection })
    }

    /// Hands this Sluice to a worker: transfer the port to it (`postMessage(msg, [port])`), and
    /// the worker calls [`Sluice::adopt`]. Its downloads then talk to the service worker
    /// directly; this page opens their URLs and keeps the service worker awake for them.
    pub fn hand_off(&self) -> Result<MessagePort, SluiceError> {
        let registration = self.setup.registration.clone().ok_or_else(|| {
            SluiceError::InvalidArgument("hand off from the page that registered Sluice, not from a worker".into())
        })?;
        let channel = MessageChannel::new()?;
        handoff::serve(channel.port1(), registration, self.setup.timing, self.connection.clone());
        Ok(channel.port2())
    }

    /// In a dedicated or shared worker: Sluice over the port a page made with
    /// [`Sluice::hand_off`] (`service_worker` and `scope` of `options` are the page's and are
    /// not used here). Downloads created here are opened by that page.
    pub async fn adopt(port: MessagePort, options: Options) -> Result<Sluice, SluiceError> {
        sluice_worker_bus::web::install_diagnostics(options.log_level, report_panic);
        options.flow.validate().map_err(|e| SluiceError::InvalidArgument(e.to_string()))?;
        let page = PageLink::new(port);
        let (port, scope) = page.port(options.timeout).await?;
        let connected = connection::handshake(port, None, timing_of(&options)).await?;
        Sluice::start(&options, Host::Worker(page), scope, connected).await
    }

    /// The path downloads take.
    pub fn mode(&self) -> TransferPath {
        self.setup.path
    }

    /// What the probe found.
    pub fn probe(&self) -> Probe {
        self.setup.probe
    }

    /// Starts a download of `meta`; write its bytes, then close it.
    pub fn create_download(&self, meta: FileMeta, trigger: Trigger) -> Result<Download, SluiceError> {
        check_meta(&meta)?;
        let id = DownloadId::random().map_err(|e| SluiceError::Browser(e.to_string()))?;
        let url = DownloadUrl::build(&self.setup.scope, id, &sluice_core::sanitize_filename(&meta.name));
        let plan = Plan {
            id,
            url,
            path: self.setup.path,
            meta,
            trigger,
            flow: self.setup.flow,
            expire_after: self.setup.expire_after,
        };
        Download::start(self.connection.clone(), plan)
    }

    /// Ends this Sluice's connection: open downloads fail (`closed`), new ones are refused,
    /// and the service worker forgets the connection.
    pub fn close(&self) {
        self.connection.close();
    }
}

fn timing_of(options: &Options) -> Timing {
    Timing {
        timeout: options.timeout,
        keepalive: options.keepalive,
        debug: options.log_level >= log::LevelFilter::Debug,
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
