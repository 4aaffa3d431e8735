//! Local token counting of whole request bodies.
//!
//! A request body is walked once per protocol (system prompt, messages and their parts, tool
//! definitions, images, documents) and every piece is handed to an accumulator that knows the
//! rules of the model's family:
//!
//! - OpenAI families count text exactly with the model's BPE encoding and add the chat format's
//!   overhead: 3 tokens per message, 1 per `name`, and 3 that prime the reply. This is the rule
//!   of OpenAI's cookbook notebook "How to count tokens with tiktoken" for the gpt-3.5-turbo-0613
//!   / gpt-4 / gpt-4o families. Tool definitions follow the same notebook's function rule.
//! - Claude and Gemini tokenizers are not public: text is counted with `o200k_base` and scaled
//!   by a factor measured on recorded usage (see `docs/tokens.md`), plus per-message overhead.
//!   Images and documents use each provider's documented size formulas.
//!
//! Work is bounded: at most [`BPE_BUDGET_BYTES`] of text per request goes through the BPE, the
//! rest counts one token per 4 bytes; a pre-token longer than [`crate::MAX_PIECE_BYTES`] is
//! merged in chunks, because BPE time grows faster than linearly with the length of one
//! pre-token.

use crate::Error;
use crate::bpe::{Tokenizer, tokenizer};
use crate::claude::{self, ClaudeModel};
use crate::image;
use relaygate_protocol::Protocol;
use serde_json::Value;

/// Text bytes per request that go through the BPE; the rest is estimated as bytes / 4.
pub const BPE_BUDGET_BYTES: usize = 256 * 1024;

/// An OpenAI BPE encoding embedded in the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `o200k_base`: gpt-4o, gpt-4.1, gpt-5, o1/o3/o4 and chatgpt-4o models.
    O200kBase,
    /// `cl100k_base`: gpt-4 and gpt-3.5-turbo models.
    Cl100kBase,
}

impl Encoding {
    /// The encoding's name as `tiktoken` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }
}

/// How an OpenAI model prices images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenAiImage {
    /// 512-pixel tiles: `base + per_tile × tiles` (detail `low` is `base` alone).
    Tiles { base: u64, per_tile: u64 },
    /// 32-pixel patches times a multiplier in per-mille.
    Patches { permille: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    OpenAi {
        enc: Encoding,
        image: OpenAiImage,
        /// Tokens opening each function definition in the cookbook rule.
        func_init: u64,
    },
    Claude {
        /// Text tokens per thousand o200k tokens.
        text_permille: u64,
        /// The tool-use system prompt for `tool_choice` auto/none and any/tool.
        tools_auto: u64,
        tools_forced: u64,
    },
    Gemini {
        v3: bool,
    },
    Other,
}

/// Claude text: o200k count × this per-mille factor (measured, see docs/tokens.md).
const CLAUDE_TEXT_PERMILLE: u64 = 1100;
/// Claude models on the tokenizer Opus 4.7 introduced. Anthropic gives "1.0–1.35×" as many
/// tokens for the same text ("up to 35% more"), and its model tooltips imply about 1.36× on
/// average text (1M tokens ≈ 2.5M characters instead of 3.4M); 1.3 × the older factor sits in
/// the upper part of that range.
const CLAUDE_NEW_TEXT_PERMILLE: u64 = 1430;
/// Gemini text: o200k count × this per-mille factor (measured, see docs/tokens.md).
const GEMINI_TEXT_PERMILLE: u64 = 1000;
/// Claude: tokens around each message (role markers) and once per request.
const CLAUDE_PER_MESSAGE: u64 = 4;
const CLAUDE_PER_REQUEST: u64 = 2;
/// Gemini: the tool block's own overhead, fitted on the one published count of bare function
/// declarations (see docs/tokens.md).
const GEMINI_TOOLS_BLOCK: u64 = 60;
/// Claude's server tools (web search, bash, text editor): a rough per-tool definition size.
const CLAUDE_SERVER_TOOL: u64 = 300;
/// Built-in tools of other providers (web search, code execution): a rough definition size.
const BUILTIN_TOOL: u64 = 100;
/// Gemini: tokens around each content turn.
const GEMINI_PER_CONTENT: u64 = 1;
/// Unknown-size images are assumed to be 1024×1024.
const DEFAULT_IMAGE_SIDE: u32 = 1024;
/// PDF page estimates (text plus page image), when the page count is known.
const ANTHROPIC_PDF_PAGE: u64 = 3100;
const OPENAI_PDF_PAGE: u64 = 1300;
const GEMINI_PDF_PAGE: u64 = 258;
const GEMINI3_PDF_PAGE: u64 = 560;
/// Gemini 3 images at the default (high) media resolution.
const GEMINI3_IMAGE: u64 = 1120;

