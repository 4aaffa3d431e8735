/// Picks the model a fuzzy request means among a channel's models: those containing `query`
/// (case-insensitive), the newest first — by an 8-digit date suffix (`-20250929`), then by the
/// numbers in the name (`4-5` after `4-1`), then by name.
pub fn fuzzy_pick<'a>(models: &[&'a str], query: &str) -> Option<&'a str> {
    let q = query.to_ascii_lowercase();
    if q.is_empty() {
        return None;
    }
    models
        .iter()
        .copied()
        .filter(|m| m.to_ascii_lowercase().contains(&q))
        .max_by(|a, b| version_key(a).cmp(&version_key(b)).then_with(|| a.cmp(b)))
}

fn version_key(name: &str) -> (u32, Vec<u64>) {
    let mut date = 0;
    let mut numbers = Vec::new();
    for part in name
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
    {
        match part.parse::<u64>() {
            Ok(n) if part.len() == 8 && (20_000_000..=21_001_231).contains(&n) => date = n as u32,
            Ok(n) => numbers.push(n),
            Err(_) => {}
        }
    }
    (date, numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_prefers_the_newest() {
        let models = [
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5",
        ];
        assert_eq!(
            fuzzy_pick(&models, "sonnet"),
            Some("claude-sonnet-4-5-20250929")
        );
        assert_eq!(fuzzy_pick(&models, "HAIKU"), Some("claude-haiku-4-5"));
        assert_eq!(fuzzy_pick(&models, "opus"), None);
        assert_eq!(
            fuzzy_pick(&["gpt-4.1", "gpt-4.1-mini", "gpt-4o"], "gpt-4"),
            Some("gpt-4.1-mini")
        );
    }
}
