//! Parse errors that never echo the input.
//!
//! A secret file given by mistake where a configuration, policy or reference-value file was
//! expected must not end up on stderr or in a log. TOML and Rego errors quote the offending
//! source line, and serde's messages quote offending values (`invalid type: string "..."`).
//! These helpers keep the position (line and column) and a reason with every quoted fragment
//! that could come from the input replaced by `…`.

/// Replacement for a redacted fragment.
const REDACTED: &str = "…";

/// Whether the word at `i` in `msg` is `expected`/`expecting` as a whole word (not the end of
/// `unexpected`).
fn expected_word_at(msg: &str, i: usize) -> bool {
    let (Some(before), Some(after)) = (msg.get(..i), msg.get(i..)) else {
        return false;
    };
    let before_ok = before
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    before_ok && (after.starts_with("expected") || after.starts_with("expecting"))
}

/// One line of reason, without anything of the input: the first line of `msg`, with every
/// `"…"`-quoted fragment redacted, and every `` `…` ``-quoted fragment before the first
/// "expected"/"expecting" redacted too (serde and TOML put the found input there and the
/// schema's names after it). `missing field`, `duplicate field` and `unknown field` name
/// keys, not values, and stay (a misspelt key must be findable). At most 200 characters.
pub fn reason(msg: &str) -> String {
    let line = msg
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let keep_ticks_from = if ["missing field", "duplicate field", "unknown field"]
        .iter()
        .any(|p| line.starts_with(p))
    {
        0
    } else {
        line.char_indices()
            .map(|(i, _)| i)
            .find(|&i| expected_word_at(line, i))
            .unwrap_or(line.len())
    };
    let mut out = String::with_capacity(line.len());
    let mut quote: Option<char> = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => {
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if c == '"' || (c == '`' && i < keep_ticks_from) {
                    quote = Some(c);
                    out.push_str(REDACTED);
                }
            }
        }
    }
    if out.chars().count() > 200 {
        out = out.chars().take(200).collect::<String>() + "…";
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, col)
}

/// A JSON error as `line L, column C: reason`, without input text.
pub fn json(e: &serde_json::Error) -> String {
    let full = e.to_string();
    // serde_json appends " at line L column C"; the position is given separately.
    let msg = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(m, _)| m);
    if e.line() == 0 {
        reason(msg)
    } else {
        format!("line {}, column {}: {}", e.line(), e.column(), reason(msg))
    }
}

/// A TOML error in `text` as `line L, column C: reason`, without the source line TOML's own
/// message shows.
pub fn toml(e: &toml::de::Error, text: &str) -> String {
    match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            format!("line {l}, column {c}: {}", reason(e.message()))
        }
        None => reason(e.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-SECRET-7f3a";

    #[test]
    fn toml_error_drops_the_source_line() {
        let text = format!("[storage]\nbackend = \"memory\"\n{SECRET} ==\n");
        let e = toml::from_str::<toml::Table>(&text).unwrap_err();
        assert!(e.to_string().contains(SECRET), "precondition: toml echoes");
        let m = toml(&e, &text);
        assert!(!m.contains(SECRET), "{m}");
        assert!(m.starts_with("line 3, column "), "{m}");
    }

    #[test]
    fn serde_values_are_redacted_schema_names_kept() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct C {
            port: u16,
        }
        let text = format!("port = \"{SECRET}\"\n");
        let e = toml::from_str::<C>(&text).unwrap_err();
        let m = toml(&e, &text);
        assert!(!m.contains(SECRET), "{m}");
        assert!(m.contains("invalid type"), "{m}");
        let text = format!("password = \"{SECRET}\"\n");
        let m = toml(&toml::from_str::<C>(&text).unwrap_err(), &text);
        assert!(!m.contains(SECRET), "{m}");
        assert!(
            m.contains("`password`") && m.contains("`port`"),
            "names stay: {m}"
        );
        let m = toml(&toml::from_str::<C>("").unwrap_err(), "");
        assert!(m.contains("missing field `port`"), "{m}");
        let e = serde_json::from_str::<C>(&format!("{{\"port\": \"{SECRET}\"}}")).unwrap_err();
        let m = json(&e);
        assert!(
            !m.contains(SECRET) && m.starts_with("line 1, column"),
            "{m}"
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncdé\nx", 7), (2, 4));
        assert_eq!(line_col("ab", 99), (1, 3));
        assert_eq!(reason("unexpected keyword `foo`"), "unexpected keyword `…`");
        assert_eq!(reason("expecting `{` after x"), "expecting `{` after x");
    }
}