fn claude_family(model: &str) -> Family {
    let parsed = ClaudeModel::parse(model);
    let (tools_auto, tools_forced) = parsed.map_or(claude::TOOLS_DEFAULT, |m| m.tool_prompt());
    let new = parsed.is_some_and(|m| m.new_tokenizer());
    Family::Claude {
        text_permille: if new {
            CLAUDE_NEW_TEXT_PERMILLE
        } else {
            CLAUDE_TEXT_PERMILLE
        },
        tools_auto,
        tools_forced,
    }
}

/// The BPE encoding OpenAI uses for `model`, or `None` for a model outside the OpenAI families.
pub fn encoding_for(model: &str) -> Option<Encoding> {
    match family(model) {
        Family::OpenAi { enc, .. } => Some(enc),
        _ => None,
    }
}

fn family(model: &str) -> Family {
    let m = model.trim().to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m);
    let is = |p: &str| m == p || m.starts_with(&format!("{p}-"));
    let tiles = |base, per_tile| OpenAiImage::Tiles { base, per_tile };
    let o200k = |image| Family::OpenAi {
        enc: Encoding::O200kBase,
        image,
        func_init: 7,
    };
    if m.contains("claude") {
        return claude_family(m);
    }
    if m.contains("gemini") || m.contains("gemma") {
        return Family::Gemini {
            v3: m.contains("gemini-3"),
        };
    }
    if is("gpt-4o-mini") {
        o200k(tiles(2833, 5667))
    } else if is("gpt-4.1-mini") || is("gpt-5-mini") {
        o200k(OpenAiImage::Patches { permille: 1620 })
    } else if is("gpt-4.1-nano") || is("gpt-5-nano") {
        o200k(OpenAiImage::Patches { permille: 2460 })
    } else if is("o4-mini") {
        o200k(OpenAiImage::Patches { permille: 1720 })
    } else if is("o1") || is("o3") || is("o4") || is("o1-pro") || is("o3-pro") {
        o200k(tiles(75, 150))
    } else if m.starts_with("gpt-4o")
        || m.starts_with("gpt-4.1")
        || m.starts_with("gpt-4.5")
        || m.starts_with("gpt-5")
        || m.starts_with("chatgpt-")
        || m.starts_with("codex-")
    {
        o200k(tiles(85, 170))
    } else if m.starts_with("gpt-4") || m.starts_with("gpt-3.5") {
        Family::OpenAi {
            enc: Encoding::Cl100kBase,
            image: tiles(85, 170),
            func_init: 10,
        }
    } else {
        Family::Other
    }
}

/// The result of a local count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCount {
    /// The number of prompt tokens.
    pub tokens: u64,
    /// Whether the count is exact: an OpenAI model, all text within the BPE budget, and nothing
    /// estimated (images of known size count as exact; documents, unknown image sizes, nested
    /// tool schemas, tool calls in the history and pre-tokens merged in chunks do not).
    pub exact: bool,
}

/// Counts `text` with `enc`, within the same bounds as [`count_request`]
/// ([`BPE_BUDGET_BYTES`] through the BPE, bytes / 4 for the rest).
pub fn count_text(enc: Encoding, text: &str) -> Result<TokenCount, Error> {
    let mut acc = Acc::new(
        Family::OpenAi {
            enc,
            image: OpenAiImage::Tiles {
                base: 85,
                per_tile: 170,
            },
            func_init: 7,
        },
        tokenizer(enc)?,
    );
    acc.text(text);
    Ok(TokenCount {
        tokens: acc.text_tokens,
        exact: acc.exact,
    })
}

