#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Local counting: exact OpenAI counts, per-protocol structure tables, images, bounds.

use relaygate_tokens::{Encoding, Error, Protocol, count_request, count_text};
use serde_json::json;

fn count(p: Protocol, model: &str, body: serde_json::Value) -> (u64, bool) {
    let c = count_request(p, model, body.to_string().as_bytes()).unwrap();
    (c.tokens, c.exact)
}

fn t(s: &str) -> u64 {
    count_text(Encoding::O200kBase, s).unwrap().tokens
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The first bytes of a PNG of `w`×`h` pixels (enough for the dimension sniffing).
fn png(w: u32, h: u32) -> String {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    b64(&b)
}

#[test]
fn known_tiktoken_counts() {
    // Fixed strings whose tiktoken counts are well known.
    assert_eq!(
        count_text(Encoding::O200kBase, "hello world")
            .unwrap()
            .tokens,
        2
    );
    assert_eq!(
        count_text(Encoding::Cl100kBase, "hello world")
            .unwrap()
            .tokens,
        2
    );
    // OpenAI's cookbook: "tiktoken is great!" is 6 tokens in cl100k_base.
    assert_eq!(
        count_text(Encoding::Cl100kBase, "tiktoken is great!")
            .unwrap()
            .tokens,
        6
    );
    assert_eq!(count_text(Encoding::O200kBase, "").unwrap().tokens, 0);
    assert!(
        count_text(Encoding::O200kBase, "hello world")
            .unwrap()
            .exact
    );
}

/// The chat format rule of OpenAI's cookbook ("How to count tokens with tiktoken",
/// `num_tokens_from_messages`): 3 tokens per message, the tokens of every field value (role,
/// content, name), 1 more per `name`, and 3 that prime the reply.
#[test]
fn openai_chat_overhead() {
    let one = json!({"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}]});
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4o", one.clone()),
        (3 + 1 + 2 + 3, true)
    );
    // Same rule with cl100k_base for gpt-4.
    assert_eq!(count(Protocol::OpenAiChat, "gpt-4-0613", one), (9, true));
    let named = json!({"messages":[{"role":"user","name":"bob","content":"hello world"}]});
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4o", named).0,
        3 + 1 + 2 + (t("bob") + 1) + 3
    );
    let multi = json!({"messages":[
        {"role":"system","content":"You are terse."},
        {"role":"user","content":"hello world"},
        {"role":"assistant","content":"Hi."},
        {"role":"user","content":[{"type":"text","text":"Again"}]}
    ]});
    let want = 4 * 3
        + t("system")
        + t("You are terse.")
        + t("user") * 2
        + 2
        + t("assistant")
        + t("Hi.")
        + t("Again")
        + 3;
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4.1-mini", multi),
        (want, true)
    );
}

/// The recorded openai-python stream `chat-text-stream.sse` (gpt-4o-2024-08-06) reports
/// `prompt_tokens: 14` for the SDK test's single user message "What's the weather like in SF?".
#[test]
fn matches_a_recorded_prompt_count() {
    let body = json!({"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"What's the weather like in SF?"}]});
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4o-2024-08-06", body),
        (14, true)
    );
}

/// OpenAI's cookbook rule for function definitions (gpt-4o family): 7 per function, the tokens
/// of `name:description` (final period dropped), 3 when it has properties, per property 3 plus
/// `key:type:description`, per enum −3 and 3 + tokens per item, and 12 to close.
#[test]
fn openai_tools_rule() {
    let tools = json!([{"type":"function","function":{
    "name":"get_weather","description":"Get the weather.",
    "parameters":{"type":"object","properties":{
        "location":{"type":"string","description":"City name."},
        "unit":{"type":"string","enum":["c","f"]}
    }}}}]);
    let msgs = json!([{"role":"user","content":"hello world"}]);
    let body = json!({"messages": msgs, "tools": tools});
    let want =
        9 + 7 + t("get_weather:Get the weather") + 3 + 3 + t("location:string:City name") + 3 - 3
            + (3 + t("c"))
            + (3 + t("f"))
            + t("unit:string:")
            + 12;
    assert_eq!(count(Protocol::OpenAiChat, "gpt-4o", body), (want, true));
    // Nested schemas are outside the rule: counted, but not exact.
    let nested = json!({"messages": msgs, "tools":[{"type":"function","function":{
        "name":"f","parameters":{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"string"}}}}}}}]});
    assert!(!count(Protocol::OpenAiChat, "gpt-4o", nested).1);
}

