//! The messages to the service worker itself, beside the bus: `{ sluice: <kind>, ... }` that a
//! page (or a newer version of the worker) posts to the worker. Anything else is not Sluice's,
//! and decodes to `None`.

use crate::wire::{Sink, Source};

/// A message to the service worker itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToServiceWorker {
    /// With a port: a new connection for the page that sent it, over that port; `debug`: the
    /// worker logs at debug level from now on.
    Connect {
        /// Log at debug level.
        debug: bool,
    },
    /// With a port: which run of the worker answers, `{ sluiceInstance: <run> }` on the port (the
    /// message also starts a stopped worker).
    Run,
    /// With a port: the debug counters, on the port.
    Stats,
    /// From a newer version of the worker that installs: answer [`ToServiceWorker::TakeOver`]
    /// once no download runs here.
    Idle,
    /// To that newer version: no download runs any more, take over now.
    TakeOver,
    /// Bytes of a download flow: being an event of the worker is what keeps it running.
    Keepalive,
}

impl ToServiceWorker {
    /// The `sluice` field of each kind.
    fn kind(self) -> &'static str {
        match self {
            ToServiceWorker::Connect { .. } => "connect",
            ToServiceWorker::Run => "instance",
            ToServiceWorker::Stats => "stats",
            ToServiceWorker::Idle => "idle",
            ToServiceWorker::TakeOver => "take-over",
            ToServiceWorker::Keepalive => "keepalive",
        }
    }

    /// The message in `data`, if it is one of Sluice's.
    pub fn decode<S: Source>(data: &S) -> Option<Self> {
        let message = match data.field("sluice")?.text()?.as_str() {
            "connect" => {
                let level = data.field("logLevel").and_then(|level| level.text());
                ToServiceWorker::Connect { debug: level.as_deref() == Some("debug") }
            }
            "instance" => ToServiceWorker::Run,
            "stats" => ToServiceWorker::Stats,
            "idle" => ToServiceWorker::Idle,
            "take-over" => ToServiceWorker::TakeOver,
            "keepalive" => ToServiceWorker::Keepalive,
            _ => return None,
        };
        Some(message)
    }

    /// Writes the message as `postMessage` carries it.
    pub fn write(self, out: &mut impl Sink) {
        out.text("sluice", self.kind());
        if self == (ToServiceWorker::Connect { debug: true }) {
            out.text("logLevel", "debug");
        }
    }
}

/// What a worker asks of the page that handed it its Sluice, over the hand-off's port:
/// `{ sluice: <kind>, ... }`. A [`ToPage::Save`] also carries the file (`file`) and a port for
/// the answer (`reply`), which are the platform's objects, not this codec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToPage {
    /// A new port to the service worker (answered with a [`FromPage`] port answer).
    Port,
    /// Open a download's URL, as a navigation (`navigate`) or in an iframe.
    Open {
        /// The download's URL.
        url: String,
        /// Navigate the page instead of using an iframe.
        navigate: bool,
    },
    /// The download at `url` ended (`finished`: served whole): the page lets go of what opened it.
    Ended {
        /// The download's URL.
        url: String,
        /// Served whole.
        finished: bool,
    },
    /// Bytes flow: the page sends the service worker an event.
    Active,
    /// Hand a worker's finished file to the browser as `name` (`bytes` long); `staged`: its
    /// OPFS name, which the page takes over.
    Save {
        /// The file's name.
        name: String,
        /// Its length.
        bytes: u64,
        /// Its name in OPFS, if it is staged there.
        staged: Option<String>,
    },
    /// The worker's connection ended: the page stops serving it, and lets go of its downloads.
    Bye,
    /// The worker holds the Web Lock `lock` for as long as it lives: once the page is granted
    /// it, the worker is gone (terminated, or closed without a [`ToPage::Bye`]), and the page's
    /// serving of it ends as on a `Bye`.
    Alive {
        /// The lock's name.
        lock: String,
    },
}

/// The page's answers to a worker over the hand-off's port. A [`FromPage::Port`] also carries
/// the new port (`port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromPage {
    /// A new port to the service worker, whose registration's scope is `scope`.
    Port {
        /// The registration's scope.
        scope: String,
    },
    /// The page saves without a service worker: a worker saves on the rungs without one.
    Local,
    /// The page could not reach its service worker.
    PortFailed {
        /// Why.
        error: String,
    },
    /// The answer to a [`ToPage::Save`] (on its `reply` port): saved, or why not.
    Saved {
        /// Why not.
        error: Option<String>,
    },
}

