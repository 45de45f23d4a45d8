//! Rewrites remembered: legacy sites serve the same HTML over and over, and the same origin
//! body under the same decision inputs always rewrites to the same bytes. A bounded,
//! size-capped LRU maps (inputs, body) to the rewritten output, so a repeated page is served
//! without running the decoder, the rewriter or the encoder.
//!
//! A response is recognised as "the same" only when its whole body is known: bodies up to
//! `max_body_bytes` (decoded size: a compressed body is decoded as it arrives, so a
//! decompression bomb is never held) are held back (not streamed) until they end, then
//! looked up. That adds,
//! to such a response's first byte, the time the origin takes to send its body; larger bodies
//! stream as before, unmemoized. A hit needs the same inputs and the same body byte for byte
//! (the hash only finds the candidate), so a wrong hit cannot happen.
//!
//! A rewrite is remembered the second time its body is seen (the first sighting records only
//! the key): a page whose body changes on every request never fills the memo, never evicts
//! pages that repeat, and costs no more than the lookup.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;

use super::Stats;

/// Fixed cost charged per entry on top of its bytes (map slot, bookkeeping).
const ENTRY_OVERHEAD: usize = 256;

/// Keys of bodies seen once, remembered so that a second sighting stores the rewrite.
const SEEN_KEYS: usize = 8192;

/// Size limits.
#[derive(Debug, Clone, Copy)]
pub struct MemoSettings {
    /// Most bytes the memo holds (inputs, bodies and outputs together).
    pub max_bytes: usize,
    /// Largest origin body held back to be memoized.
    pub max_body_bytes: usize,
}

/// One remembered rewrite.
#[derive(Debug)]
pub struct Entry {
    inputs: String,
    body: Vec<u8>,
    /// The bytes sent to the client.
    pub output: Bytes,
    /// What the rewrite neutralized (for metrics and logs, as if it ran).
    pub stats: Stats,
}

impl Entry {
    fn size(&self) -> usize {
        self.inputs.len() + self.body.len() + self.output.len() + ENTRY_OVERHEAD
    }
}

struct Inner {
    map: LruCache<u64, Arc<Entry>>,
    bytes: usize,
    /// Keys seen once and not stored (least recently seen dropped first).
    seen: LruCache<u64, ()>,
}

impl Inner {
    fn stored(&self, evicted: usize) -> Stored {
        Stored {
            evicted,
            bytes: self.bytes,
            entries: self.map.len(),
        }
    }
}

/// The memo shared by every request.
pub struct Memo {
    inner: Mutex<Inner>,
    settings: MemoSettings,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What storing an entry did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// Entries evicted to make room.
    pub evicted: usize,
    /// Bytes held after storing.
    pub bytes: usize,
    /// Entries held after storing.
    pub entries: usize,
}

impl Memo {
    /// An empty memo.
    pub fn new(settings: MemoSettings) -> Self {
        Memo {
            inner: Mutex::new(Inner {
                map: LruCache::unbounded(),
                bytes: 0,
                seen: LruCache::new(
                    std::num::NonZeroUsize::new(SEEN_KEYS).unwrap_or(std::num::NonZeroUsize::MIN),
                ),
            }),
            settings,
        }
    }

    /// The limits.
    pub fn settings(&self) -> MemoSettings {
        self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lookup key of a whole body under some inputs (see [`KeyBuilder`]).
    #[cfg(test)]
    pub fn key(inputs: &str, body: &[u8]) -> u64 {
        let mut k = KeyBuilder::new(inputs);
        k.update(body);
        k.finish()
    }

    /// The remembered rewrite of exactly this body (given as the chunks it arrived in) under
    /// exactly these inputs. The bytes are compared outside the lock.
    pub fn get<B: AsRef<[u8]>>(&self, key: u64, inputs: &str, body: &[B]) -> Option<Arc<Entry>> {
        let entry = Arc::clone(self.lock().map.get(&key)?);
        (entry.inputs == inputs && same_bytes(&entry.body, body)).then_some(entry)
    }

    /// Whether a rewrite with this key should be stored: true the second time the key is
    /// seen (within the last few thousand unstored keys), false the first time.
    pub fn admit(&self, key: u64) -> bool {
        let mut inner = self.lock();
        if inner.seen.pop(&key).is_some() {
            return true;
        }
        inner.seen.put(key, ());
        false
    }

    /// What the memo holds now (for a rewrite that was not stored).
    pub fn unchanged(&self) -> Stored {
        self.lock().stored(0)
    }

    /// Remembers a rewrite, evicting the least recently used entries beyond the size cap.
    /// Entries larger than a quarter of the cap are not kept.
    pub fn put(
        &self,
        key: u64,
        inputs: String,
        body: Vec<u8>,
        output: Bytes,
        stats: Stats,
    ) -> Stored {
        let entry = Entry {
            inputs,
            body,
            output,
            stats,
        };
        let size = entry.size();
        let mut inner = self.lock();
        if size > self.settings.max_bytes / 4 {
            return inner.stored(0);
        }
        if let Some(old) = inner.map.put(key, Arc::new(entry)) {
            inner.bytes = inner.bytes.saturating_sub(old.size());
        }
        inner.bytes += size;
        let mut evicted = 0;
        while inner.bytes > self.settings.max_bytes {
            let Some((_, old)) = inner.map.pop_lru() else {
                break;
            };
            inner.bytes = inner.bytes.saturating_sub(old.size());
            evicted += 1;
        }
        inner.stored(evicted)
    }

    /// Forgets everything (after a rule reload: the old entries can no longer hit).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.map.clear();
        inner.seen.clear();
        inner.bytes = 0;
    }

