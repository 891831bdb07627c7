//! The ladder of ways to save, and which rung a browser gets, decided from what was probed
//! (never from the user agent).

/// How the bytes reach the service worker's response (the two service-worker rungs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferPath {
    /// The page transfers a `ReadableStream` to the service worker, which responds with it.
    Transfer,
    /// The service worker builds the stream and pulls chunks from the page over the bus.
    Fallback,
}

/// A way to save: a rung of the ladder, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// `showSaveFilePicker`: straight into the file the user picks (needs a user gesture).
    Picker,
    /// The service worker responds with a stream the page transferred to it.
    Transfer,
    /// The service worker builds the stream and pulls chunks from the page.
    Fallback,
    /// Staged in the origin-private file system, then handed to the browser as a disk-backed file.
    Opfs,
    /// Gathered in memory up to a limit, then handed to the browser as a `Blob`.
    Blob,
}

impl Mode {
    /// Every rung, in ladder order.
    pub const LADDER: [Mode; 5] = [Mode::Picker, Mode::Transfer, Mode::Fallback, Mode::Opfs, Mode::Blob];

    /// The rungs `auto` takes, best first (the picker aside: see [`for_download`]). Not `Transfer`:
    /// `Fallback` works wherever it does, and is not slower (Chromium 1.1-1.7x faster, Firefox
    /// 0.94-1.12x: BENCHMARKS.md); it stays for callers who ask for it.
    pub const AUTO: [Mode; 3] = [Mode::Fallback, Mode::Opfs, Mode::Blob];

    /// The rung's name in the API (`'picker'`, `'transfer'`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Picker => "picker",
            Mode::Transfer => "transfer",
            Mode::Fallback => "fallback",
            Mode::Opfs => "opfs",
            Mode::Blob => "blob",
        }
    }

    /// The rung named `name`, if one is.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::LADDER.into_iter().find(|m| m.name() == name)
    }

    /// The service-worker path of this rung, if it is one.
    pub fn path(self) -> Option<TransferPath> {
        match self {
            Mode::Transfer => Some(TransferPath::Transfer),
            Mode::Fallback => Some(TransferPath::Fallback),
            _ => None,
        }
    }
}

/// What the page found out about the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Probe {
    /// A page's document: the rungs without a service worker hand the file over from it.
    pub document: bool,
    /// `isSecureContext`: service workers, the origin-private file system and the picker need it.
    pub secure_context: bool,
    /// `navigator.serviceWorker` exists (not switched off, not hidden by a private mode).
    pub service_worker: bool,
    /// The registration has an active worker that answered the ready handshake.
    pub registration_active: bool,
    /// Posting a `ReadableStream` to the service worker in a transfer list did not throw.
    pub stream_transferable: bool,
    /// `new Response(readableStream)` works.
    pub response_from_stream: bool,
    /// The service worker answered a navigation under its scope (the interception self-test).
    pub intercepts: bool,
    /// `showSaveFilePicker` exists.
    pub picker: bool,
    /// The origin-private file system gives writable files (`navigator.storage.getDirectory`
    /// and `createWritable`).
    pub opfs: bool,
}

/// What the caller asks for: the best rung that works, or one rung only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForcedMode {
    /// The best rung that works (the picker only when the app opts in and a gesture runs).
    #[default]
    Auto,
    /// This rung or an `unsupported` error.
    Only(Mode),
}

/// Why a rung cannot save here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// Plain `http://` from a name other than localhost.
    #[error("not a secure context (plain http:// from a name other than localhost)")]
    InsecureContext,
    /// No `navigator.serviceWorker` in a secure context.
    #[error("service workers are switched off or hidden here")]
    NoServiceWorker,
    /// The service worker never became active or did not answer.
    #[error("the service worker did not register or did not answer the ready handshake")]
    NotActive,
    /// Streams cannot be a response body here.
    #[error("this browser cannot build a Response from a ReadableStream")]
    NoStreamResponse,
    /// Streams cannot be transferred to the service worker here.
    #[error("this browser cannot transfer a ReadableStream to the service worker")]
    TransferUnavailable,
    /// The service worker does not answer a navigation under its scope.
    #[error("the service worker does not answer navigations here (a hard reload, or bypass for network?)")]
    NotIntercepted,
    /// No `showSaveFilePicker`.
    #[error("this browser has no save picker (showSaveFilePicker)")]
    NoPicker,
    /// No writable files in the origin-private file system.
    #[error("this browser has no origin-private file system with writable files")]
    NoOpfs,
    /// A worker has no document to hand a file over from.
    #[error("a worker has no page to hand the file to the browser from")]
    NoDocument,
}

