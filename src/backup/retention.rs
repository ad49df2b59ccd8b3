//! Which backups to keep: pure functions of backup times, labels and the clock.
//!
//! A backup is kept when any rule keeps it (a union, as `restic forget` does):
//! - `last N`: the N newest;
//! - `within D`: taken no longer than D before now (`--keep-days N` is `within N×24h`);
//! - `hourly|daily|weekly|monthly N`: the newest backup of each of the last N hours, days, ISO
//!   weeks or months (UTC) that have a backup, as restic counts them: a month without backups
//!   does not use up one of the N;
//! - `labeled`: every labeled backup, unless labeled ones are pruned like the rest.
//!
//! Labeled backups kept as such take no place in the other rules, so `--keep-last 6` keeps six
//! scheduled backups besides any `pre-upgrade` one. Time comes from the file name, never from the
//! mtime, which copies change.
//!
//! The floor that makes pruning safe (the newest backup that passes verification is never
//! deleted) needs the files, so `prune` applies it on top of these rules.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The retention rules. All `None` means "no rule given"; see [`Policy::or_default`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    pub last: Option<u32>,
    pub within: Option<std::time::Duration>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    /// Labeled backups are subject to the rules like the rest (`--prune-labeled`).
    pub prune_labeled: bool,
}

/// What the old cron script kept: `find -mtime +7 -delete`.
pub(crate) const DEFAULT_KEEP_DAYS: u32 = 7;

const DAY: u64 = 24 * 3600;

impl Policy {
    /// True when no keep rule is set (the label setting is not a keep rule).
    pub(crate) fn has_no_rule(&self) -> bool {
        self.last.is_none()
            && self.within.is_none()
            && self.hourly.is_none()
            && self.daily.is_none()
            && self.weekly.is_none()
            && self.monthly.is_none()
    }

    /// The policy with `--keep-days 7` when no keep rule was given.
    pub(crate) fn or_default(mut self) -> Policy {
        if self.has_no_rule() {
            self.within = Some(std::time::Duration::from_secs(
                u64::from(DEFAULT_KEEP_DAYS) * DAY,
            ));
        }
        self
    }

    /// The rules in words, for messages: `last 6, within 7d, daily 7, labeled kept`.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.last {
            parts.push(format!("last {n}"));
        }
        if let Some(d) = self.within {
            parts.push(format!("within {}", span(d)));
        }
        for (word, n) in [
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
        ] {
            if let Some(n) = n {
                parts.push(format!("{word} {n}"));
            }
        }
        parts.push(if self.prune_labeled {
            "labeled pruned like the rest".to_string()
        } else {
            "labeled kept".to_string()
        });
        parts.join(", ")
    }
}

/// A backup as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub taken_at: DateTime<Utc>,
    pub labeled: bool,
}

/// Why a backup is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Among the newest N.
    Last(u32),
    /// Taken within this span before now.
    Within(std::time::Duration),
    /// Newest of its hour, day, ISO week or month; the string names the period.
    Hourly(String),
    Daily(String),
    Weekly(String),
    Monthly(String),
    Labeled,
    /// The newest backup that passes verification (applied by `prune`).
    NewestVerified,
    /// Nothing passes verification, so nothing is deleted (applied by `prune`).
    NoVerifiedBackup,
    /// Written by this very run (`save --prune`): never deleted by it.
    JustWritten,
    /// Its time cannot be trusted (`catalog::suspects`): kept, and not counted by the rules.
    Suspect,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last(n) => write!(f, "last {n}"),
            Reason::Within(d) => write!(f, "within {}", span(*d)),
            Reason::Hourly(p) => write!(f, "hourly {p}"),
            Reason::Daily(p) => write!(f, "daily {p}"),
            Reason::Weekly(p) => write!(f, "weekly {p}"),
            Reason::Monthly(p) => write!(f, "monthly {p}"),
            Reason::Labeled => f.write_str("labeled"),
            Reason::NewestVerified => f.write_str("newest verified"),
            Reason::NoVerifiedBackup => f.write_str("no backup passes verification"),
            Reason::JustWritten => f.write_str("just written"),
            Reason::Suspect => f.write_str("kept while its time is suspect"),
        }
    }
}

/// `7d`, `36h`, `90m`, else humantime's form.
fn span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if d.subsec_nanos() == 0 && s > 0 {
        if s.is_multiple_of(DAY) {
            return format!("{}d", s / DAY);
        }
        if s.is_multiple_of(3600) {
            return format!("{}h", s / 3600);
        }
        if s.is_multiple_of(60) {
            return format!("{}m", s / 60);
        }
    }
    humantime::format_duration(d).to_string()
}

