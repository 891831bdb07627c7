//! The messages that cross `postMessage` between page and service worker.
//!
//! Every frame is `{ v, body }`: `v` is [`WIRE_VERSION`], `body` an [`Envelope`] of the bus that
//! carries a download-protocol [`Message`]. Bytes of a chunk and a transferred `ReadableStream`
//! travel beside the frame (in the same `postMessage`, in its transfer list), never inside it.
//!
//! [`Frame::encode`] gives the plain object a frame travels as; [`Frame::decode`] reads one from
//! any [`Source`] (a JavaScript object on the web, a JSON value in tests), checks the version
//! first, then the shape, then the limits, and never panics.

use crate::capability::TransferPath;
use crate::id::DownloadId;

/// The version of this wire format. Page and service worker of different versions refuse
/// each other with [`DecodeError::VersionMismatch`].
pub const WIRE_VERSION: u32 = 2;

/// The largest integer both sides represent exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The longest an unclaimed download URL may wait for its request (24 h).
pub const MAX_EXPIRE_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// Longest reason, error text or file name carried on the wire, in bytes.
pub const MAX_TEXT_BYTES: usize = 4096;

/// Longest text a decoder takes from any received value, in UTF-16 units (a control message's
/// URL holds a percent-encoded file name): a longer one is cut before it is copied.
pub const MAX_RECEIVED_TEXT: usize = 65536;

/// How deep a received frame may nest (the deepest, an `Open`'s `meta`, is 4 levels down):
/// checked before decoding, so that no walk of a hostile value can go deeper.
pub const MAX_FRAME_DEPTH: usize = 6;

/// How many values (objects, fields, array items) a received frame may hold; an `Open` has 20.
pub const MAX_FRAME_VALUES: usize = 64;

/// One `postMessage` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Always [`WIRE_VERSION`] when sent by this build.
    pub v: u32,
    /// What the frame carries.
    pub body: Envelope,
}

/// The bus layer: who is talking and which request an answer belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// First frame on a new channel; the frame's `v` is the sender's wire version. Answered
    /// with [`Envelope::Welcome`].
    Hello,
    /// The answer to [`Envelope::Hello`]: the peer is there and speaks this version.
    Welcome,
    /// A message that expects no answer.
    Tell {
        /// The message.
        msg: Message,
    },
    /// A message that expects exactly one [`Envelope::Reply`] with the same `req`.
    Request {
        /// Correlates the reply.
        req: RequestId,
        /// The message.
        msg: Message,
    },
    /// The answer to the request `req`.
    Reply {
        /// The request answered.
        req: RequestId,
        /// The answer ([`Message::Ack`], [`Message::Error`], ...).
        msg: Message,
    },
}

/// A request id: a slot in the requester's table plus the slot's generation, so that a late
/// reply never resolves a newer request that reused the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId {
    /// Slot index.
    pub slot: u32,
    /// How many times the slot was used before.
    pub generation: u32,
}

/// What a download is: shown to the browser through the response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// File name as the app gave it (sanitized when headers are built).
    pub name: String,
    /// Size in bytes, when known; the download fails if a different count arrives.
    pub size: Option<u64>,
    /// MIME type, `application/octet-stream` when absent.
    pub content_type: Option<String>,
}

/// What each [`Message::Ping`] of Sluice is for, by its nonce (the peer only echoes it back;
/// the nonce tells the pings apart in logs and tests).
pub mod nonce {
    /// The ready handshake of a new bus.
    pub const HANDSHAKE: u64 = 0;
    /// The transfer probe: a `ReadableStream` travels beside it.
    pub const TRANSFER_PROBE: u64 = 1;
    /// The page's check of its current bus before a download goes over it.
    pub const ATTACH_CHECK: u64 = 2;
    /// The page's keepalive round.
    pub const KEEPALIVE: u64 = 3;
    /// The service worker's watch over a page with downloads open.
    pub const WATCH: u64 = 4;
}

