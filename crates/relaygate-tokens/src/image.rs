//! Image and document sizes: pixel dimensions sniffed from the first bytes of an inline image,
//! PDF page counts, and each provider's documented image-token formula.

/// How many base64 characters are decoded to find an image's dimensions (48 KiB of bytes).
const SNIFF_B64_CHARS: usize = 64 * 1024;
/// Largest PDF (decoded bytes) whose pages are counted by scanning; larger ones are estimated.
const PDF_SCAN_MAX: usize = 32 * 1024 * 1024;

/// Decodes standard or URL-safe base64, skipping whitespace and stopping at padding, the end of
/// the input, or after `max_chars` characters. Invalid characters end the decoding.
pub(crate) fn b64_decode_prefix(s: &str, max_chars: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().min(max_chars) / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in s.as_bytes().iter().take(max_chars) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => break,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The payload of a `data:` URL (after the comma), if it is base64.
pub(crate) fn data_url_payload(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    meta.ends_with(";base64").then_some(payload)
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn le16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        0,
    ]))
}

/// Width and height of a PNG, GIF, JPEG or WebP image from its first bytes.
pub(crate) fn sniff_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let dims = if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        (be32(b, 16)?, be32(b, 20)?)
    } else if b.starts_with(b"GIF8") {
        (le16(b, 6)?, le16(b, 8)?)
    } else if b.starts_with(b"\xff\xd8") {
        jpeg_dimensions(b)?
    } else if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        match b.get(12..16)? {
            b"VP8 " => (le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff),
            b"VP8L" => {
                let bits = u32::from_le_bytes([*b.get(21)?, *b.get(22)?, *b.get(23)?, *b.get(24)?]);
                ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => (le24(b, 24)? + 1, le24(b, 27)? + 1),
            _ => return None,
        }
    } else {
        return None;
    };
    (dims.0 > 0 && dims.1 > 0).then_some(dims)
}

fn jpeg_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xff {
            i += 1;
            continue;
        }
        let marker = b[i + 1];
        if marker == 0xff || marker == 0x01 || (0xd0..=0xd9).contains(&marker) {
            i += if marker == 0xff { 1 } else { 2 };
            continue;
        }
        let len = be16(b, i + 2)? as usize;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            return Some((be16(b, i + 7)?, be16(b, i + 5)?));
        }
        i += 2 + len;
    }
    None
}

/// Dimensions of an inline base64 image, decoding only its first bytes.
pub(crate) fn dimensions_of_base64(b64: &str) -> Option<(u32, u32)> {
    sniff_dimensions(&b64_decode_prefix(b64, SNIFF_B64_CHARS))
}