/// The reasons each item is kept, in the order of `items`; an empty list means "delete".
pub(crate) fn decide(items: &[Item], policy: &Policy, now: DateTime<Utc>) -> Vec<Vec<Reason>> {
    let mut reasons = vec![Vec::new(); items.len()];
    // Newest first; a stable sort keeps the caller's order among equal times.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].taken_at.cmp(&items[a].taken_at));
    let mut series = Vec::with_capacity(order.len());
    for i in order {
        if items[i].labeled && !policy.prune_labeled {
            reasons[i].push(Reason::Labeled);
        } else {
            series.push(i);
        }
    }

    if let Some(n) = policy.last {
        for &i in series.iter().take(n as usize) {
            reasons[i].push(Reason::Last(n));
        }
    }
    if let Some(d) = policy.within {
        let limit = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        for &i in &series {
            // Future times (clock skew) are "within" too.
            if now.signed_duration_since(items[i].taken_at) <= limit {
                reasons[i].push(Reason::Within(d));
            }
        }
    }
    let buckets: [(Option<u32>, Bucket); 4] = [
        (policy.hourly, (hour_of, Reason::Hourly)),
        (policy.daily, (day_of, Reason::Daily)),
        (policy.weekly, (week_of, Reason::Weekly)),
        (policy.monthly, (month_of, Reason::Monthly)),
    ];
    for (count, (period_of, reason)) in buckets {
        let Some(n) = count else { continue };
        let mut kept = 0;
        let mut last_period: Option<String> = None;
        for &i in &series {
            if kept == n {
                break;
            }
            let period = period_of(items[i].taken_at);
            if last_period.as_ref() != Some(&period) {
                reasons[i].push(reason(period.clone()));
                last_period = Some(period);
                kept += 1;
            }
        }
    }
    reasons
}

/// The period a time falls in, and the reason naming it.
type Bucket = (fn(DateTime<Utc>) -> String, fn(String) -> Reason);

fn hour_of(t: DateTime<Utc>) -> String {
    format!("{} {:02}h", t.format("%Y-%m-%d"), t.hour())
}

