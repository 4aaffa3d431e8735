//! What differs between Claude models for counting: the hidden tool-use system prompt and the
//! tokenizer generation. Model names come in many spellings (`claude-opus-4-1-20250805`,
//! `claude-3-5-sonnet@20240620`, `anthropic.claude-sonnet-4-5-20250929-v1:0`), so the name is
//! parsed into tier and version instead of matched as a substring, which would let an unknown
//! `opus-4-9` pass for `opus-4`.

/// A Claude model's tier and version, as far as its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClaudeModel<'a> {
    tier: &'a str,
    major: u32,
    minor: u32,
    date: Option<&'a str>,
}

const TIERS: [&str; 5] = ["opus", "sonnet", "haiku", "fable", "mythos"];

/// The tool-use system prompt (`tool_choice` auto/none, any/tool) of a model not in the table:
/// the Claude 4.6 value.
pub(crate) const TOOLS_DEFAULT: (u64, u64) = (497, 589);

impl<'a> ClaudeModel<'a> {
    /// Parses a lower-case model name; `None` when it names no known tier.
    pub(crate) fn parse(name: &'a str) -> Option<Self> {
        let parts: Vec<&str> = name
            .split(['-', '@', '.', ':', '_', '/'])
            .filter(|p| !p.is_empty())
            .collect();
        let at = parts.iter().position(|p| TIERS.contains(p))?;
        // Version numbers are the one- or two-digit parts next to the tier: after it in new
        // names (`opus-4-1`), before it in old ones (`3-5-sonnet`).
        let numbers = |it: &mut dyn Iterator<Item = &&str>| -> Vec<u32> {
            it.map_while(|p| p.parse().ok().filter(|_| p.len() <= 2))
                .collect()
        };
        let mut version = numbers(&mut parts.iter().skip(at + 1));
        if version.is_empty() {
            version = numbers(&mut parts.iter().take(at).rev());
            version.reverse();
        }
        Some(ClaudeModel {
            tier: parts.get(at).copied().unwrap_or_default(),
            major: version.first().copied().unwrap_or(0),
            minor: version.get(1).copied().unwrap_or(0),
            date: parts
                .iter()
                .copied()
                .find(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit())),
        })
    }

    /// The tool-use system prompt for `tool_choice` auto/none and any/tool, from the table in
    /// Anthropic's "Tool use with Claude" page (platform.claude.com, 2026) and, for Claude 3.x,
    /// from its earlier versions.
    pub(crate) fn tool_prompt(&self) -> (u64, u64) {
        match (self.tier, self.major, self.minor) {
            ("opus", 5, 0) => (286, 406),
            ("opus", 4, 8) => (290, 410),
            ("opus", 4, 7) => (675, 804),
            ("opus" | "sonnet", 4, 6) => (497, 589),
            ("opus" | "sonnet" | "haiku", 4, 5) => (496, 588),
            ("sonnet", 5, 0) => (354, 474),
            ("opus", 4, 0 | 1) | ("sonnet", 4, 0) => (313, 315),
            ("sonnet", 3, 7) => (346, 313),
            ("sonnet", 3, 5) if self.date == Some("20240620") => (294, 261),
            ("sonnet", 3, 5) => (346, 313),
            ("haiku", 3, 5) => (264, 355),
            ("opus", 3, 0) => (530, 281),
            ("sonnet", 3, 0) => (159, 235),
            ("haiku", 3, 0) => (264, 340),
            _ => TOOLS_DEFAULT,
        }
    }

    /// Whether the model uses the tokenizer Opus 4.7 introduced. Anthropic documents it for
    /// Opus 4.7 and Sonnet 5; later generations are assumed to keep it.
    pub(crate) fn new_tokenizer(&self) -> bool {
        match self.tier {
            "fable" | "mythos" => true,
            "opus" => (self.major, self.minor) >= (4, 7),
            _ => self.major >= 5,
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::ClaudeModel;

    /// Name, parsed (tier, major, minor), tool prompts, new tokenizer.
    type Case = (&'static str, (&'static str, u32, u32), (u64, u64), bool);

    #[test]
    fn names_parse_into_tier_and_version() {
        let table: &[Case] = &[
            (
                "claude-opus-4-1-20250805",
                ("opus", 4, 1),
                (313, 315),
                false,
            ),
            ("claude-opus-4-20250514", ("opus", 4, 0), (313, 315), false),
            ("claude-opus-4-0", ("opus", 4, 0), (313, 315), false),
            (
                "claude-sonnet-4-5-20250929",
                ("sonnet", 4, 5),
                (496, 588),
                false,
            ),
            (
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                ("sonnet", 4, 5),
                (496, 588),
                false,
            ),
            (
                "claude-haiku-4-5@20251001",
                ("haiku", 4, 5),
                (496, 588),
                false,
            ),
            ("claude-sonnet-4-6", ("sonnet", 4, 6), (497, 589), false),
            ("claude-opus-4-7", ("opus", 4, 7), (675, 804), true),
            ("claude-opus-4-8", ("opus", 4, 8), (290, 410), true),
            ("claude-opus-5", ("opus", 5, 0), (286, 406), true),
            ("claude-sonnet-5", ("sonnet", 5, 0), (354, 474), true),
            ("claude-sonnet-5-5", ("sonnet", 5, 5), (497, 589), true),
            (
                "claude-3-7-sonnet-20250219",
                ("sonnet", 3, 7),
                (346, 313),
                false,
            ),
            (
                "claude-3-5-sonnet-20241022",
                ("sonnet", 3, 5),
                (346, 313),
                false,
            ),
            (
                "claude-3-5-sonnet@20240620",
                ("sonnet", 3, 5),
                (294, 261),
                false,
            ),
            (
                "claude-3-5-sonnet-v2@20241022",
                ("sonnet", 3, 5),
                (346, 313),
                false,
            ),
            (
                "anthropic.claude-3-5-sonnet-20240620-v1:0",
                ("sonnet", 3, 5),
                (294, 261),
                false,
            ),
            (
                "claude-3-5-haiku-20241022",
                ("haiku", 3, 5),
                (264, 355),
                false,
            ),
            ("claude-3-opus-20240229", ("opus", 3, 0), (530, 281), false),
            (
                "claude-3-haiku-20240307",
                ("haiku", 3, 0),
                (264, 340),
                false,
            ),
            // Unknown versions get the default, not the nearest prefix.
            ("claude-opus-4-9", ("opus", 4, 9), (497, 589), true),
            ("claude-sonnet-4-7", ("sonnet", 4, 7), (497, 589), false),
            ("claude-fable-5-2", ("fable", 5, 2), (497, 589), true),
        ];
        for &(name, (tier, major, minor), tools, new) in table {
            let m = ClaudeModel::parse(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!((m.tier, m.major, m.minor), (tier, major, minor), "{name}");
            assert_eq!(m.tool_prompt(), tools, "{name}");
            assert_eq!(m.new_tokenizer(), new, "{name}");
        }
        assert_eq!(ClaudeModel::parse("claude-instant-1.2"), None);
    }
}
