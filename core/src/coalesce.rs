//! Gathers writes of any size into chunks of a useful size, keeping every byte in order.
//!
//! StreamSaver.js posts one message per write: 1,000,000 writes of 100 B take over a minute in
//! Chrome. Here small writes fill a buffer until it holds at least `min_chunk` bytes; large
//! writes are cut into chunks of at most `max_chunk` bytes. Memory stays below `max_chunk`.

/// The next move for the bytes of a write ([`Coalescer::next_step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A chunk is ready: take it with [`Coalescer::poll_chunk`].
    Emit,
    /// Send this many bytes of the write as a chunk of their own (never through the buffer).
    Direct(usize),
    /// [`Coalescer::push`] this many bytes of the write (they all fit).
    Buffer(usize),
}

/// The chunker. Feed with [`Coalescer::push`], drain with [`Coalescer::poll_chunk`], and at
/// the end take the rest with [`Coalescer::flush`].
#[derive(Debug, Clone)]
pub struct Coalescer {
    min: usize,
    max: usize,
    buf: Vec<u8>,
}

impl Coalescer {
    /// Chunks of at least `min_chunk` and at most `max_chunk` bytes (clamped to `1 <= min <= max`).
    pub fn new(min_chunk: u32, max_chunk: u32) -> Self {
        let max = (max_chunk as usize).max(1);
        let min = (min_chunk as usize).clamp(1, max);
        Self { min, max, buf: Vec::new() }
    }

    /// Takes as many bytes of `data` as fit before the next chunk is due and returns how many.
    /// Call [`Coalescer::poll_chunk`] in between until all of `data` is taken.
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.buf.len() >= self.min {
            return 0;
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.min.max(data.len().min(self.max)));
        }
        let n = data.len().min(self.max - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// A full chunk, when one is ready.
    pub fn poll_chunk(&mut self) -> Option<Vec<u8>> {
        (self.buf.len() >= self.min).then(|| std::mem::take(&mut self.buf))
    }

    /// Whatever is buffered, as a last (possibly short) chunk; `None` when empty.
    pub fn flush(&mut self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }

    /// What to do with the next bytes of a write that has `remaining` bytes left, so that no
    /// write is ever copied whole into memory it does not need: `None` once it is all taken.
    pub fn next_step(&self, remaining: usize) -> Option<Step> {
        if self.buf.len() >= self.min {
            Some(Step::Emit)
        } else if remaining == 0 {
            None
        } else if self.buf.is_empty() && remaining >= self.min {
            Some(Step::Direct(remaining.min(self.max)))
        } else {
            Some(Step::Buffer(remaining.min(self.max - self.buf.len())))
        }
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(c: &mut Coalescer, writes: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for mut data in writes.iter().copied() {
            while !data.is_empty() {
                let n = c.push(data);
                data = &data[n..];
                out.extend(c.poll_chunk());
            }
        }
        out.extend(c.flush());
        out
    }

    #[test]
    fn small_writes_become_min_sized_chunks() {
        let mut c = Coalescer::new(10, 100);
        let w = [1u8; 3];
        let chunks = chunks_of(&mut c, &[&w[..]; 10]);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [12, 12, 6]);
    }

    #[test]
    fn large_writes_are_cut_at_max() {
        let mut c = Coalescer::new(10, 100);
        let data: Vec<u8> = (0..=255).collect();
        let chunks = chunks_of(&mut c, &[&data]);
        let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 56]);
        assert_eq!(chunks.concat(), data);
    }

    /// Plays a write through `next_step` and returns its chunks, marking direct ones.
    fn steps_of(c: &mut Coalescer, data: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(step) = c.next_step(data.len() - at) {
            match step {
                Step::Emit => out.push((false, c.poll_chunk().unwrap())),
                Step::Direct(n) => {
                    out.push((true, data[at..at + n].to_vec()));
                    at += n;
                }
                Step::Buffer(n) => {
                    assert_eq!(c.push(&data[at..at + n]), n);
                    at += n;
                }
            }
        }
        out
    }

    #[test]
    fn large_writes_go_direct_and_small_ones_through_the_buffer() {
        let mut c = Coalescer::new(10, 100);
        let big: Vec<u8> = (0..=255).collect();
        let chunks = steps_of(&mut c, &big);
        let shape: Vec<(bool, usize)> = chunks.iter().map(|(d, v)| (*d, v.len())).collect();
        assert_eq!(shape, [(true, 100), (true, 100), (true, 56)]);
        assert_eq!(chunks.iter().flat_map(|(_, v)| v.clone()).collect::<Vec<_>>(), big);
        // A small write is buffered; the large one after it first tops the buffer up to max.
        assert!(steps_of(&mut c, &[1, 2, 3]).is_empty());
        let chunks = steps_of(&mut c, &big);
        let shape: Vec<(bool, usize)> = chunks.iter().map(|(d, v)| (*d, v.len())).collect();
        assert_eq!(shape, [(false, 100), (true, 100), (true, 59)]);
        assert_eq!(c.buffered(), 0);
        // 5 bytes left over stay buffered (under min) for the next write or the flush.
        assert!(steps_of(&mut c, &big[..5]).is_empty());
        assert_eq!(c.flush().unwrap().len(), 5);
    }

    #[test]
    fn empty_flush_is_none() {
        let mut c = Coalescer::new(10, 100);
        assert_eq!(c.flush(), None);
        assert_eq!(c.push(&[]), 0);
        assert_eq!(c.poll_chunk(), None);
    }
}