/// The download protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Page -> service worker: serve a new download (on the transfer path the
    /// `ReadableStream` travels beside the frame).
    Open {
        /// The download.
        id: DownloadId,
        /// Its file metadata.
        meta: FileMeta,
        /// Which path the bytes take.
        path: TransferPath,
        /// Window the page asks for: at most this many chunks in flight.
        window_chunks: u32,
        /// Window the page asks for: at most this many bytes in flight.
        window_bytes: u64,
        /// The URL expires if nobody requests it within this many milliseconds.
        expire_after_ms: u64,
    },
    /// Service worker -> page: the page may send `chunks` more chunks of `bytes` more bytes.
    Grant {
        /// The download.
        id: DownloadId,
        /// Additional chunks allowed.
        chunks: u32,
        /// Additional bytes allowed.
        bytes: u64,
    },
    /// Page -> service worker: a chunk header; its bytes are a transferred `ArrayBuffer`
    /// beside the frame.
    Chunk {
        /// The download.
        id: DownloadId,
        /// 0, 1, 2, ... per download.
        seq: u64,
        /// Byte length of the chunk.
        len: u32,
    },
    /// Page -> service worker: no more bytes; `total` were sent.
    Close {
        /// The download.
        id: DownloadId,
        /// Bytes sent in all.
        total: u64,
    },
    /// Page -> service worker: the producer failed; the download must fail.
    Abort {
        /// The download.
        id: DownloadId,
        /// Why.
        reason: String,
    },
    /// Service worker -> page: the consumer (user, reader) stopped the download.
    Cancel {
        /// The download.
        id: DownloadId,
        /// Why.
        reason: String,
    },
    /// Service worker -> page: every byte (`total`) was handed to the browser; the download
    /// is complete.
    Done {
        /// The download.
        id: DownloadId,
        /// Bytes served.
        total: u64,
    },
    /// Liveness probe; answered with [`Message::Pong`] carrying the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// Answer to [`Message::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Page -> service worker: this connection ends; its downloads fail.
    Bye,
    /// Positive answer to a request that returns nothing else.
    Ack,
    /// Negative answer, or a report of a broken rule.
    Error {
        /// The download concerned, if any.
        id: Option<DownloadId>,
        /// Machine-readable kind.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// Kinds of [`Message::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame could not be decoded.
    Malformed,
    /// The peer speaks another wire version.
    VersionMismatch,
    /// No actor (download) with that address.
    NoSuchActor,
    /// A credit-window rule was broken.
    Protocol,
    /// The download URL was already served.
    Gone,
    /// Nobody requested the download URL in time.
    Expired,
    /// Too many downloads are open; one must end first.
    TooManyDownloads,
    /// A text (file name, type, reason) is over [`MAX_TEXT_BYTES`].
    TooLarge,
    /// The request is not valid (e.g. file metadata that cannot become headers).
    InvalidArgument,
    /// Anything else.
    Internal,
}

/// Why a received value is not a frame this build accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value has no numeric `v` field: not a Sluice frame at all.
    #[error("not a Sluice frame (no version field)")]
    NotAFrame,
    /// The peer is another build of Sluice.
    #[error("wire version mismatch: this side speaks {ours}, the peer {theirs}; load the same Sluice build on page and service worker")]
    VersionMismatch {
        /// [`WIRE_VERSION`].
        ours: u32,
        /// What the peer sent.
        theirs: u32,
    },
    /// Right version, wrong shape (unknown kind, missing field, wrong type).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Well-formed, but a value is out of range.
    #[error("frame out of range: {0}")]
    OutOfRange(&'static str),
}

impl Frame {
    /// A frame of this build's version.
    pub fn new(body: Envelope) -> Self {
        Self { v: WIRE_VERSION, body }
    }

    /// Decodes a received value: the version first, then the shape, then the limits.
    pub fn decode<S: Source>(value: &S) -> Result<Self, DecodeError> {
        let v = value.field("v").and_then(|v| v.number()).and_then(read::whole);
        let (Some(v), Some(body)) = (v.and_then(|v| u32::try_from(v).ok()), value.field("body")) else {
            return Err(DecodeError::NotAFrame);
        };
        if v != WIRE_VERSION {
            return Err(DecodeError::VersionMismatch { ours: WIRE_VERSION, theirs: v });
        }
        let frame = Frame { v, body: read::envelope(&body)? };
        frame.body.validate()?;
        Ok(frame)
    }
}