/// A rung as the API shows it: whether it works here, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// The way to save.
    pub mode: Mode,
    /// `None` where it works; else why not.
    pub unavailable: Option<Unsupported>,
}

/// Why `mode` cannot save given `probe`, or `None` if it can.
pub fn why_not(probe: &Probe, mode: Mode) -> Option<Unsupported> {
    let checks: &[(bool, Unsupported)] = match mode {
        Mode::Blob => &[(probe.document, Unsupported::NoDocument)],
        Mode::Picker => &[
            (probe.document, Unsupported::NoDocument),
            (probe.secure_context, Unsupported::InsecureContext),
            (probe.picker, Unsupported::NoPicker),
        ],
        Mode::Opfs => &[
            (probe.document, Unsupported::NoDocument),
            (probe.secure_context, Unsupported::InsecureContext),
            (probe.opfs, Unsupported::NoOpfs),
        ],
        Mode::Transfer | Mode::Fallback => &[
            (probe.secure_context, Unsupported::InsecureContext),
            (probe.service_worker, Unsupported::NoServiceWorker),
            (probe.registration_active, Unsupported::NotActive),
            (probe.response_from_stream, Unsupported::NoStreamResponse),
            (probe.intercepts, Unsupported::NotIntercepted),
            (mode == Mode::Fallback || probe.stream_transferable, Unsupported::TransferUnavailable),
        ],
    };
    checks.iter().find(|(ok, _)| !ok).map(|&(_, why)| why)
}

/// Every rung in ladder order, with why it does not work here.
pub fn capabilities(probe: &Probe) -> [Rung; 5] {
    Mode::LADDER.map(|mode| Rung { mode, unavailable: why_not(probe, mode) })
}

/// The rung downloads take: the forced one if it works (else why not), or the first of
/// [`Mode::AUTO`] that works, the picker excepted (it needs a gesture: see [`for_download`]). In a page `Blob`
/// always works; in a worker only the service worker's rungs do.
pub fn decide(probe: &Probe, mode: ForcedMode) -> Result<Mode, Unsupported> {
    let mode = match mode {
        ForcedMode::Only(mode) => mode,
        ForcedMode::Auto => Mode::AUTO.into_iter().find(|&m| why_not(probe, m).is_none()).unwrap_or(Mode::Blob),
    };
    why_not(probe, mode).map_or(Ok(mode), Err)
}

