//! `Sluice`: registration, the ready handshake, detection, and new downloads.

use std::rc::Rc;
use std::time::Duration;

use js_sys::Reflect;
use sluice_core::window::FlowConfig;
use sluice_core::wire::nonce;
use sluice_core::{
    capabilities, decide, for_download, DownloadId, DownloadUrl, FileMeta, ForcedMode, Message, Mode, Probe,
    Unsupported,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageChannel, MessagePort, ReadableStream, RegistrationOptions, ServiceWorkerRegistration};

use crate::args::{check_meta, Trigger};
use crate::connection::{self, Connected, ConnectionHandle, Host, ServiceWorkerBus, Timing};
use crate::download::{Download, Plan};
use crate::error::SluiceError;
use crate::handoff::PageLink;
use crate::local::{self, Target};
use crate::serve_worker;
use crate::zip::Zip;
use sluice_core::zip::ZipWriter;

/// How [`Sluice::register`] sets up.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// URL of `sluice-sw.js` (or of the app's own service worker that imports it).
    pub service_worker: String,
    /// Registration scope; the service worker's directory when `None`.
    pub scope: Option<String>,
    /// The best rung that works (`Auto`), or one rung only.
    pub mode: ForcedMode,
    /// Lets `Auto` take the save picker for a download created in a user gesture.
    pub picker: bool,
    /// The most bytes the `Blob` rung holds in memory (default 512 MiB).
    pub blob_limit: u64,
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
            picker: false,
            blob_limit: DEFAULT_BLOB_LIMIT,
            flow: FlowConfig::default(),
            timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            expire_after: sluice_core::lease::DEFAULT_UNCLAIMED_TTL,
            log_level: log::LevelFilter::Warn,
        }
    }
}

impl Options {
    /// The flow as [`FlowConfig::validate`] says; no time zero (a timeout of 0 would fail every
    /// answer, a keepalive of 0 ping without pause).
    fn validate(&self) -> Result<(), SluiceError> {
        self.flow.validate().map_err(|e| SluiceError::InvalidArgument(e.to_string()))?;
        for (name, time) in
            [("timeoutMs", self.timeout), ("keepaliveMs", self.keepalive), ("expireAfterMs", self.expire_after)]
        {
            if time.is_zero() {
                return Err(SluiceError::InvalidArgument(format!("options: {name} must be 1 or more, not 0")));
            }
        }
        Ok(())
    }
}

/// The default [`Options::blob_limit`]: 512 MiB.
pub const DEFAULT_BLOB_LIMIT: u64 = 512 << 20;

struct Setup {
    /// The service worker's scope (empty without one).
    scope: String,
    mode: Mode,
    forced: ForcedMode,
    picker: bool,
    blob_limit: u64,
    probe: Probe,
    /// What the service worker's registration or handshake said, where it failed.
    service_worker_failure: Option<String>,
    /// `close()` was called: no new downloads.
    closed: std::cell::Cell<bool>,
    flow: FlowConfig,
    expire_after: Duration,
    timing: Timing,
    /// The page's registration; `None` in a worker or without a service worker.
    registration: Option<ServiceWorkerRegistration>,
    /// In a worker: the page it was handed off from.
    page: Option<Rc<PageLink>>,
}

/// A registered, connected Sluice. Cheap to clone; clones share one connection, which ends
/// (saying goodbye to the service worker) when the last clone and download are gone, or on
/// [`Sluice::close`].
#[derive(Clone)]
pub struct Sluice {
    setup: Rc<Setup>,
    /// The connection to the service worker, on its rungs.
    connection: Option<ConnectionHandle>,
}

impl std::fmt::Debug for Sluice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sluice").field("mode", &self.setup.mode).field("scope", &self.setup.scope).finish()
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

/// A service worker that answered: its registration, the bus, and whether it answers
/// navigations under its scope.
struct Served {
    registration: ServiceWorkerRegistration,
    connected: Connected,
    intercepts: bool,
}