impl Envelope {
    /// The download-protocol message inside, if any.
    pub fn message(&self) -> Option<&Message> {
        match self {
            Envelope::Hello | Envelope::Welcome => None,
            Envelope::Tell { msg } | Envelope::Request { msg, .. } | Envelope::Reply { msg, .. } => Some(msg),
        }
    }

    fn validate(&self) -> Result<(), DecodeError> {
        self.message().map_or(Ok(()), Message::validate)
    }
}

/// Who handles a message on the receiving side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    /// The channel's control actor: opens downloads, liveness.
    Control,
    /// The actor of one download.
    Download(DownloadId),
}

impl Message {
    /// The actor this message is for: [`Message::Open`] and channel-level messages go to
    /// [`Address::Control`], the rest to their download.
    pub fn address(&self) -> Address {
        match (self, self.download_id()) {
            (Message::Open { .. }, _) | (_, None) => Address::Control,
            (_, Some(id)) => Address::Download(id),
        }
    }

    /// The download this message is about; `None` for channel-level messages.
    pub fn download_id(&self) -> Option<DownloadId> {
        match self {
            Message::Open { id, .. }
            | Message::Grant { id, .. }
            | Message::Chunk { id, .. }
            | Message::Close { id, .. }
            | Message::Done { id, .. }
            | Message::Abort { id, .. }
            | Message::Cancel { id, .. } => Some(*id),
            Message::Error { id, .. } => *id,
            Message::Ping { .. } | Message::Pong { .. } | Message::Bye | Message::Ack => None,
        }
    }

    /// Checks the limits serde cannot express.
    fn validate(&self) -> Result<(), DecodeError> {
        let safe = |n: u64, what| {
            if n <= MAX_SAFE_INTEGER {
                Ok(())
            } else {
                Err(DecodeError::OutOfRange(what))
            }
        };
        let text = |s: &str, what| {
            if s.len() <= MAX_TEXT_BYTES {
                Ok(())
            } else {
                Err(DecodeError::OutOfRange(what))
            }
        };
        match self {
            Message::Open { meta, window_chunks, window_bytes, expire_after_ms, .. } => {
                if !(1..=MAX_EXPIRE_AFTER_MS).contains(expire_after_ms) {
                    return Err(DecodeError::OutOfRange("expire_after_ms outside 1 ms ..= 24 h"));
                }
                text(&meta.name, "file name too long")?;
                text(meta.content_type.as_deref().unwrap_or(""), "content type too long")?;
                safe(meta.size.unwrap_or(0), "size above 2^53 - 1")?;
                safe(*window_bytes, "window bytes above 2^53 - 1")?;
                if *window_chunks == 0 || *window_bytes == 0 {
                    return Err(DecodeError::OutOfRange("empty window"));
                }
                Ok(())
            }
            Message::Grant { bytes, .. } => safe(*bytes, "grant above 2^53 - 1"),
            Message::Chunk { seq, .. } => safe(*seq, "sequence number above 2^53 - 1"),
            Message::Close { total, .. } | Message::Done { total, .. } => safe(*total, "total above 2^53 - 1"),
            Message::Abort { reason, .. } | Message::Cancel { reason, .. } => text(reason, "reason too long"),
            Message::Ping { nonce } | Message::Pong { nonce } => safe(*nonce, "nonce above 2^53 - 1"),
            Message::Error { message, .. } => text(message, "error text too long"),
            Message::Bye | Message::Ack => Ok(()),
        }
    }
}

/// A received value, read field by field: a JavaScript object on the web, a JSON value in tests
/// (feature `json`). [`Frame::decode`] reads only the fields a frame has, never recursing
/// into what it does not know.
pub trait Source: Sized {
    /// The value at `key` of this object; `None` when this is not an object or the field is
    /// absent, `undefined` or `null`.
    fn field(&self, key: &str) -> Option<Self>;
    /// This value, if it is a number.
    fn number(&self) -> Option<f64>;
    /// This value, if it is a string.
    fn text(&self) -> Option<String>;
}

