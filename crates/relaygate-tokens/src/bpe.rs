//! Byte-pair encoding over the pieces of [`crate::pretok`], with OpenAI's merge ranks.
//!
//! The ranks are read once from the encodings `tiktoken-rs` embeds; counting then needs no
//! regex engine and no allocation per piece: most pieces are one token and cost one hash
//! lookup, the rest go through the lowest-rank-first merge in buffers reused for the whole
//! text.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::Error;
use crate::count::Encoding;
use crate::pretok::{CharClasses, Pattern, Pieces};

/// Pieces longer than this are merged in chunks of this size, and counts that needed it are
/// reported as not exact. Real text never has a piece this long (it would be 4 KiB of letters
/// without a space, digit or punctuation mark, or of symbols, or of spaces); the limit keeps
/// the merge's memory and time per piece bounded on input made to be pathological.
pub const MAX_PIECE_BYTES: usize = 4096;

/// Pieces up to this long merge by scanning for the lowest rank (fastest for the short pieces
/// of prose and code); longer ones use a heap.
const SCAN_MERGE_BYTES: usize = 48;

/// Buffers of the merge, reused from piece to piece.
#[derive(Debug, Default)]
struct Scratch {
    /// `(start, rank of the pair starting here)` per part, then the piece's end.
    parts: Vec<(usize, u32)>,
    /// Heap merge: start of the next part, start of the previous part, whether a start is live.
    next: Vec<usize>,
    prev: Vec<usize>,
    alive: Vec<bool>,
    heap: BinaryHeap<Reverse<(u32, usize, usize)>>,
}

/// A byte-pair tokenizer for one OpenAI encoding.
#[derive(Debug)]
pub struct Tokenizer {
    ranks: Ranks,
    pattern: Pattern,
    classes: &'static CharClasses,
}

/// Token bytes to rank. Tokens of up to 15 bytes (nearly all) are keyed by an integer holding
/// their bytes and length, so a lookup hashes two words and compares one integer.
#[derive(Debug, Default)]
struct Ranks {
    short: FxHashMap<u128, u32>,
    long: FxHashMap<Box<[u8]>, u32>,
}

impl Ranks {
    #[inline(always)]
    fn short_key(bytes: &[u8]) -> Option<u128> {
        if bytes.len() > 15 {
            return None;
        }
        // Byte by byte: a library copy call costs more than the copy for a few bytes.
        let packed = bytes
            .iter()
            .rev()
            .fold(0u128, |k, &b| (k << 8) | u128::from(b));
        Some(packed | ((bytes.len() as u128) << 120))
    }

    #[inline(always)]
    fn get(&self, bytes: &[u8]) -> Option<u32> {
        match Self::short_key(bytes) {
            Some(key) => self.short.get(&key).copied(),
            None => self.long.get(bytes).copied(),
        }
    }

    fn insert(&mut self, bytes: Vec<u8>, rank: u32) {
        match Self::short_key(&bytes) {
            Some(key) => self.short.insert(key, rank),
            None => self.long.insert(bytes.into_boxed_slice(), rank),
        };
    }
}

/// The result of running a [`Tokenizer`] over some text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextCount {
    /// Tokens counted.
    pub tokens: u64,
    /// Whether some piece was longer than [`MAX_PIECE_BYTES`] and merged in chunks.
    pub chunked: bool,
}

fn classes() -> Option<&'static CharClasses> {
    static CLASSES: OnceLock<Option<CharClasses>> = OnceLock::new();
    CLASSES.get_or_init(CharClasses::new).as_ref()
}

/// The tokenizer of `enc`, loaded on first use (a few hundred milliseconds) and kept.
pub fn tokenizer(enc: Encoding) -> Result<&'static Tokenizer, Error> {
    static O200K: OnceLock<Option<Tokenizer>> = OnceLock::new();
    static CL100K: OnceLock<Option<Tokenizer>> = OnceLock::new();
    let cell = match enc {
        Encoding::O200kBase => &O200K,
        Encoding::Cl100kBase => &CL100K,
    };
    cell.get_or_init(|| Tokenizer::load(enc))
        .as_ref()
        .ok_or(Error::Tokenizer(enc.name()))
}

impl Tokenizer {
    fn load(enc: Encoding) -> Option<Self> {
        let classes = classes()?;
        let (core, pattern) = match enc {
            Encoding::O200kBase => (tiktoken_rs::o200k_base().ok()?, Pattern::O200k),
            Encoding::Cl100kBase => (tiktoken_rs::cl100k_base().ok()?, Pattern::Cl100k),
        };
        // tiktoken-rs keeps its rank table private; decoding every rank one by one rebuilds it.
        // Special tokens decode too, but ordinary text never produces them.
        let special: Vec<Vec<u8>> = core
            .special_tokens()
            .into_iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut ranks = Ranks::default();
        let mut misses = 0u32;
        let mut rank = 0u32;
        // Rank numbers are dense with a few holes before the special tokens; stop after a long
        // run of unknown ranks.
        while misses < 1024 {
            match core.decode_bytes(&[rank]) {
                Ok(bytes) if !special.contains(&bytes) => {
                    ranks.insert(bytes, rank);
                    misses = 0;
                }
                _ => misses += 1,
            }
            rank += 1;
        }
        Some(Tokenizer {
            ranks,
            pattern,
            classes,
        })
    }

    /// Counts the tokens of `text` (special-token text counts as ordinary text).
    pub fn count(&self, text: &str) -> TextCount {
        let mut tokens = 0u64;
        let chunked = self.walk(text, |_, _| tokens += 1);
        TextCount { tokens, chunked }
    }