/// Registers the service worker, waits for the ready handshake, and checks that it answers a
/// navigation (the interception self-test).
async fn serve(container: &web_sys::ServiceWorkerContainer, options: &Options) -> Result<Served, SluiceError> {
    let registration_options = RegistrationOptions::new();
    if let Some(scope) = &options.scope {
        registration_options.set_scope(scope);
    }
    let registration = JsFuture::from(container.register_with_options(&options.service_worker, &registration_options))
        .await
        .map_err(|e| {
            SluiceError::Registration(format!(
                "{} (is sluice-sw.js at {}? Missing, it comes back as a 404 or a dev server's \
                 index.html; a scope must lie within the script's folder)",
                sluice_web::describe(&e),
                options.service_worker
            ))
        })?;
    let registration: ServiceWorkerRegistration = registration.unchecked_into();
    let connected = connection::connect(&registration, timing_of(options)).await?;
    let intercepts = connection::intercepts(&registration.scope(), options.timeout).await;
    Ok(Served { registration, connected, intercepts })
}

impl Sluice {
    /// Probes every rung and takes the best that works here (or the forced one): registers
    /// the service worker, waits for the ready handshake and checks that it answers
    /// navigations; probes the save picker and the origin-private file system. Fails only
    /// when a forced rung does not work (`unsupported`, or the registration's error).
    pub async fn register(options: Options) -> Result<Sluice, SluiceError> {
        sluice_web::install_diagnostics(options.log_level, report_panic);
        options.validate()?;
        crate::js_calls::keep_builtins();
        let document = web_sys::window().and_then(|w| w.document()).is_some();
        let mut probe = probe_local(document).await;
        let secure_context = probe.secure_context;
        let wants_service_worker = match options.mode {
            ForcedMode::Auto => true,
            ForcedMode::Only(mode) => mode.path().is_some(),
        };
        let mut failure = None;
        let mut served = None;
        if let Some(container) = service_worker_container().filter(|_| secure_context && wants_service_worker) {
            probe.service_worker = true;
            match serve(&container, &options).await {
                Ok(ok) => served = Some(ok),
                Err(e) => failure = Some(e),
            }
        }
        let (connected, registration, scope) = match served {
            Some(served) => {
                probe.registration_active = true;
                probe.intercepts = served.intercepts;
                probe.response_from_stream = response_from_stream();
                probe.stream_transferable = stream_transferable(&served.connected.bus, options.timeout).await;
                let scope = served.registration.scope();
                (Some(served.connected), Some(served.registration), scope)
            }
            None => (None, None, String::new()),
        };
        let served = connected.zip(registration.clone()).map(|(c, r)| (scope, c, Host::Page(r)));
        Sluice::take_rung(&options, probe, failure, served, registration, None)
    }

    /// Takes the best rung `probe` found (or the forced one), and starts the connection actor
    /// over `served` (the scope, a bus, and where the service worker is reached from) if that
    /// rung needs one.
    fn take_rung(
        options: &Options,
        probe: Probe,
        failure: Option<SluiceError>,
        served: Option<(String, Connected, Host)>,
        registration: Option<ServiceWorkerRegistration>,
        page: Option<Rc<PageLink>>,
    ) -> Result<Sluice, SluiceError> {
        let mode = choose(&probe, options.mode, &failure)?;
        let timing = timing_of(options);
        let (scope, connection) = match served {
            Some((scope, connected, host)) if mode.path().is_some() => {
                (scope, Some(connection::spawn(host, connected, timing)))
            }
            Some((scope, ..)) => (scope, None),
            None => (String::new(), None),
        };
        let setup = Setup {
            scope,
            mode,
            forced: options.mode,
            // The save picker is a page's (a worker has no user gesture).
            picker: options.picker && page.is_none(),
            blob_limit: options.blob_limit,
            probe,
            service_worker_failure: failure.map(|e| e.to_string()),
            closed: Default::default(),
            flow: options.flow,
            expire_after: options.expire_after,
            timing,
            registration,
            page,
        };
        Ok(Sluice { setup: Rc::new(setup), connection })
    }

    /// In a worker: probes its own rungs (the service worker's over the bus the page's port
    /// reached, if any; OPFS and `Blob`, whose files the page hands over), picks one, and starts
    /// the connection actor where it needs one.
    async fn start(
        options: &Options,
        page: Rc<PageLink>,
        served: Result<Option<(String, Connected)>, SluiceError>,
    ) -> Result<Sluice, SluiceError> {
        // The page hands the worker's files over: a document as good as its own.
        let mut probe = probe_local(true).await;
        let (served, failure) = match served {
            Ok(served) => (served, None),
            Err(e) => (None, Some(e)),
        };
        probe.service_worker = failure.is_some();
        if let Some((_, connected)) = &served {
            probe.service_worker = true;
            probe.registration_active = true;
            probe.intercepts = true;
            probe.stream_transferable = stream_transferable(&connected.bus, options.timeout).await;
            probe.response_from_stream = response_from_stream();
        }
        let served = served.map(|(scope, connected)| (scope, connected, Host::Worker(page.clone())));
        Sluice::take_rung(options, probe, failure, served, None, Some(page))
    }

