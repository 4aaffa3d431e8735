#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The crate's regex-free tokenizer gives the same tokens as tiktoken (`tiktoken-rs`, which
//! runs OpenAI's own patterns with a backtracking regex engine) for both encodings: on a table
//! of edge cases, on recorded API traffic, on the repository's own text and on random strings
//! built from characters of every class the patterns tell apart.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use relaygate_tokens::{Encoding, MAX_PIECE_BYTES, tokenizer};
use tiktoken_rs::CoreBPE;

const ENCODINGS: [Encoding; 2] = [Encoding::O200kBase, Encoding::Cl100kBase];

fn reference(enc: Encoding) -> &'static CoreBPE {
    match enc {
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
    }
}

/// The split patterns as tiktoken runs them (o200k's from `tiktoken-rs`; cl100k's as OpenAI
/// publishes it in `tiktoken_ext/openai_public.py`, with possessive quantifiers).
fn reference_pattern(enc: Encoding) -> &'static fancy_regex::Regex {
    static O200K: OnceLock<fancy_regex::Regex> = OnceLock::new();
    static CL100K: OnceLock<fancy_regex::Regex> = OnceLock::new();
    match enc {
        Encoding::O200kBase => {
            O200K.get_or_init(|| fancy_regex::Regex::new(tiktoken_rs::O200K_BASE_PAT_STR).unwrap())
        }
        Encoding::Cl100kBase => CL100K.get_or_init(|| {
            fancy_regex::Regex::new(concat!(
                r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+",
                r"| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
            ))
            .unwrap()
        }),
    }
}

fn reference_pieces(enc: Encoding, text: &str) -> Vec<String> {
    reference_pattern(enc)
        .find_iter(text)
        .map(|m| m.unwrap().as_str().to_owned())
        .collect()
}

/// Asserts identical pre-tokens and identical tokens, naming where they part.
fn assert_same(enc: Encoding, text: &str, origin: &str) {
    let ours: Vec<&str> = tokenizer(enc).unwrap().pieces(text).collect();
    let theirs = reference_pieces(enc, text);
    if ours != theirs {
        let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        panic!(
            "{}: {origin}: pieces part at #{at}: ours {:?} vs tiktoken {:?}",
            enc.name(),
            ours.get(at..(at + 3).min(ours.len())),
            theirs.get(at..(at + 3).min(theirs.len()))
        );
    }
    let ours = tokenizer(enc).unwrap().encode(text);
    let theirs = reference(enc).encode_ordinary(text);
    if ours != theirs {
        let at = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        let show = |t: &[u32]| {
            let end = (at + 4).min(t.len());
            let slice = t.get(at..end).unwrap_or(&[]);
            String::from_utf8_lossy(&reference(enc).decode_bytes(slice).unwrap()).into_owned()
        };
        panic!(
            "{}: {origin}: tokens part at #{at}: ours {:?} vs tiktoken {:?}",
            enc.name(),
            show(&ours),
            show(&theirs)
        );
    }
    let counted = tokenizer(enc).unwrap().count(text);
    assert_eq!(counted.tokens, theirs.len() as u64, "{origin}: count");
    assert!(!counted.chunked, "{origin}: no piece here is that long");
}

#[test]
fn edge_cases_match_tiktoken() {
    let cases = [
        "",
        "hello world",
        "Hello World HELLO world hELLO",
        "don't DON'T I'm we'll they've you're she'd IT'S it's 'tis 'S 'LL",
        "ſ 'ſ it'ſ DOUBLE'ſ",
        "'re're'vee'mm'lll'dd'",
        "Kelvin K and Å angstrom",
        "ǅemal ǈ ǋa Ǆ",
        "ʰʱʲ aʰ Aʰb",
        "e\u{301}te\u{301} \u{301}start \u{301}\u{301}A \u{301}",
        "नमस्ते दुनिया क्षत्रिय",
        "สวัสดีครับ ไทย",
        "مرحبا بالعالم ١٢٣٤٥",
        "שלום עולם",
        "你好，世界！这是一个测试。日本語のテキストです。",
        "한국어 텍스트 테스트",
        "Ⅻ ⅲ ² ½ ①② 1234567 12.5 -3e10",
        "\u{a0}nbsp \u{2028}ls \u{3000}ideo \u{85}nel \u{200b}zwsp \u{feff}bom",
        "tab\there\t\tand\x0bvt\x0cff",
        "line\nline\r\nline\rline\n\n\n   \n  x",
        "trailing spaces   ",
        "trailing newline\n",
        "trailing mix  \n  ",
        "   leading",
        " \n",
        "\n \n \n",
        "a  b   c    d",
        "x\n/ y\n// z//\n/ w",
        "path/to/file.rs https://example.com/a/b?c=d&e=f#g",
        "fn main() { let x: Vec<u64> = (0..10).map(|i| i * 2).collect(); }",
        "    if (a && b) {\n        return c;\n    }\n",
        "😀 👍🏽 👨\u{200d}👩\u{200d}👧 🇫🇷 ❤️",
        "€100 £5 ¥1000 ₿0.1 ¢",
        "\u{0}\u{1}\u{7f}\u{80}\u{9f}",
        "<|endoftext|> <|fim_prefix|> <|endofprompt|>",
        "\"quoted\" 'single' `code` «guillemets» „low“",
        "....!!!???---___***///",
        " .x ..y ...z",
        "\u{10ffff}\u{e000}\u{f8ff}",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ=",
        "{\"role\":\"user\",\"content\":\"hi\"}",
    ];
    for enc in ENCODINGS {
        for case in cases {
            assert_same(enc, case, &format!("{case:?}"));
        }
    }
}