/// Pages of a base64 PDF: the `/Type /Page` objects counted in its bytes, or one page per
/// 100 KB when they are hidden in compressed object streams.
pub(crate) fn pdf_pages_of_base64(b64: &str) -> u64 {
    let bytes = b64_decode_prefix(b64, PDF_SCAN_MAX / 3 * 4);
    let mut pages = 0u64;
    let mut i = 0;
    while let Some(off) = find(&bytes[i..], b"/Type") {
        let mut j = i + off + 5;
        while bytes.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        if bytes.get(j..j + 5) == Some(b"/Page") && bytes.get(j + 5) != Some(&b's') {
            pages += 1;
        }
        i = j;
    }
    let by_size = (b64.len() as u64 / 4 * 3).div_ceil(100_000);
    if pages == 0 { by_size.max(1) } else { pages }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Scales `(w, h)` down (never up) so that both fit in `max_w`×`max_h` keeping the aspect ratio.
fn fit(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    if w <= max_w && h <= max_h {
        return (w, h);
    }
    let (w64, h64) = (u64::from(w), u64::from(h));
    // Compare w/max_w with h/max_h without floats: the larger ratio decides.
    if w64 * u64::from(max_h) >= h64 * u64::from(max_w) {
        (max_w, ((h64 * u64::from(max_w)) / w64).max(1) as u32)
    } else {
        (((w64 * u64::from(max_h)) / h64).max(1) as u32, max_h)
    }
}

/// OpenAI's detail `high` tile rule: fit in 2048×2048, scale the shortest side down to 768,
/// then `base + per_tile` for each 512-pixel tile. `low` detail costs `base` alone.
pub(crate) fn openai_tiles(w: u32, h: u32, base: u64, per_tile: u64) -> u64 {
    let (w, h) = fit(w, h, 2048, 2048);
    let short = w.min(h);
    let (w, h) = if short > 768 {
        (
            (u64::from(w) * 768 / u64::from(short)) as u32,
            (u64::from(h) * 768 / u64::from(short)) as u32,
        )
    } else {
        (w, h)
    };
    base + per_tile * u64::from(w.div_ceil(512)) * u64::from(h.div_ceil(512))
}

/// OpenAI's patch rule (gpt-4.1-mini/nano, o4-mini, gpt-5-mini/nano): 32-pixel patches, at most
/// 1536 of them (the image is scaled down to fit), times a per-model multiplier in per-mille.
pub(crate) fn openai_patches(w: u32, h: u32, multiplier_permille: u64) -> u64 {
    const CAP: u64 = 1536;
    let raw = u64::from(w.div_ceil(32)) * u64::from(h.div_ceil(32));
    let patches = if raw <= CAP {
        raw
    } else {
        // Scale so that the patch grid fits in the cap (floats are fine here: no money).
        let (wf, hf) = (f64::from(w), f64::from(h));
        let r = ((CAP as f64 * 32.0 * 32.0) / (wf * hf)).sqrt();
        // Then shrink until whole patches fit on both axes, as the documented procedure does.
        let (pw, ph) = (wf * r / 32.0, hf * r / 32.0);
        let r = r * (pw.floor() / pw).min(ph.floor() / ph);
        let sw = ((wf * r).round() as u64).max(1);
        let sh = ((hf * r).round() as u64).max(1);
        (sw.div_ceil(32) * sh.div_ceil(32)).min(CAP)
    };
    (patches * multiplier_permille).div_ceil(1000)
}

/// Anthropic's rule: `width × height / 750` after the image is scaled to at most 1568 pixels on
/// its long edge and about 1.15 megapixels.
pub(crate) fn anthropic_image(w: u32, h: u32) -> u64 {
    const MAX_EDGE: u32 = 1568;
    const MAX_PIXELS: f64 = 1_150_000.0;
    let (w, h) = fit(w, h, MAX_EDGE, MAX_EDGE);
    let pixels = f64::from(w) * f64::from(h);
    let (w, h) = if pixels > MAX_PIXELS {
        let s = (MAX_PIXELS / pixels).sqrt();
        ((f64::from(w) * s) as u64, (f64::from(h) * s) as u64)
    } else {
        (u64::from(w), u64::from(h))
    };
    (w * h).div_ceil(750).max(1)
}

/// Gemini 2.x rule: an image with both sides at most 384 pixels is 258 tokens; larger ones are
/// cut into 768×768 tiles of 258 tokens each.
pub(crate) fn gemini_image(w: u32, h: u32) -> u64 {
    if w <= 384 && h <= 384 {
        258
    } else {
        258 * u64::from(w.div_ceil(768)) * u64::from(h.div_ceil(768))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_tile_examples_from_the_vision_guide() {
        // 1024×1024 high: scaled to 768×768, 4 tiles → 85 + 4×170.
        assert_eq!(openai_tiles(1024, 1024, 85, 170), 765);
        // 2048×4096: fit to 1024×2048, shortest side to 768 → 768×1536, 6 tiles.
        assert_eq!(openai_tiles(2048, 4096, 85, 170), 1105);
    }

    #[test]
    fn patch_rule_examples() {
        // 1024×1024 → 32×32 = 1024 patches (under the cap).
        assert_eq!(openai_patches(1024, 1024, 1000), 1024);
        // 1800×2400 → 1452 patches after scaling (documented example).
        assert_eq!(openai_patches(1800, 2400, 1000), 1452);
    }

    #[test]
    fn anthropic_and_gemini_rules() {
        assert_eq!(anthropic_image(1000, 1000), 1334);
        assert_eq!(anthropic_image(200, 200), 54);
        assert!(anthropic_image(8000, 8000) <= 1600);
        assert_eq!(gemini_image(300, 300), 258);
        assert_eq!(gemini_image(1000, 1000), 4 * 258);
    }

    #[test]
    fn sniffs_png_gif_and_jpeg() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(sniff_dimensions(&png), Some((640, 480)));
        let gif = b"GIF89a\x20\x03\x58\x02";
        assert_eq!(sniff_dimensions(gif), Some((800, 600)));
        let jpeg = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01,
            0x00, 0x02, 0x00,
        ];
        assert_eq!(sniff_dimensions(&jpeg), Some((512, 256)));
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(b64_decode_prefix("aGVsbG8=", 100), b"hello");
        assert_eq!(data_url_payload("data:image/png;base64,AAAA"), Some("AAAA"));
        assert_eq!(data_url_payload("https://x/y.png"), None);
    }
}