    /// Hands this Sluice to a worker: transfer the port to it (`postMessage(msg, [port])`), and
    /// the worker calls [`Sluice::adopt`]. Its downloads then talk to the service worker
    /// directly; this page opens their URLs and keeps the service worker awake for them. On
    /// the rungs without a service worker, the worker saves and this page hands its files over.
    pub fn hand_off(&self) -> Result<MessagePort, SluiceError> {
        if self.setup.page.is_some() {
            return Err(SluiceError::InvalidArgument(
                "hand off from the page that registered Sluice, not from a worker".into(),
            ));
        }
        let service = match (&self.setup.registration, &self.connection) {
            (Some(registration), Some(connection)) => Some(serve_worker::Service {
                registration: registration.clone(),
                timing: self.setup.timing,
                connection: connection.clone(),
            }),
            _ => None,
        };
        let channel = MessageChannel::new()?;
        serve_worker::serve(channel.port1(), service);
        Ok(channel.port2())
    }

    /// In a dedicated or shared worker: Sluice over the port a page made with
    /// [`Sluice::hand_off`] (`service_worker` and `scope` of `options` are the page's and are
    /// not used here). Downloads created here are opened, or handed over, by that page.
    pub async fn adopt(port: MessagePort, options: Options) -> Result<Sluice, SluiceError> {
        sluice_web::install_diagnostics(options.log_level, report_panic);
        options.validate()?;
        let page = Rc::new(PageLink::new(port));
        if let Ok(id) = DownloadId::random() {
            let _ = page.hold_lock(&format!("sluice-worker-{id}"));
        }
        // A page that does not answer leaves no rung; a service worker that does not (or is
        // broken) leaves the worker's own rungs to `auto`.
        let served = match page.port(options.timeout).await {
            Ok(Some((port, scope))) => {
                connection::handshake(port, None, timing_of(&options)).await.map(|c| Some((scope, c)))
            }
            Ok(None) => Ok(None),
            Err(e @ SluiceError::Registration(_)) => Err(e),
            Err(e) => return Err(e),
        };
        Sluice::start(&options, page, served).await
    }

    /// The rung downloads take (outside a user gesture, where `picker` lets `Auto` take the picker).
    pub fn mode(&self) -> Mode {
        self.setup.mode
    }

    /// Every rung in ladder order, with why it does not work here.
    pub fn capabilities(&self) -> Vec<(Mode, Option<String>)> {
        let setup = &self.setup;
        capabilities(&setup.probe)
            .into_iter()
            .map(|rung| {
                let why = rung.unavailable.map(|why| match (&setup.service_worker_failure, why) {
                    (Some(failure), Unsupported::NotActive) => failure.clone(),
                    (None, Unsupported::NoServiceWorker | Unsupported::NotActive)
                        if setup.probe.secure_context && !matches!(setup.forced, ForcedMode::Auto) =>
                    {
                        "not tried: the app forced another rung".to_string()
                    }
                    _ => why.to_string(),
                });
                (rung.mode, why)
            })
            .collect()
    }

    /// What the probe found.
    pub fn probe(&self) -> Probe {
        self.setup.probe
    }

    /// Starts a zip archive named `name` (an `application/zip` download): add its entries,
    /// then close it. With `declared` entries (name and size, in the order they will be added),
    /// the archive's exact size is known before the first byte: it is the download's size.
    pub fn create_zip(
        &self,
        name: String,
        declared: Option<Vec<(String, u64)>>,
        trigger: Trigger,
    ) -> Result<Zip, SluiceError> {
        let size = match &declared {
            Some(entries) => Some(sluice_core::zip::archive_size(entries.iter().map(|(n, s)| (n.as_str(), *s)))?),
            None => None,
        };
        let writer = ZipWriter::new(declared)?;
        let meta = FileMeta { name, size, content_type: Some("application/zip".into()) };
        Ok(Zip::start(writer, self.create_download(meta, trigger)?, size))
    }

