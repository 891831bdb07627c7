//! Which path a browser gets, decided from what was probed (never from the user agent).

/// How the bytes reach the service worker's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferPath {
    /// The page transfers a `ReadableStream` to the service worker, which responds with it.
    Transfer,
    /// The service worker builds the stream and pulls chunks from the page over the bus.
    Fallback,
}

/// What the page found out about the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Probe {
    /// `navigator.serviceWorker` exists (secure context, not a private mode that hides it).
    pub service_worker: bool,
    /// The registration has an active worker that answered the ready handshake.
    pub registration_active: bool,
    /// Posting a `ReadableStream` to the service worker in a transfer list did not throw.
    pub stream_transferable: bool,
    /// `new Response(readableStream)` works.
    pub response_from_stream: bool,
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForcedMode {
    /// Take the transfer path where it works, the fallback path elsewhere.
    #[default]
    Auto,
    /// The transfer path or nothing (tests, benchmarks).
    Transfer,
    /// The fallback path even where transfer works (tests, benchmarks).
    Fallback,
}

/// Why Sluice cannot work in this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// No service workers (insecure context, private mode, or disabled).
    #[error("service workers are not available (an insecure context or a private window?)")]
    NoServiceWorker,
    /// The service worker never became active or did not answer.
    #[error("the service worker is not active or did not answer the ready handshake")]
    NotActive,
    /// Streams cannot be a response body here.
    #[error("this browser cannot build a Response from a ReadableStream")]
    NoStreamResponse,
    /// The transfer path was forced but streams cannot be transferred here.
    #[error("the transfer path was forced, but this browser cannot transfer a ReadableStream")]
    TransferUnavailable,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Use the transfer path.
    Transfer,
    /// Use the fallback path.
    Fallback,
    /// Sluice cannot run here.
    Unsupported(Unsupported),
}

impl Capability {
    /// The chosen path, or why there is none.
    pub fn path(self) -> Result<TransferPath, Unsupported> {
        match self {
            Capability::Transfer => Ok(TransferPath::Transfer),
            Capability::Fallback => Ok(TransferPath::Fallback),
            Capability::Unsupported(reason) => Err(reason),
        }
    }
}

/// Decides the path from the probe results and the requested mode.
pub fn decide(probe: Probe, mode: ForcedMode) -> Capability {
    if !probe.service_worker {
        return Capability::Unsupported(Unsupported::NoServiceWorker);
    }
    if !probe.registration_active {
        return Capability::Unsupported(Unsupported::NotActive);
    }
    if !probe.response_from_stream {
        return Capability::Unsupported(Unsupported::NoStreamResponse);
    }
    match (mode, probe.stream_transferable) {
        (ForcedMode::Fallback, _) | (ForcedMode::Auto, false) => Capability::Fallback,
        (ForcedMode::Auto | ForcedMode::Transfer, true) => Capability::Transfer,
        (ForcedMode::Transfer, false) => Capability::Unsupported(Unsupported::TransferUnavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Probe = Probe {
        service_worker: true,
        registration_active: true,
        stream_transferable: true,
        response_from_stream: true,
    };

    #[test]
    fn decisions() {
        let webkit = Probe { stream_transferable: false, ..ALL };
        assert_eq!(decide(ALL, ForcedMode::Auto), Capability::Transfer);
        assert_eq!(decide(webkit, ForcedMode::Auto), Capability::Fallback);
        assert_eq!(decide(ALL, ForcedMode::Fallback), Capability::Fallback);
        assert_eq!(decide(webkit, ForcedMode::Fallback), Capability::Fallback);
        assert_eq!(decide(ALL, ForcedMode::Transfer), Capability::Transfer);
        assert_eq!(decide(webkit, ForcedMode::Transfer), Capability::Unsupported(Unsupported::TransferUnavailable));
        assert_eq!(
            decide(Probe::default(), ForcedMode::Fallback),
            Capability::Unsupported(Unsupported::NoServiceWorker)
        );
        assert_eq!(
            decide(Probe { registration_active: false, ..ALL }, ForcedMode::Auto),
            Capability::Unsupported(Unsupported::NotActive)
        );
        assert_eq!(
            decide(Probe { response_from_stream: false, ..ALL }, ForcedMode::Auto).path(),
            Err(Unsupported::NoStreamResponse)
        );
    }
}