#[test]
fn openai_images() {
    let img = |url: String, detail: &str| json!({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":url,"detail":detail}}]}]});
    let base = 3 + 1 + 3;
    let data = format!("data:image/png;base64,{}", png(1024, 1024));
    // Tiles: 1024×1024 → 768×768 → 4 tiles: 85 + 4 × 170.
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4o", img(data.clone(), "high")),
        (base + 765, true)
    );
    assert_eq!(
        count(Protocol::OpenAiChat, "gpt-4o", img(data.clone(), "low")),
        (base + 85, true)
    );
    assert_eq!(
        count(
            Protocol::OpenAiChat,
            "gpt-4o-mini",
            img(data.clone(), "low")
        )
        .0,
        base + 2833
    );
    // Patches: 1024 patches × 1.62 for gpt-4.1-mini.
    assert_eq!(
        count(
            Protocol::OpenAiChat,
            "gpt-4.1-mini",
            img(data.clone(), "auto")
        )
        .0,
        base + 1659
    );
    // A remote image has an unknown size: assumed 1024×1024, not exact.
    assert_eq!(
        count(
            Protocol::OpenAiChat,
            "gpt-4o",
            img("https://x/y.png".into(), "auto")
        ),
        (base + 765, false)
    );
}

#[test]
fn responses_counts() {
    let body = json!({"model":"gpt-5","instructions":"Be brief.","input":"hello world"});
    let want = 3 + t("developer") + t("Be brief.") + 3 + t("user") + 2 + 3;
    assert_eq!(
        count(Protocol::OpenAiResponses, "gpt-5", body),
        (want, true)
    );
    let items = json!({"input":[
        {"role":"user","content":[{"type":"input_text","text":"hello world"},{"type":"input_image","image_url":format!("data:image/png;base64,{}", png(512, 512)),"detail":"high"}]},
        {"type":"function_call","name":"f","arguments":"{}","call_id":"c1"},
        {"type":"function_call_output","call_id":"c1","output":"42"}
    ]});
    let (n, exact) = count(Protocol::OpenAiResponses, "gpt-5", items);
    assert!(!exact, "tool calls in the history are estimated");
    assert!(n > 85 + 170 + 2);
}

#[test]
fn anthropic_counts() {
    let plain = json!({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hello world"}]});
    let (base, exact) = count(Protocol::Anthropic, "claude-sonnet-4-5", plain);
    assert!(!exact, "Claude is estimated");
    // 2 per request + 4 per message + 2 text tokens × 1.1.
    assert_eq!(base, 2 + 4 + 2);
    // The system prompt costs its text and no message overhead: (4 + 2 text tokens) × 1.1.
    let with_system = json!({"system":[{"type":"text","text":"You are terse."}],"messages":[{"role":"user","content":"hello world"}]});
    assert_eq!(
        count(Protocol::Anthropic, "claude-sonnet-4-5", with_system).0,
        2 + 4 + (6 * 11 + 5) / 10
    );
    // The same whichever protocol carries the system prompt.
    let as_chat = json!({"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"hello world"}]});
    assert_eq!(
        count(Protocol::OpenAiChat, "claude-sonnet-4-5", as_chat).0,
        2 + 4 + (6 * 11 + 5) / 10
    );
    let tool = json!({"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}});
    let auto = json!({"messages":[{"role":"user","content":"hello world"}],"tools":[tool]});
    let forced = json!({"messages":[{"role":"user","content":"hello world"}],"tools":[tool],"tool_choice":{"type":"any"}});
    let a = count(Protocol::Anthropic, "claude-sonnet-4-5", auto).0;
    let f = count(Protocol::Anthropic, "claude-sonnet-4-5", forced).0;
    // The documented tool-use system prompts of Sonnet 4.5: 496 (auto) and 588 (any/tool).
    assert_eq!(f - a, 588 - 496);
    assert!(a > base + 496);
    // Per model: Claude 3.7 Sonnet 346/313, Opus 4.1 313/315, an unknown model the 4.6 value.
    let tools = |model: &str, choice: &str| {
        let body = json!({"messages":[{"role":"user","content":"hello world"}],"tools":[tool],"tool_choice":{"type":choice}});
        count(Protocol::Anthropic, model, body).0
    };
    assert_eq!(a - tools("claude-3-7-sonnet-20250219", "auto"), 496 - 346);
    assert_eq!(a - tools("claude-opus-4-1-20250805", "any"), 496 - 315);
    assert_eq!(tools("claude-nova-9", "auto") - a, 497 - 496);
    // Opus 4.7's tokenizer: text × 1.43 instead of × 1.1.
    let prose = "The gateway forwards each request to the first healthy channel. ".repeat(20);
    let text_of = |model: &str| {
        let body = json!({"messages":[{"role":"user","content":prose}]});
        count(Protocol::Anthropic, model, body).0 - 6
    };
    let o200k = t(&prose);
    assert_eq!(text_of("claude-sonnet-4-5"), (o200k * 1100 + 500) / 1000);
    assert_eq!(text_of("claude-opus-4-7"), (o200k * 1430 + 500) / 1000);
    // Image 1000×1000: 1000 × 1000 / 750 = 1334 tokens.
    let img = json!({"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":png(1000, 1000)}}]}]});
    assert_eq!(
        count(Protocol::Anthropic, "claude-sonnet-4-5", img).0,
        2 + 4 + 1334
    );
    // Thinking of earlier turns is not counted; the last assistant turn's is.
    let thinking = |last: bool| {
        let mut msgs = vec![
            json!({"role":"user","content":"hi"}),
            json!({"role":"assistant","content":[{"type":"thinking","thinking":"a long thought about it","signature":"x"},{"type":"text","text":"ok"}]}),
        ];
        if !last {
            msgs.push(json!({"role":"user","content":"more"}));
            msgs.push(json!({"role":"assistant","content":"fine"}));
        }
        json!({ "messages": msgs })
    };
    let kept = count(Protocol::Anthropic, "claude-sonnet-4-5", thinking(true)).0;
    let with_later = count(Protocol::Anthropic, "claude-sonnet-4-5", thinking(false)).0;
    assert!(
        with_later < kept + 4 + 4 + 2,
        "earlier thinking was dropped"
    );
}

/// An OpenAI model reached through the Anthropic protocol keeps OpenAI's rule: the system prompt
/// is a message with its overhead, and the count stays exact.
#[test]
fn openai_model_in_anthropic_shape() {
    let body = json!({"system":"You are terse.","messages":[{"role":"user","content":"hi"}]});
    let want = (3 + t("system") + t("You are terse.")) + (3 + t("user") + t("hi")) + 3;
    assert_eq!(count(Protocol::Anthropic, "gpt-4o", body), (want, true));
}

#[test]
fn gemini_counts() {
    let body = json!({"systemInstruction":{"parts":[{"text":"You are terse."}]},
        "contents":[{"role":"user","parts":[{"text":"hello world"}]},{"role":"model","parts":[{"text":"Hi."}]},{"role":"user","parts":[{"text":"Again"}]}]});
    let want = 4 + t("You are terse.") + 2 + t("Hi.") + t("Again");
    assert_eq!(
        count(Protocol::Gemini, "gemini-2.5-flash", body),
        (want, false)
    );
    // Function declarations: a fixed 60 for the block, then name, description, schema and 3 each.
    let hello = json!({"contents":[{"role":"user","parts":[{"text":"hello world"}]}]});
    let with_tool =
        json!({"contents": hello["contents"], "tools":[{"functionDeclarations":[{"name":"add"}]}]});
    assert_eq!(
        count(Protocol::Gemini, "gemini-2.5-flash", with_tool).0,
        count(Protocol::Gemini, "gemini-2.5-flash", hello).0 + 60 + t("add") + 3
    );
    let img = |w, h| json!({"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":png(w, h)}}]}]});
    assert_eq!(
        count(Protocol::Gemini, "gemini-2.5-flash", img(300, 300)).0,
        1 + 258
    );
    assert_eq!(
        count(Protocol::Gemini, "gemini-2.0-flash", img(1000, 1000)).0,
        1 + 4 * 258
    );
    assert_eq!(
        count(Protocol::Gemini, "gemini-3-pro-preview", img(1000, 1000)).0,
        1 + 1120
    );
    let tools = json!({"contents":[{"role":"user","parts":[{"text":"hello world"}]}],
        "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"object"}}]}]});
    assert!(count(Protocol::Gemini, "gemini-2.5-pro", tools).0 > 3 + t("get_weather"));
}

#[test]
fn documents() {
    let pdf = b64(b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type/Page >>\n");
    let body = json!({"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":pdf}}]}]});
    let (n, exact) = count(Protocol::Anthropic, "claude-opus-4-5", body);
    assert_eq!((n, exact), (2 + 4 + 2 * 3100, false));
    let text_doc = json!({"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello world"}}]}]});
    assert_eq!(
        count(Protocol::Anthropic, "claude-opus-4-5", text_doc).0,
        2 + 4 + 2
    );
}