/// Where a message is written field by field (a JavaScript object, a JSON map in tests): the
/// encoders that need no [`Value`] tree.
pub trait Sink {
    /// Sets `key` to the string `value`.
    fn text(&mut self, key: &'static str, value: &str);
    /// Sets `key` to the number `value`.
    fn number(&mut self, key: &'static str, value: f64);
}

/// A frame as `postMessage` carries it: a plain object of numbers, strings and nulls
/// ([`Frame::encode`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A JavaScript number (every integer on the wire is at most 2^53 - 1).
    Number(f64),
    /// A string.
    Text(String),
    /// `null`: an optional field with no value.
    Null,
    /// An object, field by field.
    Object(Vec<(&'static str, Value)>),
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n as f64)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Number(f64::from(n))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<DownloadId> for Value {
    fn from(id: DownloadId) -> Self {
        Value::Text(id.to_string())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl TransferPath {
    /// The path's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TransferPath::Transfer => "transfer",
            TransferPath::Fallback => "fallback",
        }
    }
}

const ERROR_CODES: [(ErrorCode, &str); 10] = [
    (ErrorCode::Malformed, "malformed"),
    (ErrorCode::VersionMismatch, "version_mismatch"),
    (ErrorCode::NoSuchActor, "no_such_actor"),
    (ErrorCode::Protocol, "protocol"),
    (ErrorCode::Gone, "gone"),
    (ErrorCode::Expired, "expired"),
    (ErrorCode::TooManyDownloads, "too_many_downloads"),
    (ErrorCode::TooLarge, "too_large"),
    (ErrorCode::InvalidArgument, "invalid_argument"),
    (ErrorCode::Internal, "internal"),
];

impl ErrorCode {
    /// The code's name on the wire.
    pub fn name(self) -> &'static str {
        ERROR_CODES.iter().find(|(code, _)| *code == self).map_or("internal", |(_, name)| name)
    }
}

impl Frame {
    /// The frame as the plain object `postMessage` carries.
    pub fn encode(&self) -> Value {
        let body = match &self.body {
            Envelope::Hello => vec![("kind", "hello".into())],
            Envelope::Welcome => vec![("kind", "welcome".into())],
            Envelope::Tell { msg } => vec![("kind", "tell".into()), ("msg", msg.encode())],
            Envelope::Request { req, msg } => {
                vec![("kind", "request".into()), ("req", req.encode()), ("msg", msg.encode())]
            }
            Envelope::Reply { req, msg } => {
                vec![("kind", "reply".into()), ("req", req.encode()), ("msg", msg.encode())]
            }
        };
        Value::Object(vec![("v", self.v.into()), ("body", Value::Object(body))])
    }
}

impl RequestId {
    fn encode(&self) -> Value {
        Value::Object(vec![("slot", self.slot.into()), ("generation", self.generation.into())])
    }
}

impl Message {
    /// The message's `type` on the wire (and in log lines).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Open { .. } => "open",
            Message::Grant { .. } => "grant",
            Message::Chunk { .. } => "chunk",
            Message::Close { .. } => "close",
            Message::Done { .. } => "done",
            Message::Abort { .. } => "abort",
            Message::Cancel { .. } => "cancel",
            Message::Ping { .. } => "ping",
            Message::Pong { .. } => "pong",
            Message::Bye => "bye",
            Message::Ack => "ack",
            Message::Error { .. } => "error",
        }
    }

