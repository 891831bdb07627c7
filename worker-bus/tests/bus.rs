//! The bus over the in-memory endpoint: correlation, timeouts, routing, bad input.
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use serde_json::json;
use sluice_core::wire::ErrorCode;
use sluice_core::{Address, DownloadId, Message, WIRE_VERSION};
use sluice_worker_bus::memory::{pair, MemoryEndpoint};
use sluice_worker_bus::{ActorHandle, Bus, BusConfig, BusError};

const ID: DownloadId = DownloadId::from_u128(0x51);

type MemBus = Bus<MemoryEndpoint>;

fn buses(config: BusConfig) -> (MemBus, MemBus) {
    let (a, b) = pair();
    (Bus::new(a, config), Bus::new(b, config))
}

/// Runs tasks and delivers messages both ways until nothing moves.
fn settle(pool: &mut LocalPool, a: &MemBus, b: &MemBus) {
    loop {
        pool.run_until_stalled();
        if a.endpoint().deliver_all() + b.endpoint().deliver_all() == 0 {
            break;
        }
    }
}

/// Spawns `future` and returns where its output will be.
fn spawn<T: 'static>(pool: &LocalPool, future: impl Future<Output = T> + 'static) -> Rc<RefCell<Option<T>>> {
    let slot = Rc::new(RefCell::new(None));
    let out = slot.clone();
    pool.spawner().spawn_local(async move { *out.borrow_mut() = Some(future.await) }).unwrap();
    slot
}

/// An actor at `address` answering each request for chunk `seq` with `Pong { nonce: seq * 3 }`.
fn echo_actor(pool: &LocalPool, bus: &MemBus, address: Address) -> ActorHandle<MemoryEndpoint> {
    let (handle, mailbox) = bus.actor(address).unwrap();
    pool.spawner()
        .spawn_local(async move {
            while let Some(incoming) = mailbox.recv().await {
                if let (Message::Chunk { seq, .. }, Some(responder)) = (incoming.msg, incoming.responder) {
                    responder.reply(Message::Pong { nonce: seq * 3 }, incoming.attachment).unwrap();
                }
            }
        })
        .unwrap();
    handle
}

fn chunk(seq: u64) -> Message {
    Message::Chunk { id: ID, seq, len: 0 }
}

#[test]
fn handshake_queues_until_hello() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let _echo = echo_actor(&pool, &b, Address::Download(ID));
    let bus = a.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(7), None).await });
    pool.run_until_stalled();
    assert!(!a.is_ready() && !b.is_ready());
    // Only the hello went out: the request waits for the peer.
    assert_eq!(b.endpoint().pending(), 1);
    settle(&mut pool, &a, &b);
    assert!(a.is_ready() && b.is_ready());
    assert_eq!(answer.borrow_mut().take().unwrap().unwrap().msg, Message::Pong { nonce: 21 });
}

#[test]
fn ten_thousand_concurrent_requests_get_their_own_replies_under_shuffled_delivery() {
    let mut pool = LocalPool::new();
    // All 10,000 arrive in one burst: the actor's mailbox must hold them.
    let (a, b) = buses(BusConfig { mailbox_capacity: 10_000, ..BusConfig::default() });
    let _echo = echo_actor(&pool, &b, Address::Download(ID));
    settle(&mut pool, &a, &b);
    let done = Rc::new(Cell::new(0u32));
    for seq in 0..10_000u64 {
        let (bus, done) = (a.clone(), done.clone());
        pool.spawner()
            .spawn_local(async move {
                let (reply, expected) = if seq % 10 == 0 {
                    (bus.request(Message::Ping { nonce: seq }, None).await.unwrap(), seq)
                } else {
                    (bus.request(chunk(seq), Some(seq.to_le_bytes().to_vec())).await.unwrap(), seq * 3)
                };
                assert_eq!(reply.msg, Message::Pong { nonce: expected });
                if seq % 10 != 0 {
                    assert_eq!(reply.attachment.unwrap(), seq.to_le_bytes());
                }
                done.set(done.get() + 1);
            })
            .unwrap();
    }
    let mut round = 0;
    while done.get() < 10_000 {
        pool.run_until_stalled();
        round += 1;
        b.endpoint().shuffle(round);
        b.endpoint().deliver_all();
        pool.run_until_stalled();
        a.endpoint().shuffle(round * 7919);
        a.endpoint().deliver_all();
        assert!(round < 100, "stuck after {} replies", done.get());
    }
    assert_eq!(a.stats().pending_requests, 0);
    assert_eq!(a.stats().late_replies, 0);
}