    /// Bytes and entries held.
    pub fn usage(&self) -> (usize, usize) {
        let s = self.unchanged();
        (s.bytes, s.entries)
    }
}

/// Builds a body's lookup key while the body arrives, so that each chunk is hashed while it is
/// still in the cache: the inputs first, then the body, then its length (which keeps the inputs
/// and the body apart). XXH3: a few microseconds for a 120 KB page; a collision only costs a
/// miss, since a hit compares the bytes.
pub struct KeyBuilder {
    hasher: xxhash_rust::xxh3::Xxh3,
    len: u64,
}

impl KeyBuilder {
    /// A key for a body under `inputs`, before any of the body.
    pub fn new(inputs: &str) -> Self {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(inputs.as_bytes());
        KeyBuilder { hasher, len: 0 }
    }

    /// The next part of the body.
    pub fn update(&mut self, part: &[u8]) {
        self.hasher.update(part);
        self.len += part.len() as u64;
    }

    /// The bytes of body so far.
    pub fn body_len(&self) -> u64 {
        self.len
    }

    /// The key of the whole body.
    pub fn finish(mut self) -> u64 {
        self.hasher.update(&self.len.to_le_bytes());
        self.hasher.digest()
    }
}

/// Whether `whole` is exactly the concatenation of `chunks`.
fn same_bytes<B: AsRef<[u8]>>(whole: &[u8], chunks: &[B]) -> bool {
    let mut rest = whole;
    for chunk in chunks {
        let chunk = chunk.as_ref();
        let Some((head, tail)) = rest.split_at_checked(chunk.len()) else {
            return false;
        };
        if head != chunk {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memo(max: usize) -> Memo {
        Memo::new(MemoSettings {
            max_bytes: max,
            max_body_bytes: 1 << 20,
        })
    }

    #[test]
    fn a_hit_needs_the_same_inputs_and_the_same_body() {
        let m = memo(1 << 20);
        let k = Memo::key("in", b"body");
        m.put(
            k,
            "in".into(),
            b"body".to_vec(),
            Bytes::from_static(b"out"),
            Stats::default(),
        );
        assert_eq!(
            m.get(k, "in", &[b"body"]).map(|e| e.output.clone()),
            Some(Bytes::from_static(b"out"))
        );
        // Same key (forced), other body or inputs: no hit.
        assert!(m.get(k, "in", &[b"bodz"]).is_none());
        assert!(m.get(k, "im", &[b"body"]).is_none());
        assert!(
            m.get(Memo::key("in", b"other"), "in", &[b"other"])
                .is_none()
        );
        // The chunks a body arrived in do not matter; any byte more or less does.
        let chunks: [&[u8]; 3] = [b"bo", b"", b"dy"];
        assert!(m.get(k, "in", &chunks).is_some());
        let mut key = KeyBuilder::new("in");
        for c in chunks {
            key.update(c);
        }
        assert_eq!(
            key.finish(),
            k,
            "the key does not depend on the chunks either"
        );
        assert!(m.get(k, "in", &[&b"bod"[..]]).is_none());
        assert!(m.get(k, "in", &[&b"body"[..], b"y"]).is_none());
        assert!(m.get(k, "in", &[&b"bo"[..], b"dz"]).is_none());
        assert!(m.get::<&[u8]>(k, "in", &[]).is_none());
    }

    #[test]
    fn the_size_cap_evicts_the_least_recently_used() {
        let entry = 4 + 1000 + 1000 + ENTRY_OVERHEAD;
        let m = memo(entry * 4 + 10);
        for i in 0..4u8 {
            let body = vec![i; 1000];
            let s = m.put(
                Memo::key("in", &body),
                "in".into(),
                body,
                Bytes::from(vec![0u8; 1000]),
                Stats::default(),
            );
            assert_eq!(s.evicted, 0);
        }
        // Touch entry 0, then add a fifth: entry 1 (least recently used) goes.
        assert!(
            m.get(Memo::key("in", &[0u8; 1000]), "in", &[[0u8; 1000]])
                .is_some()
        );
        let body = vec![9u8; 1000];
        let s = m.put(
            Memo::key("in", &body),
            "in".into(),
            body,
            Bytes::from(vec![0u8; 1000]),
            Stats::default(),
        );
        assert_eq!((s.evicted, s.entries), (1, 4));
        assert!(s.bytes <= entry * 4 + 10);
        assert!(
            m.get(Memo::key("in", &[1u8; 1000]), "in", &[[1u8; 1000]])
                .is_none()
        );
        assert!(
            m.get(Memo::key("in", &[0u8; 1000]), "in", &[[0u8; 1000]])
                .is_some()
        );
        // An entry above a quarter of the cap is not kept.
        let big = vec![7u8; entry * 2];
        let s = m.put(
            Memo::key("in", &big),
            "in".into(),
            big,
            Bytes::new(),
            Stats::default(),
        );
        assert_eq!(s.entries, 4);
        m.clear();
        assert_eq!(m.usage(), (0, 0));
    }

    #[test]
    fn a_key_is_admitted_the_second_time_it_is_seen() {
        let m = memo(1 << 20);
        assert!(!m.admit(1));
        assert!(!m.admit(2));
        assert!(m.admit(1), "second sighting");
        assert!(!m.admit(1), "the sighting was used up");
        // Keys seen once are bounded: the oldest are forgotten.
        for k in 100..100 + SEEN_KEYS as u64 {
            assert!(!m.admit(k));
        }
        assert!(!m.admit(2), "forgotten after SEEN_KEYS newer keys");
        m.clear();
        assert!(!m.admit(100), "cleared with the entries");
    }
}