    fn encode(&self) -> Value {
        let mut fields: Vec<(&'static str, Value)> = match self {
            Message::Open { id, meta, path, window_chunks, window_bytes, expire_after_ms } => {
                let meta = Value::Object(vec![
                    ("name", meta.name.as_str().into()),
                    ("size", meta.size.into()),
                    ("content_type", meta.content_type.as_deref().into()),
                ]);
                vec![
                    ("id", (*id).into()),
                    ("meta", meta),
                    ("path", path.name().into()),
                    ("window_chunks", (*window_chunks).into()),
                    ("window_bytes", (*window_bytes).into()),
                    ("expire_after_ms", (*expire_after_ms).into()),
                ]
            }
            Message::Grant { id, chunks, bytes } => {
                vec![("id", (*id).into()), ("chunks", (*chunks).into()), ("bytes", (*bytes).into())]
            }
            Message::Chunk { id, seq, len } => {
                vec![("id", (*id).into()), ("seq", (*seq).into()), ("len", (*len).into())]
            }
            Message::Close { id, total } => vec![("id", (*id).into()), ("total", (*total).into())],
            Message::Done { id, total } => vec![("id", (*id).into()), ("total", (*total).into())],
            Message::Abort { id, reason } => vec![("id", (*id).into()), ("reason", reason.as_str().into())],
            Message::Cancel { id, reason } => {
                vec![("id", (*id).into()), ("reason", reason.as_str().into())]
            }
            Message::Ping { nonce } => vec![("nonce", (*nonce).into())],
            Message::Pong { nonce } => vec![("nonce", (*nonce).into())],
            Message::Bye => vec![],
            Message::Ack => vec![],
            Message::Error { id, code, message } => {
                vec![("id", (*id).into()), ("code", code.name().into()), ("message", message.as_str().into())]
            }
        };
        fields.insert(0, ("type", self.kind().into()));
        Value::Object(fields)
    }
}

/// Reading the fields of a received frame: each error names the field.
mod read {
    use super::{DecodeError, DownloadId, Envelope, FileMeta, Message, RequestId, Source, ERROR_CODES};
    use crate::capability::TransferPath;

    fn malformed(text: String) -> DecodeError {
        DecodeError::Malformed(text)
    }

    fn required<S: Source>(object: &S, key: &str) -> Result<S, DecodeError> {
        object.field(key).ok_or_else(|| malformed(format!("missing field `{key}`")))
    }

    pub(super) fn text<S: Source>(object: &S, key: &str) -> Result<String, DecodeError> {
        required(object, key)?.text().ok_or_else(|| malformed(format!("field `{key}` must be a string")))
    }

    fn optional_text<S: Source>(object: &S, key: &str) -> Result<Option<String>, DecodeError> {
        object.field(key).map(|_| text(object, key)).transpose()
    }

    /// A whole number from 0 (above 2^64 it saturates: the limits are checked after decoding).
    pub(super) fn whole(n: f64) -> Option<u64> {
        (n >= 0.0 && n.fract() == 0.0).then_some(n as u64)
    }

    pub(super) fn number<S: Source>(object: &S, key: &str) -> Result<u64, DecodeError> {
        let n = required(object, key)?.number();
        n.and_then(whole).ok_or_else(|| malformed(format!("field `{key}` must be a whole number from 0")))
    }

    fn optional_number<S: Source>(object: &S, key: &str) -> Result<Option<u64>, DecodeError> {
        object.field(key).map(|_| number(object, key)).transpose()
    }

    fn small<S: Source>(object: &S, key: &str) -> Result<u32, DecodeError> {
        u32::try_from(number(object, key)?).map_err(|_| malformed(format!("field `{key}` must be below 2^32")))
    }

    fn id_of(text: String) -> Result<DownloadId, DecodeError> {
        text.parse().map_err(|e: crate::id::InvalidId| malformed(e.to_string()))
    }

    fn id<S: Source>(object: &S) -> Result<DownloadId, DecodeError> {
        id_of(text(object, "id")?)
    }

    pub(super) fn envelope<S: Source>(body: &S) -> Result<Envelope, DecodeError> {
        let req = || {
            let req = required(body, "req")?;
            Ok(RequestId { slot: small(&req, "slot")?, generation: small(&req, "generation")? })
        };
        let msg = || message(&required(body, "msg")?);
        Ok(match text(body, "kind")?.as_str() {
            "hello" => Envelope::Hello,
            "welcome" => Envelope::Welcome,
            "tell" => Envelope::Tell { msg: msg()? },
            "request" => Envelope::Request { req: req()?, msg: msg()? },
            "reply" => Envelope::Reply { req: req()?, msg: msg()? },
            other => return Err(malformed(format!("unknown kind \"{}\"", truncated(other)))),
        })
    }