    /// The pre-tokens of `text`: the pieces the encoding's pattern cuts it into before the
    /// merges, in order and covering all of it.
    pub fn pieces<'a>(&self, text: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        Pieces::new(self.classes, text, self.pattern)
    }

    /// The token ranks of `text`, as `encode_ordinary` of tiktoken would give them (pieces
    /// longer than [`MAX_PIECE_BYTES`] are merged in chunks, as in [`Tokenizer::count`]).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.walk(text, |bytes, rank| {
            let rank = rank.or_else(|| self.ranks.get(bytes));
            // Every single byte is a token, so a merge only yields known tokens.
            debug_assert!(rank.is_some(), "merge produced an unknown token");
            out.extend(rank);
        });
        out
    }

    /// Cuts `text` into pieces and merges each, handing every token's bytes to `emit`, with
    /// its rank when a whole piece is one token (merged parts are looked up only by callers
    /// that need ranks). Returns whether a piece was merged in chunks.
    fn walk(&self, text: &str, mut emit: impl FnMut(&[u8], Option<u32>)) -> bool {
        let mut scratch = Scratch::default();
        let mut chunked = false;
        for piece in Pieces::new(self.classes, text, self.pattern) {
            let piece = piece.as_bytes();
            if let Some(rank) = self.ranks.get(piece) {
                emit(piece, Some(rank));
                continue;
            }
            chunked |= piece.len() > MAX_PIECE_BYTES;
            for chunk in piece.chunks(MAX_PIECE_BYTES) {
                self.merge(chunk, &mut scratch);
                for w in scratch.parts.windows(2) {
                    if let [(a, _), (b, _)] = w {
                        emit(chunk.get(*a..*b).unwrap_or_default(), None);
                    }
                }
            }
        }
        chunked
    }

    fn rank(&self, piece: &[u8], from: usize, to: usize) -> u32 {
        piece
            .get(from..to)
            .and_then(|t| self.ranks.get(t))
            .unwrap_or(u32::MAX)
    }

    /// Merges `piece` lowest rank first (leftmost on ties), leaving the token boundaries in
    /// `scratch.parts`: `(start, rank of the pair starting here)` per token, then the end.
    fn merge(&self, piece: &[u8], scratch: &mut Scratch) {
        let n = piece.len();
        if n > SCAN_MERGE_BYTES {
            return self.merge_heap(piece, scratch);
        }
        let parts = &mut scratch.parts;
        parts.clear();
        // The last byte's pair runs past the end, so its rank is `u32::MAX` like the end's.
        parts.extend((0..n).map(|i| (i, self.rank(piece, i, i + 2))));
        parts.push((n, u32::MAX));
        loop {
            let mut best = (u32::MAX, 0);
            for (i, &(_, r)) in parts.iter().enumerate() {
                if r < best.0 {
                    best = (r, i);
                }
            }
            let (r, i) = best;
            if r == u32::MAX {
                break;
            }
            parts.remove(i + 1);
            let start = |parts: &[(usize, u32)], k: usize| parts.get(k).map_or(n, |p| p.0);
            let right = if i + 2 < parts.len() {
                self.rank(piece, start(parts, i), start(parts, i + 2))
            } else {
                u32::MAX
            };
            if let Some(p) = parts.get_mut(i) {
                p.1 = right;
            }
            if i > 0 {
                let left = self.rank(piece, start(parts, i - 1), start(parts, i + 1));
                if let Some(p) = parts.get_mut(i - 1) {
                    p.1 = left;
                }
            }
        }
    }

    /// The same merge order as [`Tokenizer::merge`] (lowest rank, then leftmost), with the
    /// candidate pairs in a heap and the parts in a linked list, so a long piece costs
    /// `n log n` instead of `n²`. Heap entries go stale as parts merge; an entry is live while
    /// its left part exists and still ends where the entry says its right part ends.
    fn merge_heap(&self, piece: &[u8], scratch: &mut Scratch) {
        let n = piece.len();
        let Scratch {
            parts,
            next,
            prev,
            alive,
            heap,
        } = scratch;
        // next[i]: start of the part after the part starting at i (n past the last part).
        next.clear();
        next.extend(1..=n);
        prev.clear();
        prev.extend((0..n).map(|i| i.wrapping_sub(1)));
        alive.clear();
        alive.resize(n, true);
        heap.clear();
        for i in 0..n.saturating_sub(1) {
            let r = self.rank(piece, i, i + 2);
            if r != u32::MAX {
                heap.push(Reverse((r, i, i + 2)));
            }
        }
        let next_of = |next: &[usize], i: usize| next.get(i).copied().unwrap_or(n);
        while let Some(Reverse((_, left, end))) = heap.pop() {
            if !alive.get(left).copied().unwrap_or(false) {
                continue;
            }
            let right = next_of(next, left);
            if right >= n || next_of(next, right) != end {
                continue;
            }
            if let Some(a) = alive.get_mut(right) {
                *a = false;
            }
            if let Some(x) = next.get_mut(left) {
                *x = end;
            }
            if let Some(p) = prev.get_mut(end) {
                *p = left;
            }
            if end < n {
                let after = next_of(next, end);
                let r = self.rank(piece, left, after);
                if r != u32::MAX {
                    heap.push(Reverse((r, left, after)));
                }
            }
            if let Some(&before) = prev.get(left).filter(|&&p| p < n) {
                let r = self.rank(piece, before, end);
                if r != u32::MAX {
                    heap.push(Reverse((r, before, end)));
                }
            }
        }
        parts.clear();
        let mut i = 0;
        while i < n {
            parts.push((i, u32::MAX));
            i = next_of(next, i);
        }
        parts.push((n, u32::MAX));
    }
}