fn day_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn week_of(t: DateTime<Utc>) -> String {
    let w = t.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

fn month_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn plain(t: DateTime<Utc>) -> Item {
        Item {
            taken_at: t,
            labeled: false,
        }
    }

    /// Indices of the kept items.
    fn kept(items: &[Item], policy: &Policy, now: DateTime<Utc>) -> Vec<usize> {
        decide(items, policy, now)
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(i, _)| i)
            .collect()
    }

    /// Every 4 hours from 2026-11-01 00:00 to 2026-11-21 20:00, oldest first (126 backups).
    fn every_four_hours() -> Vec<Item> {
        (0..21 * 6)
            .map(|i| plain(at(2026, 11, 1, 0, 0) + chrono::Duration::hours(4 * i)))
            .collect()
    }

    #[test]
    fn no_rule_means_seven_days() {
        let p = Policy::default().or_default();
        assert_eq!(p.within, Some(std::time::Duration::from_secs(7 * DAY)));
        let p = Policy {
            last: Some(3),
            ..Policy::default()
        };
        assert_eq!(
            p.clone().or_default(),
            p,
            "a given rule replaces the default"
        );
        let p = Policy {
            prune_labeled: true,
            ..Policy::default()
        };
        assert!(
            p.or_default().within.is_some(),
            "the label flag is no keep rule"
        );
    }

    #[test]
    fn rule_table() {
        let items = every_four_hours();
        let now = at(2026, 11, 21, 22, 0);
        let n = items.len();
        let cases: Vec<(&str, Policy, Vec<usize>)> = vec![
            (
                "last 3",
                Policy {
                    last: Some(3),
                    ..Policy::default()
                },
                vec![n - 3, n - 2, n - 1],
            ),
            (
                "within 7d keeps everything taken since 2026-11-14 22:00",
                Policy {
                    within: Some(std::time::Duration::from_secs(7 * DAY)),
                    ..Policy::default()
                },
                (0..n)
                    .filter(|&i| items[i].taken_at >= at(2026, 11, 14, 22, 0))
                    .collect(),
            ),
            (
                "daily 3 keeps the 20:00 backup of the last three days",
                Policy {
                    daily: Some(3),
                    ..Policy::default()
                },
                vec![n - 13, n - 7, n - 1],
            ),
            (
                "hourly 2 keeps the two newest (one per hour)",
                Policy {
                    hourly: Some(2),
                    ..Policy::default()
                },
                vec![n - 2, n - 1],
            ),
            (
                // 2026-11-21 is a Saturday in ISO week 47; weeks start on Monday.
                "weekly 2: newest of W47 and of W46 (Sunday 2026-11-15 20:00)",
                Policy {
                    weekly: Some(2),
                    ..Policy::default()
                },
                vec![
                    (0..n)
                        .find(|&i| items[i].taken_at == at(2026, 11, 15, 20, 0))
                        .unwrap(),
                    n - 1,
                ],
            ),
            (
                "monthly 12 with one month of backups keeps one",
                Policy {
                    monthly: Some(12),
                    ..Policy::default()
                },
                vec![n - 1],
            ),
            (
                "union of last 1 and daily 2",
                Policy {
                    last: Some(1),
                    daily: Some(2),
                    ..Policy::default()
                },
                vec![n - 7, n - 1],
            ),
        ];
        for (what, policy, want) in cases {
            assert_eq!(kept(&items, &policy, now), want, "{what}");
        }
    }

    #[test]
    fn buckets_skip_empty_periods_like_restic() {
        // Backups in January, March and June only: monthly 3 keeps all three months' newest.
        let items = vec![
            plain(at(2026, 1, 5, 0, 0)),
            plain(at(2026, 1, 20, 0, 0)),
            plain(at(2026, 3, 1, 0, 0)),
            plain(at(2026, 6, 30, 23, 59)),
        ];
        let p = Policy {
            monthly: Some(3),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, at(2026, 11, 1, 0, 0)), vec![1, 2, 3]);
        let r = decide(&items, &p, at(2026, 11, 1, 0, 0));
        assert_eq!(r[3], vec![Reason::Monthly("2026-06".into())]);
        assert_eq!(r[3][0].to_string(), "monthly 2026-06");
    }

    #[test]
    fn iso_weeks_cross_years() {
        // 2027-01-01 is a Friday in ISO week 2026-W53.
        assert_eq!(week_of(at(2027, 1, 1, 12, 0)), "2026-W53");
        assert_eq!(week_of(at(2027, 1, 4, 0, 0)), "2027-W01");
        assert_eq!(hour_of(at(2027, 1, 4, 7, 59)), "2027-01-04 07h");
    }

    #[test]
    fn labeled_backups_are_kept_aside() {
        let now = at(2026, 11, 21, 12, 0);
        let items = vec![
            plain(at(2026, 11, 1, 0, 0)),
            Item {
                taken_at: at(2026, 11, 2, 0, 0),
                labeled: true,
            },
            plain(at(2026, 11, 3, 0, 0)),
            Item {
                taken_at: at(2026, 11, 4, 0, 0),
                labeled: true,
            },
        ];
        let last2 = Policy {
            last: Some(2),
            ..Policy::default()
        };
        let r = decide(&items, &last2, now);
        assert_eq!(r[1], vec![Reason::Labeled]);
        assert_eq!(r[3], vec![Reason::Labeled]);
        // The labeled ones take no place in "last 2": both plain backups are kept too.
        assert_eq!(r[0], vec![Reason::Last(2)]);
        assert_eq!(r[2], vec![Reason::Last(2)]);

        let pruned = Policy {
            prune_labeled: true,
            ..last2
        };
        assert_eq!(kept(&items, &pruned, now), vec![2, 3]);
    }

    #[test]
    fn future_backups_are_within() {
        let now = at(2026, 11, 21, 12, 0);
        let items = vec![plain(at(2026, 11, 22, 0, 0)), plain(at(2026, 11, 1, 0, 0))];
        let p = Policy {
            within: Some(std::time::Duration::from_secs(3600)),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, now), vec![0]);
    }

    #[test]
    fn equal_times_keep_input_order() {
        let t = at(2026, 11, 21, 0, 0);
        let items = vec![plain(t), plain(t), plain(t)];
        let p = Policy {
            last: Some(1),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, t), vec![0]);
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(span(std::time::Duration::from_secs(7 * DAY)), "7d");
        assert_eq!(span(std::time::Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(span(std::time::Duration::from_secs(90 * 60)), "90m");
        assert_eq!(span(std::time::Duration::from_secs(61)), "1m 1s");
        assert_eq!(
            Policy::default().or_default().describe(),
            "within 7d, labeled kept"
        );
    }
}