/// The rung one download takes, where `mode` is what [`decide`] gave: the picker when the app
/// opted in (`picker`), asked for `auto`, the call runs in a user gesture and the picker works.
pub fn for_download(probe: &Probe, forced: ForcedMode, mode: Mode, picker: bool, gesture: bool) -> Mode {
    let pick = forced == ForcedMode::Auto && picker && gesture && why_not(probe, Mode::Picker).is_none();
    if pick {
        Mode::Picker
    } else {
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Probe = Probe {
        document: true,
        secure_context: true,
        service_worker: true,
        registration_active: true,
        stream_transferable: true,
        response_from_stream: true,
        intercepts: true,
        picker: true,
        opfs: true,
    };

    #[test]
    fn auto_takes_the_best_rung_that_works() {
        let webkit = Probe { stream_transferable: false, picker: false, opfs: false, ..ALL };
        assert_eq!(decide(&ALL, ForcedMode::Auto), Ok(Mode::Fallback));
        assert_eq!(decide(&webkit, ForcedMode::Auto), Ok(Mode::Fallback));
        assert_eq!(decide(&ALL, ForcedMode::Only(Mode::Transfer)), Ok(Mode::Transfer));
        let no_sw = Probe { service_worker: false, registration_active: false, ..ALL };
        assert_eq!(decide(&no_sw, ForcedMode::Auto), Ok(Mode::Opfs));
        let bypassed = Probe { intercepts: false, ..ALL };
        assert_eq!(decide(&bypassed, ForcedMode::Auto), Ok(Mode::Opfs));
        let insecure = Probe { secure_context: false, ..ALL };
        assert_eq!(decide(&insecure, ForcedMode::Auto), Ok(Mode::Blob));
        assert_eq!(decide(&Probe { document: true, ..Probe::default() }, ForcedMode::Auto), Ok(Mode::Blob));
    }

    #[test]
    fn a_worker_saves_only_through_the_service_worker() {
        let worker = Probe { document: false, ..ALL };
        assert_eq!(decide(&worker, ForcedMode::Auto), Ok(Mode::Fallback));
        for mode in [Mode::Picker, Mode::Opfs, Mode::Blob] {
            assert_eq!(decide(&worker, ForcedMode::Only(mode)), Err(Unsupported::NoDocument), "{mode:?}");
        }
        let no_stream_body = Probe { response_from_stream: false, ..worker };
        assert_eq!(decide(&no_stream_body, ForcedMode::Auto), Err(Unsupported::NoDocument));
    }

    #[test]
    fn a_forced_rung_works_or_says_why_not() {
        let webkit = Probe { stream_transferable: false, ..ALL };
        assert_eq!(decide(&ALL, ForcedMode::Only(Mode::Fallback)), Ok(Mode::Fallback));
        assert_eq!(decide(&webkit, ForcedMode::Only(Mode::Transfer)), Err(Unsupported::TransferUnavailable));
        assert_eq!(decide(&ALL, ForcedMode::Only(Mode::Picker)), Ok(Mode::Picker));
        let insecure = Probe { secure_context: false, ..ALL };
        for mode in [Mode::Picker, Mode::Transfer, Mode::Fallback, Mode::Opfs] {
            assert_eq!(decide(&insecure, ForcedMode::Only(mode)), Err(Unsupported::InsecureContext), "{mode:?}");
        }
        assert_eq!(decide(&insecure, ForcedMode::Only(Mode::Blob)), Ok(Mode::Blob));
        let off = Probe { service_worker: false, ..ALL };
        assert_eq!(decide(&off, ForcedMode::Only(Mode::Fallback)), Err(Unsupported::NoServiceWorker));
        let inactive = Probe { registration_active: false, ..ALL };
        assert_eq!(decide(&inactive, ForcedMode::Only(Mode::Transfer)), Err(Unsupported::NotActive));
        let no_body = Probe { response_from_stream: false, ..ALL };
        assert_eq!(decide(&no_body, ForcedMode::Only(Mode::Fallback)), Err(Unsupported::NoStreamResponse));
        assert_eq!(decide(&Probe { opfs: false, ..ALL }, ForcedMode::Only(Mode::Opfs)), Err(Unsupported::NoOpfs));
        assert_eq!(decide(&Probe { picker: false, ..ALL }, ForcedMode::Only(Mode::Picker)), Err(Unsupported::NoPicker));
    }

    #[test]
    fn capabilities_list_every_rung_in_order() {
        let rungs = capabilities(&Probe { secure_context: false, ..ALL });
        assert_eq!(rungs.map(|r| r.mode), Mode::LADDER);
        assert!(rungs[..4].iter().all(|r| r.unavailable == Some(Unsupported::InsecureContext)));
        assert_eq!(rungs[4].unavailable, None);
        for mode in Mode::LADDER {
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(Mode::from_name("auto"), None);
    }

    #[test]
    fn the_picker_only_in_a_gesture_when_the_app_opted_in() {
        let auto = ForcedMode::Auto;
        assert_eq!(for_download(&ALL, auto, Mode::Fallback, true, true), Mode::Picker);
        assert_eq!(for_download(&ALL, auto, Mode::Fallback, false, true), Mode::Fallback);
        assert_eq!(for_download(&ALL, auto, Mode::Fallback, true, false), Mode::Fallback);
        let no_picker = Probe { picker: false, ..ALL };
        assert_eq!(for_download(&no_picker, auto, Mode::Fallback, true, true), Mode::Fallback);
        let forced = ForcedMode::Only(Mode::Opfs);
        assert_eq!(for_download(&ALL, forced, Mode::Opfs, true, true), Mode::Opfs);
    }
}
