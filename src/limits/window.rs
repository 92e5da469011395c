//! The sliding-window counter: per bucket, the count of this minute and of the previous one; the
//! previous minute's count is weighted by how much of it still overlaps the last 60 s. Two
//! integers per bucket, and a reservation can be corrected later by adding the difference to the
//! minute it was made in. The Redis script (`store::redis`) applies the same rule atomically.

pub const WINDOW_MS: u64 = 60_000;

/// One limit to check: `limit` per minute, this request costs `cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub limit: u64,
    pub cost: u64,
}

/// The verdict for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// What is left after this request (if allowed) or now (if not).
    pub remaining: u64,
    /// Milliseconds until this bucket would admit the request (0 when allowed).
    pub retry_after_ms: u64,
    /// Milliseconds until the current window ends and the count starts decaying.
    pub reset_ms: u64,
}

/// A request never costs more than the whole limit, or a large `max_tokens` could never pass.
pub fn effective_cost(ask: Ask) -> u64 {
    ask.cost.min(ask.limit)
}

pub fn judge(ask: Ask, prev: u64, curr: u64, now_ms: u64) -> Verdict {
    let w = WINDOW_MS as f64;
    let into = (now_ms % WINDOW_MS) as f64;
    let frac = into / w;
    let cost = effective_cost(ask) as f64;
    let limit = ask.limit as f64;
    let (prev, curr) = (prev as f64, curr as f64);
    let used = prev * (1.0 - frac) + curr;
    let reset_ms = WINDOW_MS - now_ms % WINDOW_MS;
    if used + cost <= limit {
        return Verdict {
            allowed: true,
            remaining: (limit - used - cost).max(0.0) as u64,
            retry_after_ms: 0,
            reset_ms,
        };
    }
    // When does `used` fall to `limit - cost`? Within this window only the previous minute's
    // share decays; otherwise wait for the next window, where this minute becomes "previous".
    let room = limit - cost;
    let wait = if curr <= room && prev > 0.0 {
        let frac_needed = 1.0 - (room - curr) / prev;
        (frac_needed * w - into).max(0.0)
    } else {
        let frac_next = if curr > 0.0 { 1.0 - room / curr } else { 0.0 };
        reset_ms as f64 + frac_next.max(0.0) * w
    };
    Verdict {
        allowed: false,
        remaining: (limit - used).max(0.0) as u64,
        retry_after_ms: wait.ceil() as u64,
        reset_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = WINDOW_MS;

    #[test]
    fn admits_up_to_the_limit_in_one_window() {
        let ask = Ask { limit: 3, cost: 1 };
        let mut curr = 0;
        let mut admitted = 0;
        for i in 0..10 {
            let v = judge(ask, 0, curr, 10 * MIN + 1000 + i);
            if v.allowed {
                curr += 1;
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        let v = judge(ask, 0, curr, 10 * MIN + 1000);
        assert!(!v.allowed);
        assert_eq!(v.remaining, 0);
        // Full this minute and nothing before: free again only as this minute decays next window.
        assert!(v.retry_after_ms >= MIN - 1000);
    }

    #[test]
    fn the_previous_minute_decays() {
        let ask = Ask { limit: 10, cost: 1 };
        // 10 used last minute; 30 s into this one, half of them still count.
        let v = judge(ask, 10, 0, 5 * MIN + MIN / 2);
        assert!(v.allowed);
        assert_eq!(v.remaining, 4);
        // 5 more this minute: 5 + 5 = 10, full; one slot frees when 10 % of the last minute decays.
        let v = judge(ask, 10, 5, 5 * MIN + MIN / 2);
        assert!(!v.allowed);
        assert_eq!(v.retry_after_ms, MIN / 10);
    }

    #[test]
    fn a_cost_above_the_limit_is_capped_not_refused_forever() {
        let v = judge(
            Ask {
                limit: 100,
                cost: 5000,
            },
            0,
            0,
            0,
        );
        assert!(v.allowed);
        assert_eq!(v.remaining, 0);
        let v = judge(
            Ask {
                limit: 100,
                cost: 5000,
            },
            0,
            1,
            0,
        );
        assert!(!v.allowed);
    }

    #[test]
    fn retry_after_is_when_it_would_pass() {
        let ask = Ask { limit: 60, cost: 6 };
        for (prev, curr, at) in [(60, 0, 1000), (40, 30, 20_000), (0, 60, 59_000), (50, 8, 0)] {
            let now = 7 * MIN + at;
            let v = judge(ask, prev, curr, now);
            assert!(!v.allowed, "{prev} {curr} {at}");
            let later = now + v.retry_after_ms;
            let (p, c) = if later / MIN > now / MIN {
                (curr, 0)
            } else {
                (prev, curr)
            };
            assert!(judge(ask, p, c, later).allowed, "{prev} {curr} {at}");
            if v.retry_after_ms > 1 {
                let before = now + v.retry_after_ms - 2;
                let (p, c) = if before / MIN > now / MIN {
                    (curr, 0)
                } else {
                    (prev, curr)
                };
                assert!(
                    !judge(ask, p, c, before).allowed,
                    "{prev} {curr} {at}: too late"
                );
            }
        }
    }
}
