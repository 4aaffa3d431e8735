//! The pre-tokenizers of `o200k_base` and `cl100k_base`, followed by hand in one forward pass.
//!
//! tiktoken cuts text into pieces with a regular expression before its BPE runs. The patterns
//! use a look-ahead (`\s+(?!\S)`), which needs a backtracking engine, and that engine was most
//! of the time of a count. The patterns are small enough to follow without an engine: each
//! branch below names the alternative it stands for, and the crate's `tokenizer` tests check the
//! resulting pieces and tokens against tiktoken's own on recorded traffic, the repository's text
//! and random strings.
//!
//! Character classes (`\p{L}`, `\p{N}`, `\s`, the upper/lower letter sets) come from the Unicode
//! tables of `regex-syntax`, the same tables the regex engine of `tiktoken-rs` uses, so the two
//! agree on every code point. (OpenAI's Python tiktoken may ship older Unicode tables; code
//! points assigned since could be cut differently there.)

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`
const LETTER: u8 = 1;
/// `\p{N}`
const NUMBER: u8 = 2;
/// `\s` (Unicode `White_Space`)
const SPACE: u8 = 4;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: what may open an o200k word.
const UPPER: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: what an o200k word needs at least one of.
const LOWER: u8 = 16;

const CODE_POINTS: usize = 0x11_0000;
const BLOCK: usize = 256;

/// Which encoding's pattern to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `o200k_base`: words split by case, contractions glued to the word, `/` after line breaks.
    O200k,
    /// `cl100k_base`: letter runs, contractions as their own pieces, possessive quantifiers.
    Cl100k,
}

/// The class bits of every code point, as a two-level table of 256-point blocks (identical
/// blocks shared), so a lookup is two loads and the table is a few tens of kilobytes.
#[derive(Debug)]
pub(crate) struct CharClasses {
    ascii: [u8; 128],
    index: Vec<u16>,
    blocks: Vec<[u8; BLOCK]>,
}

impl CharClasses {
    /// Builds the table from `regex-syntax`'s Unicode data; `None` if a class fails to parse.
    pub(crate) fn new() -> Option<Self> {
        let mut flat = vec![0u8; CODE_POINTS];
        for (pattern, bit) in [
            (r"\p{L}", LETTER),
            (r"\p{N}", NUMBER),
            (r"\s", SPACE),
            (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPER),
            (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWER),
        ] {
            let hir = regex_syntax::parse(pattern).ok()?;
            let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
                return None;
            };
            for range in class.ranges() {
                for slot in flat.get_mut(range.start() as usize..=range.end() as usize)? {
                    *slot |= bit;
                }
            }
        }
        let mut blocks: Vec<[u8; BLOCK]> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        let mut index = Vec::with_capacity(CODE_POINTS / BLOCK);
        for chunk in flat.chunks_exact(BLOCK) {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(chunk);
            let id = *seen.entry(block).or_insert_with(|| {
                blocks.push(block);
                blocks.len() - 1
            });
            index.push(u16::try_from(id).ok()?);
        }
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(flat.get(..128)?);
        Some(CharClasses {
            ascii,
            index,
            blocks,
        })
    }

    /// The class bits of code point `cp` (0 past the last code point).
    #[inline]
    fn of(&self, cp: u32) -> u8 {
        let cp = cp as usize;
        self.index
            .get(cp / BLOCK)
            .and_then(|&b| self.blocks.get(usize::from(b)))
            .map_or(0, |block| block[cp % BLOCK])
    }
}

/// Iterator over the pieces of `text` as the encoding's pattern would cut them.
#[derive(Debug)]
pub(crate) struct Pieces<'a> {
    classes: &'a CharClasses,
    /// The text; `text` below is its bytes, which every rule reads.
    source: &'a str,
    text: &'a [u8],
    pos: usize,
    pattern: Pattern,
}

impl<'a> Pieces<'a> {
    /// The pieces of `text`, in order and covering all of it.
    pub(crate) fn new(classes: &'a CharClasses, text: &'a str, pattern: Pattern) -> Self {
        Pieces {
            classes,
            source: text,
            text: text.as_bytes(),
            pos: 0,
            pattern,
        }
    }

    /// The class bits, code point and byte length of the character at `i`, or `None` at the end.
    #[inline(always)]
    fn at(&self, i: usize) -> Option<(u8, u32, usize)> {
        let b0 = *self.text.get(i)?;
        match self.classes.ascii.get(usize::from(b0)) {
            Some(&m) => Some((m, u32::from(b0), 1)),
            None => Some(self.at_wide(i, b0)),
        }
    }

    /// [`Pieces::at`] for a character outside ASCII (`b0` is its lead byte).
    fn at_wide(&self, i: usize, b0: u8) -> (u8, u32, usize) {
        let b = self.text;
        let cont = |k: usize| u32::from(b.get(i + k).copied().unwrap_or(0x80) & 0x3F);
        let (cp, len) = if b0 < 0xE0 {
            ((u32::from(b0 & 0x1F) << 6) | cont(1), 2)
        } else if b0 < 0xF0 {
            ((u32::from(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (
                (u32::from(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
                4,
            )
        };
        (self.classes.of(cp), cp, len)
    }

    /// End of the run of characters from `i` whose class bits meet `keep`.
    #[inline(always)]
    fn run(&self, mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
        while let Some((m, _, n)) = self.at(i) {
            if !keep(m) {
                break;
            }
            i += n;
        }
        i
    }

    /// `[^\r\n\p{L}\p{N}]`: the optional character before a word.
    #[inline]
    fn is_prefix(m: u8, cp: u32) -> bool {
        cp != u32::from(b'\r') && cp != u32::from(b'\n') && m & (LETTER | NUMBER) == 0
    }

    /// `[^\s\p{L}\p{N}]`: punctuation, symbols and marks.
    #[inline]
    fn is_punct(m: u8) -> bool {
        m & (SPACE | LETTER | NUMBER) == 0
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`: the end of the contraction, if there is one.
    /// Case folding makes `ſ` (U+017F) an `s`, as it does in the regex engine.
    fn contraction(&self, i: usize) -> Option<usize> {
        let b = self.text;
        if b.get(i) != Some(&b'\'') {
            return None;
        }
        let lower = |k: usize| b.get(i + k).map(u8::to_ascii_lowercase);
        match lower(1)? {
            b's' | b't' | b'm' | b'd' => Some(i + 2),
            b'l' if lower(2) == Some(b'l') => Some(i + 3),
            b'r' | b'v' if lower(2) == Some(b'e') => Some(i + 3),
            0xC5 if b.get(i + 2) == Some(&0xBF) => Some(i + 3),
            _ => None,
        }
    }

    /// `\p{N}{1,3}`
    fn digits(&self, mut i: usize) -> usize {
        for _ in 0..3 {
            match self.at(i) {
                Some((m, _, n)) if m & NUMBER != 0 => i += n,
                _ => break,
            }
        }
        i
    }

    /// ` ?[^\s\p{L}\p{N}]+` followed by `[\r\n]*` (cl100k) or `[\r\n/]*` (o200k).
    fn punct(&self, i: usize, m0: u8, cp0: u32) -> Option<usize> {
        let start =
            if cp0 == u32::from(b' ') && self.at(i + 1).is_some_and(|(m, ..)| Self::is_punct(m)) {
                i + 1
            } else if Self::is_punct(m0) {
                i
            } else {
                return None;
            };
        let mut e = self.run(start, Self::is_punct);
        let slash = self.pattern == Pattern::O200k;
        while let Some(&c) = self.text.get(e) {
            if c == b'\r' || c == b'\n' || (slash && c == b'/') {
                e += 1;
            } else {
                break;
            }
        }
        Some(e)
    }

    /// o200k `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+` from `s`, with the
    /// backtracking a regex engine would do when the upper run ate the only lower character.
    fn word_lower(&self, s: usize) -> Option<usize> {
        let u = self.run(s, |m| m & UPPER != 0);
        let w = self.run(u, |m| m & LOWER != 0);
        if w > u {
            return Some(w);
        }
        // Give back characters of the upper run until one can serve as the lower part; the
        // one after it is not lower (or the run would have continued), so the word ends there.
        let mut last = None;
        let mut j = s;
        while j < u {
            let Some((m, _, n)) = self.at(j) else { break };
            j += n;
            if m & LOWER != 0 {
                last = Some(j);
            }
        }
        last
    }

    /// o200k `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*` from `s`.
    fn word_upper(&self, s: usize) -> Option<usize> {
        let u = self.run(s, |m| m & UPPER != 0);
        (u > s).then(|| self.run(u, |m| m & LOWER != 0))
    }

    /// Whitespace from `i` (the character at `i` is whitespace): the last four alternatives of
    /// both patterns.
    fn spaces(&self, i: usize, first_len: usize) -> usize {
        let e = self.run(i, |m| m & SPACE != 0);
        let at_end = e == self.text.len();
        // cl100k tries `\s++$` before `\s*[\r\n]`.
        if at_end && self.pattern == Pattern::Cl100k {
            return e;
        }
        // `\s*[\r\n]+` / `\s*[\r\n]`: up to the last line break of the run (CR and LF are
        // single bytes that never occur inside a multi-byte character).
        let run = self.text.get(i..e).unwrap_or_default();
        if let Some(k) = run.iter().rposition(|&c| c == b'\r' || c == b'\n') {
            return i + k + 1;
        }
        // `\s+(?!\S)`: all of it at the end of the text, else all but the last character.
        if at_end {
            return e;
        }
        let mut last = e;
        while last > i {
            last -= 1;
            if self.text.get(last).is_some_and(|&c| c & 0xC0 != 0x80) {
                break;
            }
        }
        if last > i { last } else { i + first_len }
    }

    /// The end of the o200k piece starting at `i`, trying the alternatives in the pattern's
    /// order: `P?U*W+C?` then `P?U+W*C?` (each first with the prefix `P`, then without), then
    /// `\p{N}{1,3}`, ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, then the whitespace alternatives.
    fn next_o200k(&self, i: usize, m0: u8, cp0: u32, n0: usize) -> usize {
        let prefix = Self::is_prefix(m0, cp0);
        let word = |f: &dyn Fn(usize) -> Option<usize>| {
            prefix
                .then(|| f(i + n0))
                .flatten()
                .or_else(|| f(i))
                .map(|e| self.contraction(e).unwrap_or(e))
        };
        if let Some(e) = word(&|s| self.word_lower(s)).or_else(|| word(&|s| self.word_upper(s))) {
            return e;
        }
        if m0 & NUMBER != 0 {
            return self.digits(i);
        }
        if let Some(e) = self.punct(i, m0, cp0) {
            return e;
        }
        self.spaces(i, n0)
    }

    /// The end of the cl100k piece starting at `i`: a contraction, `P?+\p{L}++`,
    /// `\p{N}{1,3}+`, ` ?[^\s\p{L}\p{N}]++[\r\n]*+`, then the whitespace alternatives.
    fn next_cl100k(&self, i: usize, m0: u8, cp0: u32, n0: usize) -> usize {
        if let Some(e) = self.contraction(i) {
            return e;
        }
        // `[^\r\n\p{L}\p{N}]?+\p{L}++`
        if Self::is_prefix(m0, cp0) && self.at(i + n0).is_some_and(|(m, ..)| m & LETTER != 0) {
            return self.run(i + n0, |m| m & LETTER != 0);
        }
        if m0 & LETTER != 0 {
            return self.run(i, |m| m & LETTER != 0);
        }
        if m0 & NUMBER != 0 {
            return self.digits(i);
        }
        if let Some(e) = self.punct(i, m0, cp0) {
            return e;
        }
        self.spaces(i, n0)
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let i = self.pos;
        let (m0, cp0, n0) = self.at(i)?;
        let end = match self.pattern {
            Pattern::O200k => self.next_o200k(i, m0, cp0, n0),
            Pattern::Cl100k => self.next_cl100k(i, m0, cp0, n0),
        };
        // Every branch consumes at least the first character; never loop in place.
        let end = end.max(i + n0).min(self.text.len());
        self.pos = end;
        // Every rule ends a piece after a whole character, so this is a char boundary.
        self.source.get(i..end)
    }
}
