//! Times on the command line of `sigwatch replay` (`--since`, `--until`).

/// A time as milliseconds since the epoch: `1795667968` / `1795667968.504`
/// (seconds), or UTC `2026-11-26`, `2026-11-26T04:39`, `2026-11-26 04:39:28`,
/// `2026-11-26T04:39:28.504Z`.
pub fn parse_time_ms(s: &str) -> Result<u64, String> {
    parse(s)
}

/// Milliseconds of a decimal fraction (`5` → 500, `504` → 504, `5049` →
/// 504); `None` unless 1 to 9 ASCII digits.
fn millis(frac: &str) -> Option<u64> {
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = frac.bytes().chain(std::iter::repeat(b'0')).take(3);
    let mut ms = 0u64;
    for _ in 0..3 {
        ms = ms * 10 + u64::from(digits.next()? - b'0');
    }
    Some(ms)
}

/// `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH` as seconds east of UTC.
fn offset_secs(o: &str) -> Option<i64> {
    let sign = match o.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &o[1..];
    let digits: String = match rest.len() {
        2 | 4 => rest.to_string(),
        5 if rest.as_bytes()[2] == b':' => rest.replacen(':', "", 1),
        _ => return None,
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = if digits.len() == 4 {
        digits[2..].parse().ok()?
    } else {
        0
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// Splits the zone off a time as the text output prints it
/// (`2026-11-26 05:39:30.076 +01:00 CET`, `…04:39:28.504Z`,
/// `…05:39:30+01:00`): the time without it and its offset east of UTC in
/// seconds (0 without a zone: UTC). `Err` for a zone name alone (`CET`:
/// abbreviations are ambiguous), which needs its offset.
fn split_zone(t: &str) -> Result<(String, i64), ()> {
    let mut words: Vec<&str> = t.split_whitespace().collect();
    let is_name = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic());
    // A trailing zone name: dropped after an offset, or UTC/GMT itself.
    if words.len() > 1 && is_name(words[words.len() - 1]) {
        let name = words[words.len() - 1];
        let after_offset = words.len() > 2 && offset_secs(words[words.len() - 2]).is_some();
        if after_offset {
            words.pop();
        } else if matches!(name, "UTC" | "GMT" | "Z") {
            words.pop();
            return Ok((words.join(" "), 0));
        } else {
            return Err(());
        }
    }
    if words.len() > 1 {
        if let Some(off) = offset_secs(words[words.len() - 1]) {
            words.pop();
            return Ok((words.join(" "), off));
        }
    }
    let joined = words.join(" ");
    if let Some(rest) = joined.strip_suffix('Z') {
        return Ok((rest.to_string(), 0));
    }
    // An offset attached to the time of day (`05:39:30+01:00`).
    if let Some(tpos) = joined.find(['T', ' ']) {
        let time = &joined[tpos + 1..];
        if let Some(i) = time.rfind(['+', '-']) {
            let off = offset_secs(&time[i..]).ok_or(())?;
            return Ok((joined[..tpos + 1 + i].to_string(), off));
        }
    }
    Ok((joined, 0))
}

fn parse(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("bad time {s:?} (seconds since the epoch, or YYYY-MM-DD[THH:MM[:SS[.mmm]]] in UTC, or with its offset as the text output prints it: +01:00, Z)")
    };
    let (t, offset) = split_zone(s.trim()).map_err(|()| {
        format!(
            "bad time {s:?}: a zone name alone is ambiguous; give its offset (e.g. +01:00) or UTC"
        )
    })?;
    let naive = parse_utc(&t).map_err(|()| bad())?;
    let ms = i128::from(naive) - i128::from(offset) * 1000;
    u64::try_from(ms).map_err(|_| bad())
}

fn parse_utc(t: &str) -> Result<u64, ()> {
    if let Some((sec, frac)) = t.split_once('.').filter(|_| !t.contains('-')) {
        let sec: u64 = sec.parse().map_err(|_| ())?;
        let ms = millis(frac).ok_or(())?;
        return sec
            .checked_mul(1000)
            .and_then(|v| v.checked_add(ms))
            .ok_or(());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return t
            .parse::<u64>()
            .map(|v| v.saturating_mul(1000))
            .map_err(|_| ());
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, dd] = d.as_slice() else {
        return Err(());
    };
    let (y, m, dd): (i64, u32, u32) = (
        y.parse().map_err(|_| ())?,
        m.parse().map_err(|_| ())?,
        dd.parse().map_err(|_| ())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || !(1970..=9999).contains(&y) {
        return Err(());
    }
    let (hms, ms) = match time.split_once('.') {
        Some((a, b)) => (a, millis(b).ok_or(())?),
        None => (time, 0),
    };
    let parts: Vec<u64> = hms
        .split(':')
        .map(|p| p.parse::<u64>().map_err(|_| ()))
        .collect::<Result<_, _>>()?;
    let (h, mi, se) = match parts.as_slice() {
        [h, mi] => (*h, *mi, 0),
        [h, mi, se] => (*h, *mi, *se),
        _ => return Err(()),
    };
    if h > 23 || mi > 59 || se > 60 {
        return Err(());
    }
    // Howard Hinnant's days_from_civil.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(dd) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).map_err(|_| ())?;
    Ok(((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_time_ms;

    #[test]
    fn times() {
        assert_eq!(parse_time_ms("0").unwrap(), 0);
        assert_eq!(parse_time_ms("1795667968").unwrap(), 1_795_667_968_000);
        assert_eq!(parse_time_ms("1795667968.5").unwrap(), 1_795_667_968_500);
        assert_eq!(
            parse_time_ms("2026-11-26T04:39:28.504Z").unwrap(),
            1_795_667_968_504
        );
        assert_eq!(
            parse_time_ms("2026-11-26 04:39:28").unwrap(),
            1_795_667_968_000
        );
        assert_eq!(parse_time_ms("2000-02-29").unwrap(), 951_782_400_000);
        assert_eq!(parse_time_ms("1970-01-01T00:01").unwrap(), 60_000);
        // As the text output prints it (local time with its offset and
        // zone name), and ISO 8601 offsets: the same instant.
        let t = 1_795_667_968_504;
        for same in [
            "2026-11-26 05:39:28.504 +01:00 CET",
            "2026-11-26 05:39:28.504 +01:00",
            "2026-11-26T05:39:28.504+01:00",
            "2026-11-25 23:39:28.504 -05:00 EST",
            "2026-11-26T04:39:28.504-0000",
            "2026-11-26 04:39:28.504 +00:00 UTC",
            "2026-11-26 04:39:28.504 UTC",
            "2026-11-26T04:39:28.504 Z",
        ] {
            assert_eq!(parse_time_ms(same), Ok(t), "{same}");
        }
        // A zone name alone is ambiguous (CET, IST, ...): refused, saying so.
        let e = parse_time_ms("2026-11-26 05:39:28 CET").unwrap_err();
        assert!(e.contains("offset"), "{e}");
        for bad in [
            "",
            "x",
            "2026-11-26T05:39:28+25:00",
            "2026-11-26T05:39:28+1:0",
            "1970-01-01T00:00+01:00",
            "2026-13-01",
            "2026-11-26T25:00",
            "2026-11",
            "-5",
            "18446744073709552.5",
            "1.é",
            "1.",
            "99999999-01-01",
            "2026-01-01T00:00.x",
        ] {
            assert!(parse_time_ms(bad).is_err(), "{bad}");
        }
    }
}
