//! Number and text formatting shared by charts, workbook and HTML.

/// `1234567.891` → `1,234,567.89` with `decimals` digits; NaN → `n/a`.
pub fn thousands(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s.as_str(), None),
    };
    let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
    let negative = v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0');
    if negative {
        out.push('-');
    }
    let digits: Vec<char> = int.chars().collect();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// Decimals that suit an axis whose ticks are about `step` apart.
pub(crate) fn axis_decimals(span: f64) -> usize {
    let span = span.abs();
    if !span.is_finite() || span >= 50.0 {
        0
    } else if span >= 5.0 {
        1
    } else if span >= 0.5 {
        2
    } else {
        3
    }
}

/// The symbol printed before amounts of an ISO 4217 currency (`USD` → `$`), or `None`
/// for codes without a well-known symbol (those are printed after the amount).
pub(crate) fn currency_symbol(code: &str) -> Option<&'static str> {
    match code.to_ascii_uppercase().as_str() {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        "JPY" => Some("¥"),
        "INR" => Some("₹"),
        _ => None,
    }
}

/// An amount of money: `$1,234` or `1,234 SEK`.
pub(crate) fn money(v: f64, currency: &str, decimals: usize) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match currency_symbol(currency) {
        Some(sym) if v < 0.0 => format!("-{sym}{}", thousands(-v, decimals)),
        Some(sym) => format!("{sym}{}", thousands(v, decimals)),
        None if currency.is_empty() => thousands(v, decimals),
        None => format!("{} {currency}", thousands(v, decimals)),
    }
}

/// A ratio as a percentage: `0.123` → `+12.3%` (sign shown when `signed`).
pub(crate) fn percent(v: f64, signed: bool) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if signed {
        format!("{:+.1}%", 100.0 * v)
    } else {
        format!("{:.1}%", 100.0 * v)
    }
}

/// A p-value: `< 0.001` or three decimals.
pub(crate) fn p_value(p: f64) -> String {
    if !p.is_finite() {
        "n/a".into()
    } else if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// Truncates `s` to at most `max` characters, ending with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max == 0 {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Shortens `s` to at most `max` characters by cutting its middle (`…`), so names
/// that share a long prefix stay distinguishable by their ends.
pub(crate) fn truncate_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max || max < 4 {
        return s.to_string();
    }
    let tail = (max - 1) * 2 / 5;
    let head = max - 1 - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// Days since 1970-01-01 → `YYYY-MM-DD`.
pub(crate) fn date_string(days: i32) -> String {
    chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
        .map(|d| d.date_naive().to_string())
        .unwrap_or_else(|| format!("day {days}"))
}

/// Days since 1970-01-01 → `YYYY-MM`.
pub(crate) fn month_string(days: i32) -> String {
    let d = date_string(days);
    d.get(..7).map(str::to_string).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(thousands(-1234.0, 0), "-1,234");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(-0.0001, 2), "0.00");
        assert_eq!(thousands(f64::NAN, 2), "n/a");
        assert_eq!(money(-1500.0, "USD", 0), "-$1,500");
        assert_eq!(money(1500.0, "SEK", 0), "1,500 SEK");
        assert_eq!(percent(0.123, true), "+12.3%");
    }

    #[test]
    fn truncation_and_dates() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate_middle("abcdefghij", 6), "abc…ij");
        assert_eq!(truncate_middle("abc", 6), "abc");
        assert_eq!(date_string(0), "1970-01-01");
        assert_eq!(month_string(19_723), "2024-01");
    }
}