/// Our own text: the repository's documents, sources and request fixtures.
fn repo_texts() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    let mut dirs = vec![
        root.join("docs"),
        root.join("fixtures"),
        root.join("crates/relaygate-tokens/src"),
        root.join("crates/relaygate-transform/src"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.display().to_string(), text));
            }
        }
    }
    out.push((
        "README.md".into(),
        std::fs::read_to_string(root.join("README.md")).unwrap(),
    ));
    out
}

/// Every string inside a JSON document (where the multilingual text of API traffic lives once
/// its escapes are decoded).
fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[test]
fn repository_text_matches_tiktoken() {
    let texts = repo_texts();
    assert!(texts.len() > 20, "found {} files", texts.len());
    for enc in ENCODINGS {
        for (origin, text) in &texts {
            assert_same(enc, text, origin);
        }
    }
}

#[test]
fn recorded_traffic_matches_tiktoken() {
    let Some(dir) = common::fixtures_dir() else {
        return;
    };
    let files = common::all_files(&dir);
    assert!(!files.is_empty());
    let mut strings = 0;
    for rel in &files {
        let Ok(raw) = std::fs::read_to_string(dir.join(rel)) else {
            continue;
        };
        let mut texts = vec![raw.clone()];
        for line in raw.lines() {
            let line = line.strip_prefix("data:").unwrap_or(line).trim();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                json_strings(&v, &mut texts);
            }
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&raw) {
            json_strings(&v, &mut texts);
        }
        strings += texts.len();
        for enc in ENCODINGS {
            for text in &texts {
                assert_same(enc, text, rel);
            }
        }
    }
    assert!(strings > files.len(), "strings were found inside the JSON");
}

#[test]
fn long_pieces_are_chunked_and_flagged() {
    let bpe = tokenizer(Encoding::O200kBase).unwrap();
    let word = "z".repeat(MAX_PIECE_BYTES * 3 + 7);
    let counted = bpe.count(&word);
    assert!(counted.chunked);
    let chunk = bpe.count(&word[..MAX_PIECE_BYTES]).tokens;
    let tail = bpe.count(&word[..7]).tokens;
    assert_eq!(counted.tokens, 3 * chunk + tail);
    // Just at the limit nothing is chunked, and the count is tiktoken's.
    assert_same(Encoding::O200kBase, &word[..MAX_PIECE_BYTES], "limit");
}

/// Single characters and fragments from every class the two patterns distinguish: cased,
/// titlecase, modifier and other letters, marks of each kind, numbers of each kind, Unicode
/// spaces and line breaks, punctuation, symbols, contractions and the case-folded `ſ`.
const FRAGMENTS: &[&str] = &[
    "a",
    "z",
    "A",
    "Z",
    "e",
    "s",
    "t",
    "d",
    "m",
    "l",
    "r",
    "v",
    "S",
    "L",
    "D",
    "0",
    "7",
    " ",
    " ",
    " ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\x0b",
    "'",
    "'s",
    "'S",
    "'ll",
    "'Re",
    "'ve",
    "'ſ",
    ".",
    ",",
    "!",
    "?",
    "/",
    "//",
    "-",
    "_",
    "(",
    ")",
    "{",
    "}",
    "\"",
    "`",
    "#",
    "*",
    "@",
    "ſ",
    "K",
    "ǅ",
    "ʰ",
    "中",
    "あ",
    "\u{301}",
    "\u{903}",
    "\u{20dd}",
    "é",
    "É",
    "ß",
    "İ",
    "σ",
    "Σ",
    "д",
    "Д",
    "ب",
    "א",
    "ก",
    "\u{e31}",
    "٣",
    "Ⅻ",
    "²",
    "½",
    "\u{a0}",
    "\u{2028}",
    "\u{3000}",
    "\u{85}",
    "\u{200b}",
    "\u{200d}",
    "😀",
    "\u{1f3fd}",
    "€",
    "\u{feff}",
    "\u{0}",
    "hello",
    "World",
    "HTTP",
    "don't",
    "123456",
    "  ",
    "\n\n",
    " \n ",
    "fn",
    "Вася",
];

fn fragment_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..24).prop_map(|v| v.concat())
}

/// Long pre-tokens (letters without a break, spaces, punctuation runs; 30 to 2,100 bytes),
/// which take the heap merge.
fn long_piece() -> impl Strategy<Value = String> {
    let alphabets: &[&[&str]] = &[
        &["a", "b", "n", "an", "ba"],
        &["x", "y", "z", "Z", "q"],
        &["é", "e", "\u{301}", "ß"],
        &["中", "文", "字"],
        &["-", "=", "*", "/"],
        &[" ", "\t"],
    ];
    proptest::sample::select(alphabets).prop_flat_map(|a| {
        proptest::collection::vec(proptest::sample::select(a), 30..700).prop_map(|v| v.concat())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn long_pieces_match_tiktoken(text in long_piece()) {
        for enc in ENCODINGS {
            assert_same(enc, &text, "long piece");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn random_text_matches_tiktoken(text in fragment_text()) {
        for enc in ENCODINGS {
            assert_same(enc, &text, "random text");
        }
    }
}
