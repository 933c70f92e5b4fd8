//! Times on the command line of `sigwatch replay` (`--since`, `--until`).

/// A time as milliseconds since the epoch: `1795667968` / `1795667968.504`
/// (seconds), or UTC `2026-11-26`, `2026-11-26T04:39`, `2026-11-26 04:39:28`,
/// `2026-11-26T04:39:28.504Z`.
pub fn parse_time_ms(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("bad time {s:?} (seconds since the epoch or YYYY-MM-DD[THH:MM[:SS[.mmm]]][Z], UTC)")
    };
    let t = s.trim().trim_end_matches('Z');
    if let Some((sec, frac)) = t.split_once('.').filter(|_| !t.contains('-')) {
        let sec: u64 = sec.parse().map_err(|_| bad())?;
        let ms: u64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
        return Ok(sec * 1000 + ms);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return t
            .parse::<u64>()
            .map(|v| v.saturating_mul(1000))
            .map_err(|_| bad());
    }
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, tm),
        None => (t, "00:00:00"),
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, dd] = d.as_slice() else {
        return Err(bad());
    };
    let (y, m, dd): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        dd.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || y < 1970 {
        return Err(bad());
    }
    let (hms, ms) = match time.split_once('.') {
        Some((a, b)) => (
            a,
            format!("{b:0<3}")[..3].parse::<u64>().map_err(|_| bad())?,
        ),
        None => (time, 0),
    };
    let parts: Vec<u64> = hms
        .split(':')
        .map(|p| p.parse::<u64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (h, mi, se) = match parts.as_slice() {
        [h, mi] => (*h, *mi, 0),
        [h, mi, se] => (*h, *mi, *se),
        _ => return Err(bad()),
    };
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    // Howard Hinnant's days_from_civil.
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(dd) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).map_err(|_| bad())?;
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
        for bad in ["", "x", "2026-13-01", "2026-11-26T25:00", "2026-11", "-5"] {
            assert!(parse_time_ms(bad).is_err(), "{bad}");
        }
    }
}