/// Tokens of plain `text` (no message overhead) as `model` would count them: exact with the
/// OpenAI encodings, scaled from `o200k_base` for Claude and Gemini, `o200k_base` as it is for
/// other models. Bounded like [`count_request`].
pub fn count_model_text(model: &str, text: &str) -> Result<TokenCount, Error> {
    let fam = family(model);
    let enc = match fam {
        Family::OpenAi { enc, .. } => enc,
        _ => Encoding::O200kBase,
    };
    let mut acc = Acc::new(fam, tokenizer(enc)?);
    acc.text(text);
    Ok(acc.finish())
}

/// Tokens a tool call costs beyond its name and arguments (the block framing), for `model`'s
/// family. Measured on recorded answers with tool calls (see `docs/tokens.md`): about 30 for
/// Claude `tool_use` blocks, 10 for OpenAI tool calls, 8 for Gemini `functionCall` parts.
pub fn tool_call_overhead(model: &str) -> u64 {
    family_tool_call_overhead(family(model))
}

fn family_tool_call_overhead(fam: Family) -> u64 {
    match fam {
        Family::Claude { .. } => 30,
        Family::Gemini { .. } => 8,
        Family::OpenAi { .. } | Family::Other => 10,
    }
}

/// Local count of a whole request body of `protocol` for `model`: messages, system prompt,
/// tools with their schemas, images by each provider's documented size formula, and documents.
///
/// OpenAI model families (gpt-4o*, gpt-4.1*, gpt-5*, o1/o3/o4*, chatgpt-*) are counted exactly
/// with `o200k_base` (`cl100k_base` for gpt-4 and gpt-3.5), including the per-message overhead;
/// Claude and Gemini are estimated. Fails only on a body that is not a JSON object.
pub fn count_request(protocol: Protocol, model: &str, body: &[u8]) -> Result<TokenCount, Error> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Error::InvalidJson(e.to_string()))?;
    if !v.is_object() {
        return Err(Error::NotAnObject);
    }
    let fam = family(model);
    let enc = match fam {
        Family::OpenAi { enc, .. } => enc,
        _ => Encoding::O200kBase,
    };
    let mut acc = Acc::new(fam, tokenizer(enc)?);
    match protocol {
        Protocol::Anthropic => walk_anthropic(&mut acc, &v),
        Protocol::OpenAiChat => walk_chat(&mut acc, &v),
        Protocol::OpenAiResponses => walk_responses(&mut acc, &v),
        Protocol::Gemini => walk_gemini(&mut acc, &v),
    }
    Ok(acc.finish())
}

/// One tool definition, whatever the protocol wrote it as.
struct ToolDef<'a> {
    name: &'a str,
    description: &'a str,
    parameters: Option<&'a Value>,
}

struct Acc {
    fam: Family,
    bpe: &'static Tokenizer,
    budget: usize,
    /// BPE counts of text (scaled for Claude and Gemini at the end).
    text_tokens: u64,
    /// Overheads, images and documents (never scaled).
    fixed: u64,
    exact: bool,
    messages: u64,
}

impl Acc {
    fn new(fam: Family, bpe: &'static Tokenizer) -> Self {
        Acc {
            fam,
            bpe,
            budget: BPE_BUDGET_BYTES,
            text_tokens: 0,
            fixed: 0,
            exact: matches!(fam, Family::OpenAi { .. }),
            messages: 0,
        }
    }

    fn inexact(&mut self) {
        self.exact = false;
    }

    fn finish(self) -> TokenCount {
        let text = match self.fam {
            Family::Claude { text_permille, .. } => (self.text_tokens * text_permille + 500) / 1000,
            Family::Gemini { .. } => (self.text_tokens * GEMINI_TEXT_PERMILLE + 500) / 1000,
            _ => self.text_tokens,
        };
        let overhead = match self.fam {
            // The reply is primed with `<|start|>assistant<|message|>`: 3 tokens.
            Family::OpenAi { .. } => 3,
            Family::Claude { .. } => CLAUDE_PER_REQUEST,
            _ => 0,
        };
        let tokens = text + self.fixed + if self.messages > 0 { overhead } else { 0 };
        TokenCount {
            tokens,
            exact: self.exact,
        }
    }

