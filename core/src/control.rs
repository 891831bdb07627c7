//! The messages to the service worker itself, beside the bus: `{ sluice: <kind>, ... }` that a
//! page (or a newer version of the worker) posts to the worker. Anything else is not Sluice's,
//! and decodes to `None`.

use crate::wire::{Source, Value};

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

    /// The message as `postMessage` carries it.
    pub fn encode(self) -> Value {
        let mut fields = vec![("sluice", Value::Text(self.kind().into()))];
        if self == (ToServiceWorker::Connect { debug: true }) {
            fields.push(("logLevel", Value::Text("debug".into())));
        }
        Value::Object(fields)
    }
}