    fn message<S: Source>(m: &S) -> Result<Message, DecodeError> {
        Ok(match text(m, "type")?.as_str() {
            "open" => {
                let meta = required(m, "meta")?;
                let path = match text(m, "path")?.as_str() {
                    "transfer" => TransferPath::Transfer,
                    "fallback" => TransferPath::Fallback,
                    other => return Err(malformed(format!("unknown path \"{}\"", truncated(other)))),
                };
                Message::Open {
                    id: id(m)?,
                    meta: FileMeta {
                        name: text(&meta, "name")?,
                        size: optional_number(&meta, "size")?,
                        content_type: optional_text(&meta, "content_type")?,
                    },
                    path,
                    window_chunks: small(m, "window_chunks")?,
                    window_bytes: number(m, "window_bytes")?,
                    expire_after_ms: number(m, "expire_after_ms")?,
                }
            }
            "grant" => Message::Grant { id: id(m)?, chunks: small(m, "chunks")?, bytes: number(m, "bytes")? },
            "chunk" => Message::Chunk { id: id(m)?, seq: number(m, "seq")?, len: small(m, "len")? },
            "close" => Message::Close { id: id(m)?, total: number(m, "total")? },
            "done" => Message::Done { id: id(m)?, total: number(m, "total")? },
            "abort" => Message::Abort { id: id(m)?, reason: text(m, "reason")? },
            "cancel" => Message::Cancel { id: id(m)?, reason: text(m, "reason")? },
            "ping" => Message::Ping { nonce: number(m, "nonce")? },
            "pong" => Message::Pong { nonce: number(m, "nonce")? },
            "bye" => Message::Bye,
            "ack" => Message::Ack,
            "error" => {
                let code = text(m, "code")?;
                let code = ERROR_CODES
                    .iter()
                    .find(|(_, name)| *name == code)
                    .map(|(code, _)| *code)
                    .ok_or_else(|| malformed(format!("unknown code \"{}\"", truncated(&code))))?;
                Message::Error {
                    id: optional_text(m, "id")?.map(id_of).transpose()?,
                    code,
                    message: text(m, "message")?,
                }
            }
            other => return Err(malformed(format!("unknown type \"{}\"", truncated(other)))),
        })
    }

    /// At most 40 characters of a received name, for an error text.
    fn truncated(s: &str) -> String {
        s.chars().take(40).collect()
    }
}

/// Frames as JSON values (feature `json`): the tests' and the in-memory endpoint's side.
#[cfg(feature = "json")]
mod json {
    use super::{Sink, Source, Value};

    impl Sink for serde_json::Map<String, serde_json::Value> {
        fn text(&mut self, key: &'static str, value: &str) {
            self.insert(key.into(), value.into());
        }

        fn number(&mut self, key: &'static str, value: f64) {
            self.insert(key.into(), Value::Number(value).into());
        }
    }

    impl Source for serde_json::Value {
        fn field(&self, key: &str) -> Option<Self> {
            self.get(key).filter(|v| !v.is_null()).cloned()
        }

        fn number(&self) -> Option<f64> {
            self.as_f64()
        }

        fn text(&self) -> Option<String> {
            self.as_str().map(String::from)
        }
    }

    impl From<Value> for serde_json::Value {
        fn from(value: Value) -> Self {
            match value {
                // Whole numbers as JSON integers, as JavaScript prints them.
                Value::Number(n) if n >= 0.0 && n.fract() == 0.0 && n <= super::MAX_SAFE_INTEGER as f64 => {
                    serde_json::Value::from(n as u64)
                }
                Value::Number(n) => serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, Into::into),
                Value::Text(s) => s.into(),
                Value::Null => serde_json::Value::Null,
                Value::Object(fields) => {
                    fields.into_iter().map(|(key, value)| (key.to_string(), serde_json::Value::from(value))).collect()
                }
            }
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn decode(value: &Value) -> Result<Frame, DecodeError> {
        Frame::decode(value)
    }

    fn encode(frame: &Frame) -> Value {
        frame.encode().into()
    }

    fn id() -> DownloadId {
        DownloadId::from_u128(7)
    }

    fn round_trip(body: Envelope) {
        let frame = Frame::new(body);
        let value = encode(&frame);
        assert_eq!(decode(&value).unwrap(), frame, "{value}");
    }