impl ToPage {
    /// The message in `data`, if it is one.
    pub fn decode<S: Source>(data: &S) -> Option<Self> {
        let text_at = |key| data.field(key).and_then(|v| v.text());
        let flag_at = |key| data.field(key).and_then(|v| v.number()) == Some(1.0);
        let message = match data.field("sluice")?.text()?.as_str() {
            "port" => ToPage::Port,
            "open" => ToPage::Open { url: text_at("url")?, navigate: flag_at("navigate") },
            "ended" => ToPage::Ended { url: text_at("url")?, finished: flag_at("finished") },
            "active" => ToPage::Active,
            "save" => {
                let bytes = data.field("bytes")?.number()?;
                // Whole, and at most 2^53 - 1: what a JavaScript number holds exactly.
                if !(0.0..=crate::wire::MAX_SAFE_INTEGER as f64).contains(&bytes) || bytes.fract() != 0.0 {
                    return None;
                }
                ToPage::Save { name: text_at("name")?, bytes: bytes as u64, staged: text_at("staged") }
            }
            "bye" => ToPage::Bye,
            "alive" => ToPage::Alive { lock: text_at("lock")? },
            _ => return None,
        };
        Some(message)
    }

    /// Writes the message as `postMessage` carries it.
    pub fn write(&self, out: &mut impl Sink) {
        let kind = match self {
            ToPage::Port => "port",
            ToPage::Open { .. } => "open",
            ToPage::Ended { .. } => "ended",
            ToPage::Active => "active",
            ToPage::Save { .. } => "save",
            ToPage::Bye => "bye",
            ToPage::Alive { .. } => "alive",
        };
        out.text("sluice", kind);
        let flag = |on: bool| f64::from(u8::from(on));
        match self {
            ToPage::Open { url, navigate } => {
                out.text("url", url);
                out.number("navigate", flag(*navigate));
            }
            ToPage::Ended { url, finished } => {
                out.text("url", url);
                out.number("finished", flag(*finished));
            }
            ToPage::Save { name, bytes, staged } => {
                out.text("name", name);
                out.number("bytes", *bytes as f64);
                if let Some(staged) = staged {
                    out.text("staged", staged);
                }
            }
            ToPage::Alive { lock } => out.text("lock", lock),
            ToPage::Port | ToPage::Active | ToPage::Bye => {}
        }
    }
}

impl FromPage {
    /// The answer in `data`, if it is one.
    pub fn decode<S: Source>(data: &S) -> Option<Self> {
        let text_at = |key| data.field(key).and_then(|v| v.text());
        let message = match data.field("sluice")?.text()?.as_str() {
            "port" => match (text_at("error"), text_at("scope")) {
                (Some(error), _) => FromPage::PortFailed { error },
                (None, Some(scope)) => FromPage::Port { scope },
                (None, None) if data.field("local").and_then(|v| v.number()) == Some(1.0) => FromPage::Local,
                _ => return None,
            },
            "saved" => FromPage::Saved { error: text_at("error") },
            _ => return None,
        };
        Some(message)
    }

    /// Writes the answer as `postMessage` carries it.
    pub fn write(&self, out: &mut impl Sink) {
        match self {
            FromPage::Port { scope } => {
                out.text("sluice", "port");
                out.text("scope", scope);
            }
            FromPage::Local => {
                out.text("sluice", "port");
                out.number("local", 1.0);
            }
            FromPage::PortFailed { error } => {
                out.text("sluice", "port");
                out.text("error", error);
            }
            FromPage::Saved { error } => {
                out.text("sluice", "saved");
                if let Some(error) = error {
                    out.text("error", error);
                }
            }
        }
    }
}

/// The download URLs a page opened for a worker it serves (sans-IO): only this registration's
/// URLs are opened, and each one is let go of once, when the worker says it ended or when the
/// serving ends (the worker said [`ToPage::Bye`] or is gone), never twice and never one the
/// page did not open for it.
#[derive(Debug, Default)]
pub struct Opened {
    /// The service worker's scope; `None` where the page saves without one (nothing opens).
    scope: Option<String>,
    urls: Vec<String>,
}

impl Opened {
    /// For a page whose service worker has `scope` (`None`: none).
    pub fn new(scope: Option<String>) -> Opened {
        Opened { scope, urls: Vec::new() }
    }

    /// Whether the page opens `url` for the worker: one of its registration's download URLs.
    pub fn may_open(&self, url: &str) -> bool {
        self.scope.as_deref().is_some_and(|scope| crate::DownloadUrl::parse(scope, url).is_some())
    }

    /// The page opened `url`.
    pub fn handle_opened(&mut self, url: String) {
        self.urls.push(url);
    }

    /// The worker says `url` ended: whether the page opened it and lets go of it now.
    pub fn handle_ended(&mut self, url: &str) -> bool {
        let before = self.urls.len();
        self.urls.retain(|u| u != url);
        self.urls.len() < before
    }

    /// The serving ends: the URLs still open, to let go of (each once).
    pub fn end(&mut self) -> Vec<String> {
        std::mem::take(&mut self.urls)
    }
}