#[test]
fn bad_bodies_are_errors() {
    assert!(matches!(
        count_request(Protocol::OpenAiChat, "gpt-4o", b"{"),
        Err(Error::InvalidJson(_))
    ));
    assert_eq!(
        count_request(Protocol::OpenAiChat, "gpt-4o", b"[1]"),
        Err(Error::NotAnObject)
    );
    // Missing fields are not errors: there is just nothing to count.
    assert_eq!(
        count_request(Protocol::Gemini, "gemini-2.5-pro", b"{}")
            .unwrap()
            .tokens,
        0
    );
}

#[test]
fn huge_single_word_is_bounded() {
    // 1 MB of letters with no break: one pre-token for the BPE, which is super-linear on it.
    let word = "a".repeat(1 << 20);
    let body = json!({"messages":[{"role":"user","content":word}]});
    let (n, exact) = count(Protocol::OpenAiChat, "gpt-4o", body);
    assert!(!exact);
    // 256 KiB through the BPE (merged in 4 KiB chunks), 768 KiB at 4 bytes a token.
    assert!(n > (768 << 10) / 4, "{n}");
    assert!(n < (1 << 20) / 2, "{n}");
}

#[test]
fn huge_prose_is_bounded() {
    let prose = "The quick brown fox jumps over the lazy dog. ".repeat(40_000);
    let c = count_text(Encoding::O200kBase, &prose).unwrap();
    assert!(!c.exact);
    // ~10 tokens per sentence for the first 256 KiB, bytes/4 after.
    assert!(c.tokens > 300_000 && c.tokens < 600_000, "{}", c.tokens);
    let small = count_text(Encoding::O200kBase, &prose[..45 * 100 - 1]).unwrap();
    assert_eq!(
        small,
        relaygate_tokens::TokenCount {
            tokens: 1000,
            exact: true
        }
    );
}
