//! The messages that cross `postMessage` between page and service worker.
//!
//! Every frame is `{ v, body }`: `v` is [`WIRE_VERSION`], `body` an [`Envelope`] of the bus that
//! carries a download-protocol [`Message`]. Bytes of a chunk and a transferred `ReadableStream`
//! travel beside the frame (in the same `postMessage`, in its transfer list), never inside it.
//!
//! Decoding ([`Frame::decode`]) works from any self-describing serde source (serde-wasm-bindgen
//! on the web, serde_json in tests), checks the version first, then the shape, then the limits;
//! it never panics.

use serde::de::{Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};

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

/// How deep a received frame may nest (the deepest, an `Open`'s `meta`, is 4 levels down):
/// checked before decoding, because serde recurses and a deeper value could overflow the stack.
pub const MAX_FRAME_DEPTH: usize = 6;

/// How many values (objects, fields, array items) a received frame may hold; an `Open` has 20.
pub const MAX_FRAME_VALUES: usize = 64;

/// One `postMessage` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Always [`WIRE_VERSION`] when sent by this build.
    pub v: u32,
    /// What the frame carries.
    pub body: Envelope,
}

/// The bus layer: who is talking and which request an answer belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "flat::Envelope")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// Slot index.
    pub slot: u32,
    /// How many times the slot was used before.
    pub generation: u32,
}

/// What a download is: shown to the browser through the response headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// File name as the app gave it (sanitized when headers are built).
    pub name: String,
    /// Size in bytes, when known; the download fails if a different count arrives.
    pub size: Option<u64>,
    /// MIME type, `application/octet-stream` when absent.
    pub content_type: Option<String>,
}

/// The download protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "flat::Message")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

#[derive(Deserialize)]
struct VersionTag {
    v: u32,
    #[allow(dead_code)]
    body: IgnoredAny,
}

impl Frame {
    /// A frame of this build's version.
    pub fn new(body: Envelope) -> Self {
        Self { v: WIRE_VERSION, body }
    }

    /// Decodes a frame. `source` is called once or twice, each time giving a deserializer over
    /// the same received value: first the version is read, then the whole frame.
    pub fn decode<'de, D, F>(mut source: F) -> Result<Self, DecodeError>
    where
        F: FnMut() -> D,
        D: Deserializer<'de>,
    {
        let tag = VersionTag::deserialize(source()).map_err(|_| DecodeError::NotAFrame)?;
        if tag.v != WIRE_VERSION {
            return Err(DecodeError::VersionMismatch { ours: WIRE_VERSION, theirs: tag.v });
        }
        let frame = Frame::deserialize(source()).map_err(|e| {
            let mut text = e.to_string();
            truncate(&mut text, 200);
            DecodeError::Malformed(text)
        })?;
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

/// Decoding of the tagged enums through one flat struct each (every field optional, then
/// matched on the tag): the same wire shape as serde's internally tagged derive, without its
/// buffering of the whole value, which was a fifth of the WebAssembly module.
mod flat {
    use serde::de::value::Error;
    use serde::de::Error as _;
    use serde::Deserialize;

    use super::{ErrorCode, FileMeta, RequestId};
    use crate::capability::TransferPath;
    use crate::id::DownloadId;

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Hello,
        Welcome,
        Tell,
        Request,
        Reply,
    }

    #[derive(Deserialize)]
    pub(super) struct Envelope {
        kind: Kind,
        req: Option<RequestId>,
        msg: Option<super::Message>,
    }

    impl TryFrom<Envelope> for super::Envelope {
        type Error = Error;

        fn try_from(Envelope { kind, req, msg }: Envelope) -> Result<Self, Error> {
            Ok(match kind {
                Kind::Hello => Self::Hello,
                Kind::Welcome => Self::Welcome,
                Kind::Tell => Self::Tell { msg: field(msg, "msg")? },
                Kind::Request => Self::Request { req: field(req, "req")?, msg: field(msg, "msg")? },
                Kind::Reply => Self::Reply { req: field(req, "req")?, msg: field(msg, "msg")? },
            })
        }
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Type {
        Open,
        Grant,
        Chunk,
        Close,
        Abort,
        Cancel,
        Done,
        Ping,
        Pong,
        Bye,
        Ack,
        Error,
    }

    #[derive(Deserialize)]
    pub(super) struct Message {
        #[serde(rename = "type")]
        kind: Type,
        id: Option<DownloadId>,
        meta: Option<FileMeta>,
        path: Option<TransferPath>,
        window_chunks: Option<u32>,
        window_bytes: Option<u64>,
        expire_after_ms: Option<u64>,
        chunks: Option<u32>,
        bytes: Option<u64>,
        seq: Option<u64>,
        len: Option<u32>,
        total: Option<u64>,
        reason: Option<String>,
        nonce: Option<u64>,
        code: Option<ErrorCode>,
        message: Option<String>,
    }

    fn field<T>(value: Option<T>, name: &'static str) -> Result<T, Error> {
        value.ok_or_else(|| Error::missing_field(name))
    }

    impl TryFrom<Message> for super::Message {
        type Error = Error;

        fn try_from(m: Message) -> Result<Self, Error> {
            use super::Message as M;
            let id = || field(m.id, "id");
            Ok(match m.kind {
                Type::Open => M::Open {
                    id: id()?,
                    meta: field(m.meta, "meta")?,
                    path: field(m.path, "path")?,
                    window_chunks: field(m.window_chunks, "window_chunks")?,
                    window_bytes: field(m.window_bytes, "window_bytes")?,
                    expire_after_ms: field(m.expire_after_ms, "expire_after_ms")?,
                },
                Type::Grant => {
                    M::Grant { id: id()?, chunks: field(m.chunks, "chunks")?, bytes: field(m.bytes, "bytes")? }
                }
                Type::Chunk => M::Chunk { id: id()?, seq: field(m.seq, "seq")?, len: field(m.len, "len")? },
                Type::Close => M::Close { id: id()?, total: field(m.total, "total")? },
                Type::Done => M::Done { id: id()?, total: field(m.total, "total")? },
                Type::Abort => M::Abort { id: id()?, reason: field(m.reason, "reason")? },
                Type::Cancel => M::Cancel { id: id()?, reason: field(m.reason, "reason")? },
                Type::Ping => M::Ping { nonce: field(m.nonce, "nonce")? },
                Type::Pong => M::Pong { nonce: field(m.nonce, "nonce")? },
                Type::Bye => M::Bye,
                Type::Ack => M::Ack,
                Type::Error => {
                    M::Error { id: m.id, code: field(m.code, "code")?, message: field(m.message, "message")? }
                }
            })
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
        Frame::decode(|| value)
    }

    fn id() -> DownloadId {
        DownloadId::from_u128(7)
    }

    fn round_trip(body: Envelope) {
        let frame = Frame::new(body);
        let value = serde_json::to_value(&frame).unwrap();
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
            serde_json::to_value(&frame).unwrap(),
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