    /// Counts text through the BPE within the budget; the rest is bytes / 4.
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let mut take = s.len().min(self.budget);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        let (head, tail) = s.split_at(take);
        self.budget -= head.len();
        let counted = self.bpe.count(head);
        self.text_tokens += counted.tokens;
        if counted.chunked {
            self.inexact();
        }
        if !tail.is_empty() {
            self.text_tokens += (tail.len() as u64).div_ceil(4);
            self.inexact();
        }
    }

    /// A JSON value counted as its compact text.
    fn json(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.text(s),
            Value::Null => {}
            other => self.text(&other.to_string()),
        }
    }

    fn message_start(&mut self, role: &str) {
        self.messages += 1;
        match self.fam {
            Family::OpenAi { .. } => {
                self.fixed += 3;
                self.text(role);
            }
            // Claude's system prompt costs its text only, whichever protocol carried it:
            // Anthropic's published counts of two three-token messages, one with the system
            // prompt "You are a scientist" and one without, differ by just its four tokens
            // (docs/tokens.md, rows A1 and A5).
            Family::Claude { .. } if matches!(role, "system" | "developer") => {}
            Family::Claude { .. } => self.fixed += CLAUDE_PER_MESSAGE,
            Family::Gemini { .. } => self.fixed += GEMINI_PER_CONTENT,
            Family::Other => {
                self.fixed += 3;
                self.text(role);
            }
        }
    }

    /// A tool call in the history: its framing (arguments are counted as text by the caller).
    fn tool_call(&mut self) {
        self.fixed += family_tool_call_overhead(self.fam);
        self.inexact();
    }

    fn name(&mut self, name: &str) {
        self.text(name);
        self.fixed += 1;
    }

    /// An image: `dims` when known, `low` for OpenAI's detail low.
    fn image(&mut self, dims: Option<(u32, u32)>, low: bool) {
        let known = dims.is_some();
        let (w, h) = dims.unwrap_or((DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE));
        let n = match self.fam {
            Family::OpenAi {
                image: OpenAiImage::Tiles { base, per_tile },
                ..
            } => {
                if low {
                    base
                } else {
                    image::openai_tiles(w, h, base, per_tile)
                }
            }
            Family::OpenAi {
                image: OpenAiImage::Patches { permille },
                ..
            } => image::openai_patches(w, h, permille),
            Family::Claude { .. } => image::anthropic_image(w, h),
            Family::Gemini { v3: true } => GEMINI3_IMAGE,
            Family::Gemini { v3: false } => image::gemini_image(w, h),
            Family::Other => image::openai_tiles(w, h, 85, 170),
        };
        self.fixed += n;
        // A low-detail OpenAI image costs the same whatever its size.
        let size_free = low && matches!(self.fam, Family::OpenAi { .. });
        if !known && !size_free {
            self.inexact();
        }
    }

    /// A PDF (or other document) of `pages` pages (`None` when unknown: one page is assumed).
    fn document(&mut self, pages: Option<u64>) {
        let pages = pages.unwrap_or(1);
        let per_page = match self.fam {
            Family::Claude { .. } => ANTHROPIC_PDF_PAGE,
            Family::Gemini { v3: true } => GEMINI3_PDF_PAGE,
            Family::Gemini { v3: false } => GEMINI_PDF_PAGE,
            Family::OpenAi { .. } | Family::Other => OPENAI_PDF_PAGE,
        };
        self.fixed += pages * per_page;
        self.inexact();
    }

    /// Tool definitions; `forced` is Anthropic's `tool_choice` any/tool.
    fn tools(&mut self, defs: &[ToolDef<'_>], server_tools: u64, forced: bool) {
        if server_tools > 0 {
            let each = match self.fam {
                Family::Claude { .. } => CLAUDE_SERVER_TOOL,
                _ => BUILTIN_TOOL,
            };
            self.fixed += server_tools * each;
            self.inexact();
        }
        if defs.is_empty() && server_tools == 0 {
            return;
        }
        match self.fam {
            Family::OpenAi { func_init, .. } => {
                if !defs.is_empty() {
                    for d in defs {
                        self.openai_function(d, func_init);
                    }
                    // Closing tokens of the functions block.
                    self.fixed += 12;
                }
            }
            Family::Claude {
                tools_auto,
                tools_forced,
                ..
            } => {
                self.fixed += if forced { tools_forced } else { tools_auto };
                for d in defs {
                    self.generic_function(d);
                }
            }
            Family::Gemini { .. } => {
                if !defs.is_empty() {
                    self.fixed += GEMINI_TOOLS_BLOCK;
                }
                for d in defs {
                    self.generic_function(d);
                }
            }
            Family::Other => {
                for d in defs {
                    self.generic_function(d);
                }
            }
        }
    }

    fn generic_function(&mut self, d: &ToolDef<'_>) {
        self.text(d.name);
        self.text(d.description);
        if let Some(p) = d.parameters {
            self.json(p);
        }
        self.fixed += 3;
    }

    /// The function rule of OpenAI's cookbook: `func_init` per function, then
    /// `name:description` (a final period dropped); when there are properties, 3 tokens, then per
    /// property 3 tokens and `key:type:description`; per enum −3, then per item 3 plus its
    /// tokens; 12 tokens close the block. Nested schemas are not covered by the rule: their JSON
    /// is counted and the count is marked inexact.
    fn openai_function(&mut self, d: &ToolDef<'_>, func_init: u64) {
        self.fixed += func_init;
        let desc = d.description.strip_suffix('.').unwrap_or(d.description);
        self.text(&format!("{}:{}", d.name, desc));
        let Some(props) = d
            .parameters
            .and_then(|p| p.get("properties"))
            .and_then(Value::as_object)
        else {
            return;
        };
        if props.is_empty() {
            return;
        }
        self.fixed += 3;
        for (key, prop) in props {
            self.fixed += 3;
            let ty = match prop.get("type") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            if let Some(Value::Array(items)) = prop.get("enum") {
                // The rule's −3 for an enum and +3 per item.
                self.fixed = (self.fixed + 3 * items.len() as u64).saturating_sub(3);
                for item in items {
                    self.json(item);
                }
            }
            let pdesc = prop
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            let pdesc = pdesc.strip_suffix('.').unwrap_or(pdesc);
            self.text(&format!("{key}:{ty}:{pdesc}"));
            for nested in ["properties", "items", "anyOf", "oneOf", "allOf", "$defs"] {
                if let Some(n) = prop.get(nested) {
                    self.json(n);
                    self.inexact();
                }
            }
        }
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An image given by URL: data URLs are sniffed, others have unknown size.
fn image_url(acc: &mut Acc, url: &str, low: bool) {
    let dims = image::data_url_payload(url).and_then(image::dimensions_of_base64);
    acc.image(dims, low);
}

// ---------------------------------------------------------------- Anthropic Messages

fn walk_anthropic(acc: &mut Acc, v: &Value) {
    match v.get("system") {
        Some(Value::String(s)) => {
            acc.message_start("system");
            acc.text(s);
        }
        Some(Value::Array(blocks)) => {
            acc.message_start("system");
            for b in blocks {
                anthropic_block(acc, b, true, 0);
            }
        }
        _ => {}
    }
    let messages = array(v, "messages");
    let last_assistant = messages
        .iter()
        .rposition(|m| str_of(m, "role") == "assistant");
    for (i, m) in messages.iter().enumerate() {
        acc.message_start(str_of(m, "role"));
        match m.get("content") {
            Some(Value::String(s)) => acc.text(s),
            Some(Value::Array(blocks)) => {
                // Thinking of earlier assistant turns is dropped from the context by the API.
                let keep_thinking = Some(i) == last_assistant;
                for b in blocks {
                    anthropic_block(acc, b, keep_thinking, 0);
                }
            }
            Some(other) => acc.json(other),
            None => {}
        }
    }
    let mut defs = Vec::new();
    let mut server = 0;
    for t in array(v, "tools") {
        match t.get("input_schema") {
            Some(schema) => defs.push(ToolDef {
                name: str_of(t, "name"),
                description: str_of(t, "description"),
                parameters: Some(schema),
            }),
            None => server += 1,
        }
    }
    let forced = matches!(
        v.get("tool_choice").map(|c| str_of(c, "type")),
        Some("any" | "tool")
    );
    acc.tools(&defs, server, forced);
}

/// Blocks nest (documents and tool results hold blocks); past this depth a block is skipped and
/// the count marked inexact, so even a value that did not come through the depth-limited JSON
/// parser cannot overflow the stack (serializing it for [`Acc::json`] would recurse as well).
const MAX_BLOCK_DEPTH: usize = 128;

fn anthropic_block(acc: &mut Acc, b: &Value, keep_thinking: bool, depth: usize) {
    if depth >= MAX_BLOCK_DEPTH {
        acc.inexact();
        return;
    }
    match str_of(b, "type") {
        "text" => acc.text(str_of(b, "text")),
        "image" => {
            let src = b.get("source").unwrap_or(&Value::Null);
            let dims = match str_of(src, "type") {
                "base64" => image::dimensions_of_base64(str_of(src, "data")),
                _ => None,
            };
            acc.image(dims, false);
        }
        "document" => {
            let src = b.get("source").unwrap_or(&Value::Null);
            match str_of(src, "type") {
                "text" => acc.text(str_of(src, "data")),
                "content" => match src.get("content") {
                    Some(Value::String(s)) => acc.text(s),
                    Some(Value::Array(blocks)) => {
                        for inner in blocks {
                            anthropic_block(acc, inner, false, depth + 1);
                        }
                    }
                    _ => {}
                },
                "base64" => acc.document(Some(image::pdf_pages_of_base64(str_of(src, "data")))),
                _ => acc.document(None),
            }
            acc.text(str_of(b, "title"));
            acc.text(str_of(b, "context"));
        }
        "tool_use" | "server_tool_use" => {
            acc.text(str_of(b, "name"));
            if let Some(input) = b.get("input") {
                acc.json(input);
            }
            acc.tool_call();
        }
        "tool_result" => {
            match b.get("content") {
                Some(Value::String(s)) => acc.text(s),
                Some(Value::Array(blocks)) => {
                    for inner in blocks {
                        anthropic_block(acc, inner, false, depth + 1);
                    }
                }
                _ => {}
            }
            acc.inexact();
        }
        "thinking" => {
            if keep_thinking {
                acc.text(str_of(b, "thinking"));
            }
        }
        "redacted_thinking" => {}
        "search_result" => {
            acc.text(str_of(b, "title"));
            acc.text(str_of(b, "source"));
            for inner in array(b, "content") {
                anthropic_block(acc, inner, false, depth + 1);
            }
        }
        _ => {
            // Unknown or server-side blocks (web search results, containers): their JSON.
            acc.json(b);
            acc.inexact();
        }
    }
}

// ---------------------------------------------------------------- OpenAI Chat Completions

fn walk_chat(acc: &mut Acc, v: &Value) {
    for m in array(v, "messages") {
        let role = str_of(m, "role");
        acc.message_start(role);
        match m.get("content") {
            Some(Value::String(s)) => acc.text(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    chat_part(acc, p);
                }
            }
            _ => {}
        }
        if let Some(Value::String(name)) = m.get("name") {
            acc.name(name);
        }
        for call in array(m, "tool_calls") {
            let f = call.get("function").unwrap_or(&Value::Null);
            acc.text(str_of(f, "name"));
            acc.text(str_of(f, "arguments"));
            acc.tool_call();
        }
        if let Some(f) = m.get("function_call") {
            acc.text(str_of(f, "name"));
            acc.text(str_of(f, "arguments"));
            acc.tool_call();
        }
        if m.get("refusal").is_some_and(Value::is_string) {
            acc.text(str_of(m, "refusal"));
        }
    }
    let mut defs = Vec::new();
    for t in array(v, "tools") {
        if let Some(f) = t.get("function") {
            defs.push(ToolDef {
                name: str_of(f, "name"),
                description: str_of(f, "description"),
                parameters: f.get("parameters"),
            });
        } else {
            // A non-function tool (custom grammar tools and the like).
            acc.json(t);
            acc.inexact();
        }
    }
    for f in array(v, "functions") {
        defs.push(ToolDef {
            name: str_of(f, "name"),
            description: str_of(f, "description"),
            parameters: f.get("parameters"),
        });
    }
    acc.tools(&defs, 0, false);
}

fn chat_part(acc: &mut Acc, p: &Value) {
    match str_of(p, "type") {
        "text" => acc.text(str_of(p, "text")),
        "refusal" => acc.text(str_of(p, "refusal")),
        "image_url" => {
            let img = p.get("image_url").unwrap_or(&Value::Null);
            let (url, detail) = match img {
                Value::String(s) => (s.as_str(), ""),
                other => (str_of(other, "url"), str_of(other, "detail")),
            };
            image_url(acc, url, detail == "low");
        }
        "file" => {
            let f = p.get("file").unwrap_or(&Value::Null);
            let data = str_of(f, "file_data");
            let pages = image::data_url_payload(data)
                .or((!data.is_empty()).then_some(data))
                .map(image::pdf_pages_of_base64);
            acc.document(pages);
        }
        _ => {
            // Audio and unknown parts: an estimate from their JSON size.
            acc.fixed += (p.to_string().len() as u64).div_ceil(4).min(10_000);
            acc.inexact();
        }
    }
}

// ---------------------------------------------------------------- OpenAI Responses

fn walk_responses(acc: &mut Acc, v: &Value) {
    if let Some(Value::String(s)) = v.get("instructions")
        && !s.is_empty()
    {
        acc.message_start("developer");
        acc.text(s);
    }
    match v.get("input") {
        Some(Value::String(s)) => {
            acc.message_start("user");
            acc.text(s);
        }
        Some(Value::Array(items)) => {
            for item in items {
                responses_item(acc, item);
            }
        }
        _ => {}
    }
    let mut defs = Vec::new();
    for t in array(v, "tools") {
        if str_of(t, "type") == "function" {
            defs.push(ToolDef {
                name: str_of(t, "name"),
                description: str_of(t, "description"),
                parameters: t.get("parameters"),
            });
        } else {
            // Built-in tools (web search, file search, code interpreter): a rough size.
            acc.fixed += BUILTIN_TOOL;
            acc.inexact();
        }
    }
    acc.tools(&defs, 0, false);
}

fn responses_item(acc: &mut Acc, item: &Value) {
    let ty = str_of(item, "type");
    match ty {
        "" | "message" => {
            acc.message_start(str_of(item, "role"));
            match item.get("content") {
                Some(Value::String(s)) => acc.text(s),
                Some(Value::Array(parts)) => {
                    for p in parts {
                        responses_part(acc, p);
                    }
                }
                _ => {}
            }
        }
        "function_call" | "custom_tool_call" => {
            acc.message_start("assistant");
            acc.text(str_of(item, "name"));
            acc.text(str_of(item, "arguments"));
            acc.text(str_of(item, "input"));
            acc.tool_call();
        }
        "function_call_output" | "custom_tool_call_output" => {
            acc.message_start("tool");
            match item.get("output") {
                Some(Value::String(s)) => acc.text(s),
                Some(Value::Array(parts)) => {
                    for p in parts {
                        responses_part(acc, p);
                    }
                }
                _ => {}
            }
            acc.inexact();
        }
        "reasoning" => {
            // Encrypted reasoning is opaque; its summary text is what can be counted.
            for s in array(item, "summary") {
                acc.text(str_of(s, "text"));
            }
            acc.inexact();
        }
        _ => {
            acc.message_start("tool");
            acc.json(item);
            acc.inexact();
        }
    }
}

fn responses_part(acc: &mut Acc, p: &Value) {
    match str_of(p, "type") {
        "input_text" | "output_text" | "text" => acc.text(str_of(p, "text")),
        "refusal" => acc.text(str_of(p, "refusal")),
        "input_image" => {
            let url = str_of(p, "image_url");
            image_url(acc, url, str_of(p, "detail") == "low");
        }
        "input_file" => {
            let data = str_of(p, "file_data");
            let pages = image::data_url_payload(data)
                .or((!data.is_empty()).then_some(data))
                .map(image::pdf_pages_of_base64);
            acc.document(pages);
        }
        _ => {
            acc.fixed += (p.to_string().len() as u64).div_ceil(4).min(10_000);
            acc.inexact();
        }
    }
}

// ---------------------------------------------------------------- Gemini

fn walk_gemini(acc: &mut Acc, v: &Value) {
    let system = v
        .get("systemInstruction")
        .or_else(|| v.get("system_instruction"));
    if let Some(sys) = system {
        acc.message_start("system");
        match sys {
            Value::String(s) => acc.text(s),
            other => {
                for p in array(other, "parts") {
                    gemini_part(acc, p);
                }
            }
        }
    }
    for c in array(v, "contents") {
        acc.message_start(str_of(c, "role"));
        for p in array(c, "parts") {
            gemini_part(acc, p);
        }
    }
    let mut defs = Vec::new();
    let mut builtin = 0;
    for t in array(v, "tools") {
        let decls = t
            .get("functionDeclarations")
            .or_else(|| t.get("function_declarations"))
            .and_then(Value::as_array);
        match decls {
            Some(decls) => {
                for f in decls {
                    defs.push(ToolDef {
                        name: str_of(f, "name"),
                        description: str_of(f, "description"),
                        parameters: f
                            .get("parameters")
                            .or_else(|| f.get("parametersJsonSchema")),
                    });
                }
            }
            None => builtin += 1,
        }
    }
    acc.tools(&defs, builtin, false);
}

fn gemini_part(acc: &mut Acc, p: &Value) {
    if let Some(Value::String(s)) = p.get("text") {
        acc.text(s);
    } else if let Some(d) = p.get("inlineData").or_else(|| p.get("inline_data")) {
        let mime = d
            .get("mimeType")
            .or_else(|| d.get("mime_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let data = str_of(d, "data");
        if mime.starts_with("image/") {
            acc.image(image::dimensions_of_base64(data), false);
        } else if mime == "application/pdf" {
            acc.document(Some(image::pdf_pages_of_base64(data)));
        } else {
            // Audio and video: Gemini bills by duration, which the bytes do not tell.
            acc.fixed += (data.len() as u64 / 4 * 3).div_ceil(1000);
            acc.inexact();
        }
    } else if let Some(d) = p.get("fileData").or_else(|| p.get("file_data")) {
        let mime = d
            .get("mimeType")
            .or_else(|| d.get("mime_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if mime.starts_with("image/") {
            acc.image(None, false);
        } else {
            acc.document(None);
        }
    } else if let Some(call) = p.get("functionCall").or_else(|| p.get("function_call")) {
        acc.text(str_of(call, "name"));
        if let Some(args) = call.get("args") {
            acc.json(args);
        }
        acc.tool_call();
    } else if let Some(resp) = p
        .get("functionResponse")
        .or_else(|| p.get("function_response"))
    {
        acc.text(str_of(resp, "name"));
        if let Some(r) = resp.get("response") {
            acc.json(r);
        }
    } else if let Some(code) = p.get("executableCode") {
        acc.text(str_of(code, "code"));
    } else if let Some(res) = p.get("codeExecutionResult") {
        acc.text(str_of(res, "output"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_blocks_end_without_overflow() -> Result<(), Error> {
        // 100 000 tool results, each holding the next, built without recursion.
        let mut v = serde_json::json!({"type": "text", "text": "leaf"});
        for _ in 0..100_000 {
            let mut m = serde_json::Map::new();
            m.insert("type".into(), "tool_result".into());
            m.insert("content".into(), Value::Array(vec![v]));
            v = Value::Object(m);
        }
        let mut acc = Acc::new(family("claude-sonnet-4-5"), tokenizer(Encoding::O200kBase)?);
        anthropic_block(&mut acc, &v, true, 0);
        let n = acc.finish();
        assert!(!n.exact, "a cut walk is never reported exact");
        // serde_json drops recursively: take the tree apart level by level.
        let mut cur = Some(v);
        while let Some(Value::Object(mut m)) = cur {
            cur = m.remove("content").and_then(|c| match c {
                Value::Array(mut a) => a.pop(),
                _ => None,
            });
        }
        // Through the public API the JSON parser's own limit (128) answers first.
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":{}1{}}}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            count_request(Protocol::Anthropic, "claude-sonnet-4-5", body.as_bytes()),
            Err(Error::InvalidJson(_))
        ));
        Ok(())
    }

    #[test]
    fn families() {
        assert_eq!(encoding_for("gpt-4o-2024-08-06"), Some(Encoding::O200kBase));
        assert_eq!(encoding_for("gpt-5.1-codex-max"), Some(Encoding::O200kBase));
        assert_eq!(encoding_for("o3-mini"), Some(Encoding::O200kBase));
        assert_eq!(encoding_for("gpt-4-turbo"), Some(Encoding::Cl100kBase));
        assert_eq!(encoding_for("gpt-3.5-turbo"), Some(Encoding::Cl100kBase));
        assert_eq!(encoding_for("chatgpt-4o-latest"), Some(Encoding::O200kBase));
        assert_eq!(encoding_for("claude-sonnet-4-5"), None);
        assert_eq!(encoding_for("gemini-2.5-pro"), None);
        assert_eq!(encoding_for("o1x"), None);
    }
}
