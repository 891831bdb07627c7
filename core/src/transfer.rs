//! The transfer path's end rule, in the service worker. The page's bytes come through a
//! transferred stream, which also ends when the page merely goes away; so the download is
//! complete only when the stream is drained *and* the page's [`crate::Message::Close`] says
//! how many bytes it sent, and that count arrived (and is the declared size, if one was).

/// How a transfer-path download ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEnd {
    /// Every byte arrived: close the response, tell the page `Done` with this total.
    Complete(u64),
    /// Error the response (never close it short), for this reason.
    Failed(String),
}

/// Counts a transfer-path download's bytes and decides its end. Feed it with the `handle_*`
/// inputs; after each, [`TransferCheck::poll_end`] says whether (and how) the download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferCheck {
    declared: Option<u64>,
    received: u64,
    closed_with: Option<u64>,
    drained: bool,
    end: Option<TransferEnd>,
    reported: bool,
}

impl TransferCheck {
    /// A download of `declared` bytes, if known.
    pub fn new(declared: Option<u64>) -> Self {
        Self { declared, received: 0, closed_with: None, drained: false, end: None, reported: false }
    }

    /// Bytes that arrived so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// A chunk of `len` bytes arrived: `false` if it must not be served (it passes the size).
    pub fn handle_chunk(&mut self, len: u64) -> bool {
        if self.end.is_some() {
            return false;
        }
        let total = self.received.saturating_add(len);
        if let Some(declared) = self.declared.filter(|&d| total > d) {
            self.end = Some(TransferEnd::Failed(format!("{total} bytes arrived, declared {declared}")));
            return false;
        }
        self.received = total;
        true
    }

    /// The transferred stream ended.
    pub fn handle_drained(&mut self) {
        self.drained = true;
        self.decide();
    }

    /// The page closed after sending `total` bytes.
    pub fn handle_close(&mut self, total: u64) {
        self.closed_with = Some(total);
        self.decide();
    }

    /// The download failed for `why` (the page aborted, went away...), unless it already ended.
    pub fn handle_failure(&mut self, why: &str) {
        if self.end.is_none() {
            self.end = Some(TransferEnd::Failed(why.to_string()));
        }
    }

    /// How the download ended, once (`None`: not yet, or already said).
    pub fn poll_end(&mut self) -> Option<TransferEnd> {
        if self.reported {
            return None;
        }
        let end = self.end.clone()?;
        self.reported = true;
        Some(end)
    }

    fn decide(&mut self) {
        let (true, Some(total), None) = (self.drained, self.closed_with, &self.end) else { return };
        let expected = self.declared.unwrap_or(total);
        self.end = Some(if total == self.received && expected == self.received {
            TransferEnd::Complete(total)
        } else {
            TransferEnd::Failed(format!("closed after {} bytes, expected {expected}", self.received))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_only_when_drained_and_closed_with_what_arrived() {
        for close_first in [false, true] {
            let mut check = TransferCheck::new(Some(10));
            assert!(check.handle_chunk(4) && check.handle_chunk(6));
            if close_first {
                check.handle_close(10);
                assert_eq!(check.poll_end(), None, "the stream still has to drain");
                check.handle_drained();
            } else {
                check.handle_drained();
                assert_eq!(check.poll_end(), None, "a drained stream without the page's close is not complete");
                check.handle_close(10);
            }
            assert_eq!(check.poll_end(), Some(TransferEnd::Complete(10)));
            assert_eq!(check.poll_end(), None);
        }
    }

    #[test]
    fn a_stream_that_ends_short_or_long_fails() {
        let mut short = TransferCheck::new(Some(10));
        short.handle_chunk(4);
        short.handle_close(4);
        short.handle_drained();
        assert_eq!(short.poll_end(), Some(TransferEnd::Failed("closed after 4 bytes, expected 10".into())));

        let mut lying = TransferCheck::new(None);
        lying.handle_chunk(4);
        lying.handle_close(5);
        lying.handle_drained();
        assert!(matches!(lying.poll_end(), Some(TransferEnd::Failed(_))));

        let mut long = TransferCheck::new(Some(3));
        assert!(!long.handle_chunk(4));
        assert_eq!(long.received(), 0);
        assert_eq!(long.poll_end(), Some(TransferEnd::Failed("4 bytes arrived, declared 3".into())));
    }

    #[test]
    fn a_page_that_goes_fails_the_download_even_if_its_stream_drained() {
        let mut check = TransferCheck::new(None);
        check.handle_chunk(7);
        check.handle_drained();
        check.handle_failure("the page is gone");
        assert_eq!(check.poll_end(), Some(TransferEnd::Failed("the page is gone".into())));
        check.handle_close(7);
        assert_eq!(check.poll_end(), None, "the end is decided once");
    }
}
