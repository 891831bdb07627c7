//! Property test: whatever the write sizes, the path and when credit comes back, the writer
//! sends every byte once and in order, never beyond its credit, and settles every call once.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use proptest::prelude::*;
use sluice_core::window::SendError;
use sluice_core::{DownloadId, FlowConfig, Message, Output, TransferPath, Writer};

proptest! {
    #[test]
    fn every_byte_goes_out_once_in_order_within_credit(
        writes in prop::collection::vec(0usize..300, 0..40),
        transfer in any::<bool>(),
        lazy_consumer in prop::collection::vec(any::<bool>(), 64),
    ) {
        let flow = FlowConfig { window_chunks: 3, window_bytes: 256, min_chunk: 16, max_chunk: 64 };
        let path = if transfer { TransferPath::Transfer } else { TransferPath::Fallback };
        let total: usize = writes.iter().sum();
        let mut w: Writer<Vec<u8>, SendError> =
            Writer::new(DownloadId::from_u128(9), path, flow, Some(total as u64), Duration::ZERO).unwrap();
        let (mut credit_chunks, mut credit_bytes) = (0u32, 0u64);
        let grant = |w: &mut Writer<Vec<u8>, SendError>, chunks: u32, bytes: u64| w.handle_grant(chunks, bytes);
        if !transfer {
            grant(&mut w, 3, 256);
            (credit_chunks, credit_bytes) = (3, 256);
        }
        let mut input: Vec<u8> = Vec::new();
        let mut output = Vec::new();
        let mut unreturned: Vec<u64> = Vec::new();
        let mut step = 0usize;
        let calls = writes.len() + 1;
        let mut settled = 0usize;
        for (n, len) in writes.iter().copied().enumerate().map(|(i, l)| (i, Some(l))).chain([(usize::MAX, None)]) {
            let bytes: Vec<u8> = (0..len.unwrap_or(0)).map(|i| (n.wrapping_mul(31) + i) as u8).collect();
            input.extend(&bytes);
            match len {
                Some(_) => w.handle_write(bytes).unwrap(),
                None => w.handle_close().unwrap(),
            }
            // Run until this call settles, giving credit back (or settling stream writes) as a
            // consumer would, sometimes late.
            let mut this_settled = false;
            let mut closing = false;
            for _ in 0..100_000 {
                match w.poll_output() {
                    Some(Output::Send { header: Message::Chunk { len, .. }, piece }) => {
                        prop_assert!(!transfer);
                        prop_assert_eq!(len as usize, piece.len());
                        prop_assert!(credit_chunks >= 1 && credit_bytes >= piece.len() as u64, "sent beyond credit");
                        credit_chunks -= 1;
                        credit_bytes -= piece.len() as u64;
                        prop_assert!(piece.len() <= 64);
                        unreturned.push(piece.len() as u64);
                        output.extend(piece);
                    }
                    Some(Output::Write(piece)) => {
                        prop_assert!(transfer);
                        output.extend(piece);
                        w.handle_written(Ok(()));
                    }
                    Some(Output::CloseStream) => {
                        closing = true;
                        w.handle_written(Ok(()));
                    }
                    Some(Output::Settled(result)) => {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        prop_assert!(!this_settled, "settled twice");
                        this_settled = true;
                        settled += 1;
                    }
                    Some(Output::Tell(Message::Close { total: t, .. })) => prop_assert_eq!(t as usize, total),
                    Some(Output::Progressed) => {}
                    Some(other) => prop_assert!(false, "unexpected {:?}", other),
                    None if this_settled => break,
                    None => {
                        // Blocked on credit: the consumer takes one chunk (or all, when eager).
                        prop_assert!(!unreturned.is_empty(), "blocked with nothing in flight");
                        let eager = lazy_consumer[step % lazy_consumer.len()];
                        step += 1;
                        let back = if eager { unreturned.len() } else { 1 };
                        let bytes: u64 = unreturned.drain(..back).sum();
                        grant(&mut w, back as u32, bytes);
                        credit_chunks += back as u32;
                        credit_bytes += bytes;
                    }
                }
            }
            prop_assert!(this_settled, "a call never settled");
            prop_assert_eq!(closing, transfer && len.is_none());
        }
        prop_assert_eq!(settled, calls);
        prop_assert_eq!(output, input);
        w.handle_done(total as u64);
        prop_assert_eq!(w.poll_output(), Some(Output::Done(total as u64)));
        prop_assert!(w.is_ended());
    }
}