#[test]
fn a_late_reply_is_dropped_and_cannot_resolve_the_request_that_reused_its_slot() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let _echo = echo_actor(&pool, &b, Address::Download(ID));
    settle(&mut pool, &a, &b);

    let first = pool.run_until(a.request_within(chunk(1), None, Duration::from_millis(1)));
    assert_eq!(first.unwrap_err(), BusError::Timeout(Duration::from_millis(1)));
    assert_eq!(a.stats().timeouts, 1);
    assert_eq!(a.stats().pending_requests, 0);

    // The second request takes the freed slot; then the first one's reply shows up.
    let bus = a.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(2), None).await });
    pool.run_until_stalled();
    assert_eq!(b.endpoint().pending(), 2);
    b.endpoint().deliver_one(); // chunk 1: the actor replies to the expired request
    pool.run_until_stalled();
    a.endpoint().deliver_all();
    pool.run_until_stalled();
    assert_eq!(a.stats().late_replies, 1);
    assert!(answer.borrow().is_none(), "the late reply resolved the newer request");
    settle(&mut pool, &a, &b);
    assert_eq!(answer.borrow_mut().take().unwrap().unwrap().msg, Message::Pong { nonce: 6 });
}

#[test]
fn dropped_requests_free_their_slots() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let _echo = echo_actor(&pool, &b, Address::Download(ID));
    settle(&mut pool, &a, &b);
    let mut requests: Vec<_> = (0..100).map(|seq| Box::pin(a.request(chunk(seq), None))).collect();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    for request in &mut requests {
        assert!(request.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(a.stats().pending_requests, 100);
    drop(requests);
    assert_eq!(a.stats().pending_requests, 0);
    settle(&mut pool, &a, &b);
    assert_eq!(a.stats().late_replies, 100);
}

#[test]
fn garbage_is_counted_and_ignored_and_valid_messages_still_arrive() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let (_handle, mailbox) = b.actor(Address::Download(ID)).unwrap();
    let (_control, told) = a.actor(Address::Control).unwrap();
    settle(&mut pool, &a, &b);
    let id = ID.to_string();
    for garbage in [
        json!(null),
        json!("hello"),
        json!([1, 2, 3]),
        json!({"v": 2}),
        json!({"v": 2, "body": {"kind": "nope"}}),
        json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "chunk", "id": id, "seq": 1e300, "len": 1}}}),
        json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "close", "id": id, "total": u64::MAX}}}),
        json!({"v": 2, "body": {"kind": "tell", "msg": {"type": "chunk", "id": "not-an-id", "seq": 1, "len": 1}}}),
        json!({"v": 2, "body": {"kind": "reply", "req": {"slot": 4_000_000_000u32, "generation": 1}, "msg": {"type": "ack"}}}),
    ] {
        b.endpoint().inject(garbage, None);
    }
    a.tell(chunk(0), Some(vec![9])).unwrap();
    settle(&mut pool, &a, &b);
    assert_eq!(b.stats().rejected, 8);
    assert_eq!(b.stats().late_replies, 1);
    let got = pool.run_until(mailbox.recv()).unwrap();
    assert_eq!((got.msg, got.attachment), (chunk(0), Some(vec![9])));
    // Sluice frames that are wrong got a typed answer each; values that are no frame, none.
    for _ in 0..4 {
        let answer = pool.run_until(told.recv()).unwrap().msg;
        assert!(matches!(answer, Message::Error { code: ErrorCode::Malformed, .. }), "{answer:?}");
    }
    assert_eq!(a.endpoint().pending(), 0);
    assert_eq!(a.stats().received, b.stats().sent, "a got every frame b sent, and no more");
}

#[test]
fn unknown_addresses_get_a_typed_answer_and_errors_are_not_echoed() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    settle(&mut pool, &a, &b);
    let bus = a.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(0), None).await });
    settle(&mut pool, &a, &b);
    let answer = answer.borrow_mut().take().unwrap();
    assert!(matches!(answer, Err(BusError::Remote { code: ErrorCode::NoSuchActor, .. })), "{answer:?}");
    a.tell(chunk(1), None).unwrap();
    settle(&mut pool, &a, &b);
    assert_eq!(b.stats().no_such_actor, 2);
    // `a` got an error about a download it has no actor for either, and stayed quiet.
    assert_eq!(a.stats().no_such_actor, 1);
    assert_eq!(a.endpoint().pending() + b.endpoint().pending(), 0);
}