    /// Starts a download of `meta` on this Sluice's rung (the picker instead where the app
    /// opted in and the call runs in a user gesture); write its bytes, then close it.
    pub fn create_download(&self, meta: FileMeta, trigger: Trigger) -> Result<Download, SluiceError> {
        check_meta(&meta)?;
        if self.setup.closed.get() {
            return Err(SluiceError::SluiceClosed);
        }
        let id = DownloadId::random()
            .map_err(|_| SluiceError::Browser("crypto.getRandomValues failed: no id for the download".into()))?;
        let setup = &self.setup;
        let gesture = setup.picker && local::in_gesture();
        let mode = for_download(&setup.probe, setup.forced, setup.mode, setup.picker, gesture);
        let (url, target) = match mode {
            Mode::Transfer | Mode::Fallback if self.connection.is_none() => return Err(SluiceError::SluiceClosed),
            Mode::Transfer | Mode::Fallback => {
                (DownloadUrl::build(&setup.scope, id, &sluice_core::sanitize_filename(&meta.name)), None)
            }
            Mode::Picker => (String::new(), Some(Target::Picker(local::pick(&meta.name)?))),
            Mode::Opfs => (String::new(), Some(Target::Opfs)),
            Mode::Blob => (String::new(), Some(Target::Blob)),
        };
        let limit = |mode| (mode == Mode::Blob).then_some(setup.blob_limit);
        // Should the worker stop answering this page's navigations (found when the download
        // opens, after a new run of the worker), auto takes the next rung for this download.
        let next = match (mode.path(), setup.forced) {
            (Some(_), ForcedMode::Auto) => {
                let next = decide(&Probe { intercepts: false, ..setup.probe }, ForcedMode::Auto).unwrap_or(Mode::Blob);
                Some((next, if next == Mode::Opfs { Target::Opfs } else { Target::Blob }, limit(next)))
            }
            _ => None,
        };
        let plan = Plan {
            id,
            url,
            mode,
            target,
            limit: limit(mode),
            next,
            meta,
            trigger,
            flow: setup.flow,
            expire_after: setup.expire_after,
            page: setup.page.clone(),
            timeout: setup.timing.timeout,
        };
        Download::start(self.connection.clone(), plan)
    }

    /// Ends this Sluice: new downloads are refused (`closed`); the open ones over the service
    /// worker fail (`closed`), except those closed whose every byte went out, which go on until
    /// the service worker answers (`done` says what the browser got); saves on the other rungs
    /// finish.
    pub fn close(&self) {
        self.setup.closed.set(true);
        if let Some(connection) = &self.connection {
            connection.close();
        }
    }
}

/// The rungs without a service worker, probed here (`document`: a page to hand files over from).
async fn probe_local(document: bool) -> Probe {
    let secure_context =
        Reflect::get(&js_sys::global(), &"isSecureContext".into()).ok().and_then(|v| v.as_bool()) == Some(true);
    let picker = secure_context && local::has_picker();
    let opfs = secure_context && local::probe_opfs().await;
    Probe { document, secure_context, picker, opfs, ..Probe::default() }
}

/// The rung `forced` takes after `probe`; a forced service-worker rung that failed gets the
/// service worker's own error (`failure`), which says most.
fn choose(probe: &Probe, forced: ForcedMode, failure: &Option<SluiceError>) -> Result<Mode, SluiceError> {
    let mode = match (decide(probe, forced), failure) {
        (Ok(mode), _) => mode,
        (Err(Unsupported::NotActive), Some(e)) => return Err(e.clone()),
        (Err(why), _) => return Err(why.into()),
    };
    if let Some(e) = failure {
        log::warn!("the service worker cannot save here ({e}); saving through {}", mode.name());
    }
    Ok(mode)
}

fn timing_of(options: &Options) -> Timing {
    Timing {
        timeout: options.timeout,
        keepalive: options.keepalive,
        debug: options.log_level >= log::LevelFilter::Debug,
    }
}

/// Posts a `ReadableStream` to the service worker: WebKit throws `DataCloneError`.
async fn stream_transferable(bus: &ServiceWorkerBus, timeout: Duration) -> bool {
    let Ok(stream) = ReadableStream::new() else {
        return false;
    };
    bus.request_within(Message::Ping { nonce: nonce::TRANSFER_PROBE }, Some(stream.into()), timeout).await.is_ok()
}

fn response_from_stream() -> bool {
    ReadableStream::new().and_then(|stream| web_sys::Response::new_with_opt_readable_stream(Some(&stream))).is_ok()
}