    #[test]
    fn every_message_round_trips() {
        let meta = FileMeta { name: "a.txt".into(), size: Some(3), content_type: None };
        let req = RequestId { slot: 3, generation: 9 };
        let messages = [
            Message::Open {
                id: id(),
                meta,
                path: TransferPath::Fallback,
                window_chunks: 8,
                window_bytes: 1 << 23,
                expire_after_ms: 60_000,
            },
            Message::Grant { id: id(), chunks: 2, bytes: 1 << 20 },
            Message::Chunk { id: id(), seq: 5, len: 65536 },
            Message::Close { id: id(), total: 10 },
            Message::Done { id: id(), total: 10 },
            Message::Abort { id: id(), reason: "disk full".into() },
            Message::Cancel { id: id(), reason: "user".into() },
            Message::Ping { nonce: 1 },
            Message::Pong { nonce: 1 },
            Message::Bye,
            Message::Ack,
            Message::Error { id: None, code: ErrorCode::NoSuchActor, message: "x".into() },
        ];
        round_trip(Envelope::Hello);
        round_trip(Envelope::Welcome);
        for msg in messages {
            round_trip(Envelope::Tell { msg: msg.clone() });
            round_trip(Envelope::Request { req, msg: msg.clone() });
            round_trip(Envelope::Reply { req, msg });
        }
    }

    #[test]
    fn wire_shape_is_stable() {
        let frame = Frame::new(Envelope::Tell { msg: Message::Chunk { id: id(), seq: 1, len: 2 } });
        assert_eq!(
            encode(&frame),
            json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "chunk", "id": "00000000000000000000000000000007", "seq": 1, "len": 2}}})
        );
    }

    #[test]
    fn versions_refuse_each_other() {
        let other = json!({"v": 1, "body": {"kind": "something_old"}});
        assert_eq!(decode(&other), Err(DecodeError::VersionMismatch { ours: 2, theirs: 1 }));
        assert!(decode(&other).unwrap_err().to_string().contains("speaks 2, the peer 1"));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(decode(&json!(null)), Err(DecodeError::NotAFrame));
        assert_eq!(decode(&json!("hello")), Err(DecodeError::NotAFrame));
        assert_eq!(decode(&json!({"v": "1", "body": {}})), Err(DecodeError::NotAFrame));
        assert!(matches!(decode(&json!({"v": 2, "body": {"kind": "nope"}})), Err(DecodeError::Malformed(_))));
        let huge = json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "close", "id": "00000000000000000000000000000007", "total": u64::MAX}}});
        assert_eq!(decode(&huge), Err(DecodeError::OutOfRange("total above 2^53 - 1")));
        let negative = json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "chunk", "id": "00000000000000000000000000000007", "seq": -1, "len": 1}}});
        assert!(matches!(decode(&negative), Err(DecodeError::Malformed(_))));
        let bad_id = json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "ack_x", "id": "zz"}}});
        assert!(matches!(decode(&bad_id), Err(DecodeError::Malformed(_))));
        let missing = |body: Value, field: &str| match decode(&json!({"v": 2, "body": body})) {
            Err(DecodeError::Malformed(text)) => assert!(text.contains(&format!("missing field `{field}`")), "{text}"),
            other => panic!("{other:?}"),
        };
        missing(json!({"kind": "tell"}), "msg");
        missing(json!({"kind": "reply", "msg": {"type": "ack"}}), "req");
        missing(
            json!({"kind": "tell", "msg": {"type": "chunk", "id": "00000000000000000000000000000007", "seq": 1}}),
            "len",
        );
        missing(json!({"kind": "tell", "msg": {"type": "error", "message": "x"}}), "code");
        missing(json!({"kind": "tell", "msg": {"id": "00000000000000000000000000000007"}}), "type");
    }

    #[test]
    fn extra_fields_beside_the_frame_are_ignored() {
        // The chunk's ArrayBuffer travels beside the header, e.g. as `data`.
        let value = json!({"v": 2, "data": [1, 2], "body": {"kind": "hello"}});
        assert_eq!(decode(&value).unwrap(), Frame::new(Envelope::Hello));
    }
}