#[test]
fn actors_stop_when_their_last_handle_drops() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let (handle, mailbox) = b.actor(Address::Control).unwrap();
    assert_eq!(b.actor(Address::Control).unwrap_err(), BusError::AddressInUse(Address::Control));
    let second = handle.clone();
    drop(handle);
    settle(&mut pool, &a, &b);
    a.tell(Message::Pong { nonce: 1 }, None).unwrap();
    settle(&mut pool, &a, &b);
    assert!(pool.run_until(mailbox.recv()).is_some());
    drop(second);
    assert!(pool.run_until(mailbox.recv()).is_none(), "the mailbox outlived its last handle");
    a.tell(Message::Pong { nonce: 2 }, None).unwrap();
    settle(&mut pool, &a, &b);
    assert_eq!(b.stats().no_such_actor, 1);
    assert!(b.actor(Address::Control).is_ok(), "the address is free again");
}

#[test]
fn a_dropped_responder_answers_with_an_error() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let (_handle, mailbox) = b.actor(Address::Download(ID)).unwrap();
    pool.spawner().spawn_local(async move { while mailbox.recv().await.is_some() {} }).unwrap();
    let bus = a.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(0), None).await });
    settle(&mut pool, &a, &b);
    let answer = answer.borrow_mut().take().unwrap();
    assert!(matches!(answer, Err(BusError::Remote { code: ErrorCode::Internal, .. })), "{answer:?}");
}

#[test]
fn a_full_mailbox_refuses_instead_of_growing() {
    let mut pool = LocalPool::new();
    let config = BusConfig { mailbox_capacity: 2, ..BusConfig::default() };
    let (a, b) = buses(config);
    let (_handle, _mailbox) = b.actor(Address::Download(ID)).unwrap();
    settle(&mut pool, &a, &b);
    for seq in 0..5 {
        a.tell(chunk(seq), None).unwrap();
    }
    settle(&mut pool, &a, &b);
    assert_eq!(b.stats().mailbox_full, 3);
}

#[test]
fn version_mismatch_fails_both_sides_clearly() {
    let mut pool = LocalPool::new();
    let (x, y) = pair();
    x.set_wire_version(WIRE_VERSION + 1);
    let (a, b) = (Bus::new(x, BusConfig::default()), Bus::new(y, BusConfig::default()));
    let bus = b.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(0), None).await });
    settle(&mut pool, &a, &b);
    let expected_b = BusError::VersionMismatch { ours: WIRE_VERSION, theirs: WIRE_VERSION + 1 };
    assert_eq!(answer.borrow_mut().take().unwrap().unwrap_err(), expected_b);
    assert_eq!(b.tell(chunk(1), None).unwrap_err(), expected_b);
    assert_eq!(
        a.tell(chunk(1), None).unwrap_err(),
        BusError::VersionMismatch { ours: WIRE_VERSION + 1, theirs: WIRE_VERSION }
    );
    assert!(expected_b.to_string().contains("load the same Sluice build"));
}

#[test]
fn frames_queued_before_the_handshake_are_bounded() {
    let (a, _b) = buses(BusConfig { max_queued: 3, ..BusConfig::default() });
    for seq in 0..3 {
        a.tell(chunk(seq), None).unwrap();
    }
    assert_eq!(a.tell(chunk(3), None), Err(BusError::QueueFull(3)));
}

#[test]
fn a_queued_frame_that_cannot_be_posted_fails_the_bus_and_its_waiting_request() {
    let mut pool = LocalPool::new();
    let (a, b) = buses(BusConfig::default());
    let _echo = echo_actor(&pool, &b, Address::Download(ID));
    let bus = a.clone();
    let answer = spawn(&pool, async move { bus.request(chunk(1), None).await });
    pool.run_until_stalled();
    // The request waits in the queue; then the port breaks before the peer's hello arrives.
    a.endpoint().break_posts();
    settle(&mut pool, &a, &b);
    assert!(
        matches!(answer.borrow().as_ref(), Some(Err(BusError::Post(_)))),
        "the request ends with the post's error, not a timeout: {:?}",
        answer.borrow()
    );
    assert!(matches!(a.tell(chunk(2), None), Err(BusError::Post(_))), "the bus failed");
}
