//! The statistics page of the admin pages: per hour (the last 48) and per day (the last
//! 30), the recipients accepted, delivered, deferred, bounced and refused, each as a chart
//! (SVG drawn here: no script, no library) with its table beside it; totals per domain
//! and per sending user; the last failures with their replies; and the hourly rows as
//! CSV; and, for domains with open and click tracking, the newest tracked messages with
//! their opens and clicks. The counts are written every few seconds (`store/src/stats.rs`); the page writes
//! what is pending before it reads, so it is up to date.

use std::collections::BTreeMap;

use estafeta_store::{StatCount, StatEvent, Store};

use crate::html::escape;

const HOURS: i64 = 48;
const DAYS: i64 = 30;
const FAILURES: i64 = 20;
/// Tracked messages shown.
const TRACKED: i64 = 50;

/// Line colours, one per event (in `StatEvent::ALL`'s order), told apart also by the
/// table beside each chart.
const COLOURS: [&str; 5] = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#7f7f7f"];

/// `domain`: only that domain's rows (`None`: all).
pub async fn page(
    store: &dyn Store,
    domain: Option<&str>,
) -> Result<String, estafeta_store::StoreError> {
    store.flush_stats().await?;
    let now = estafeta_store::now();
    let this_hour = now / 3600 * 3600;
    let today = now / 86_400 * 86_400;
    let rows: Vec<StatCount> = store
        .stats_since(today - (DAYS - 1) * 86_400)
        .await?
        .into_iter()
        .filter(|r| domain.is_none_or(|d| r.domain == d))
        .collect();
    let hourly = series(&rows, this_hour - (HOURS - 1) * 3600, HOURS, 3600);
    let daily = series(&rows, today - (DAYS - 1) * 86_400, DAYS, 86_400);
    let mut out = String::new();
    if let Some(d) = domain {
        out.push_str(&format!(
            "<p>Domain <strong>{}</strong> only · <a href=\"/admin/statistics\">all domains</a></p>\n",
            escape(d)
        ));
    }
    out.push_str("<p>Counts are of recipients. <a href=\"/admin/statistics.csv\">Hourly rows as CSV</a> (the last 30 days).</p>\n");
    out.push_str("<h2>The last 48 hours</h2>\n");
    out.push_str(&chart(&hourly, "hourly"));
    out.push_str(&table(&hourly, crate::admin::date));
    out.push_str("<h2>The last 30 days</h2>\n");
    out.push_str(&chart(&daily, "daily"));
    out.push_str(&table(&daily, |t| crate::admin::date(t)[..10].to_string()));
    out.push_str("<h2>Per domain, 30 days</h2>\n");
    out.push_str(&totals(
        &rows,
        "Domain",
        |r| {
            if r.domain.is_empty() {
                "(none: from outside, refused or relayed)".to_string()
            } else {
                r.domain.clone()
            }
        },
        true,
    ));
    out.push_str("<h2>Per sending user, 30 days</h2>\n");
    out.push_str(&totals(
        &rows
            .iter()
            .filter(|r| !r.user.is_empty())
            .cloned()
            .collect::<Vec<_>>(),
        "User",
        |r| r.user.clone(),
        false,
    ));
    out.push_str("<h2>The last failures</h2>\n");
    let failures = store.recent_failures(FAILURES).await?;
    if failures.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str("<table><tr><th>When</th><th>Queue id</th><th>Sender</th><th>Recipient</th><th></th><th>Reply</th></tr>\n");
        for f in failures {
            out.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                crate::admin::date(f.at),
                escape(&f.queue_id),
                escape(if f.sender.is_empty() { "<>" } else { &f.sender }),
                escape(&f.recipient),
                if f.bounced { "bounced" } else { "deferred" },
                escape(&f.reply)
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str(&tracking(store, domain).await?);
    Ok(out)
}

/// The newest messages sent with open and click tracking, with their counts and their
/// most clicked links; said plainly when no domain has it on.
async fn tracking(
    store: &dyn Store,
    domain: Option<&str>,
) -> Result<String, estafeta_store::StoreError> {
    let mut out = String::from("<h2>Opens and clicks</h2>\n");
    let messages = store.tracked_messages(domain, TRACKED).await?;
    if messages.is_empty() {
        out.push_str(
            "<p>No tracked messages. Open and click tracking is off unless switched on for a \
             domain (Domains page, or <code>estafeta domain tracking DOMAIN on</code>).</p>\n",
        );
        return Ok(out);
    }
    out.push_str(
        "<p>Opens are counted when the reader's mail app shows images (some fetch them for \
         every message, some never): read them as a trend, not as proof.</p>\n\
         <table><tr><th>Sent</th><th>Queue id</th><th>Sender</th><th>Subject</th><th>Recipients</th>\
         <th>Opens</th><th>First open</th><th>Clicks</th><th>Links clicked</th></tr>\n",
    );
    for m in messages {
        let mut clicked = String::new();
        if m.clicks > 0 {
            for c in store.tracked_clicks(&m.id).await?.iter().take(5) {
                clicked.push_str(&format!("{} × {}<br>", c.clicks, escape(&c.url)));
            }
        }
        out.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{clicked}</td></tr>\n",
            crate::admin::date(m.sent_at),
            escape(&m.id),
            escape(&m.sender),
            escape(&m.subject),
            m.recipients,
            m.opens,
            m.first_open.map(crate::admin::date).unwrap_or_default(),
            m.clicks,
        ));
    }
    out.push_str("</table>\n");
    Ok(out)
}

/// Per period (oldest first): its start and the count of each event.
type Series = Vec<(i64, [i64; 5])>;

fn series(rows: &[StatCount], first: i64, periods: i64, length: i64) -> Series {
    let mut out: Series = (0..periods).map(|i| (first + i * length, [0; 5])).collect();
    for r in rows {
        let i = (r.hour - first).div_euclid(length);
        if (0..periods).contains(&i) {
            out[i as usize].1[index(r.event)] += r.count;
        }
    }
    out
}

fn index(e: StatEvent) -> usize {
    StatEvent::ALL.iter().position(|x| *x == e).unwrap_or(0)
}

/// A line per event over the periods, with a legend; the largest count sets the scale.
fn chart(series: &Series, name: &str) -> String {
    let (w, h, left, bottom) = (640.0_f64, 200.0_f64, 40.0_f64, 20.0_f64);
    let max = series
        .iter()
        .flat_map(|(_, c)| c.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = (w - left) / (series.len().max(2) - 1) as f64;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{name} counts\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <line x1=\"{left}\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\" stroke=\"#999\"/>\
         <line x1=\"{left}\" y1=\"0\" x2=\"{left}\" y2=\"{h}\" stroke=\"#999\"/>\
         <text x=\"0\" y=\"12\" font-size=\"11\">{}</text><text x=\"0\" y=\"{h}\" font-size=\"11\">0</text>",
        h + bottom + 20.0,
        h + bottom + 20.0,
        max as i64
    );
    for (e, event) in StatEvent::ALL.iter().enumerate() {
        let points: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(i, (_, c))| {
                let x = left + i as f64 * step;
                let y = h - (c[e] as f64 / max) * (h - 5.0);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            COLOURS[e],
            points.join(" "),
            event.as_str()
        ));
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            left + e as f64 * 110.0,
            h + bottom + 8.0,
            COLOURS[e],
            left + e as f64 * 110.0 + 14.0,
            h + bottom + 17.0,
            event.as_str()
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// The chart's numbers: the periods that have any, newest first.
fn table(series: &Series, label: impl Fn(i64) -> String) -> String {
    let mut out = String::from("<table><tr><th>Period</th>");
    for e in StatEvent::ALL {
        out.push_str(&format!("<th>{}</th>", e.as_str()));
    }
    out.push_str("</tr>\n");
    let mut any = false;
    for (start, counts) in series.iter().rev() {
        if counts.iter().all(|c| *c == 0) {
            continue;
        }
        any = true;
        out.push_str(&format!("<tr><td>{}</td>", label(*start)));
        for c in counts {
            out.push_str(&format!("<td>{c}</td>"));
        }
        out.push_str("</tr>\n");
    }
    if !any {
        out.push_str("<tr><td colspan=\"6\">nothing yet</td></tr>\n");
    }
    out.push_str("</table>\n");
    out
}

fn totals(
    rows: &[StatCount],
    what: &str,
    key: impl Fn(&StatCount) -> String,
    link: bool,
) -> String {
    let mut by: BTreeMap<String, (String, [i64; 5])> = BTreeMap::new();
    for r in rows {
        let entry = by
            .entry(key(r))
            .or_insert_with(|| (r.domain.clone(), [0; 5]));
        entry.1[index(r.event)] += r.count;
    }
    if by.is_empty() {
        return "<p>Nothing yet.</p>\n".to_string();
    }
    let mut out = format!("<table><tr><th>{what}</th>");
    for e in StatEvent::ALL {
        out.push_str(&format!("<th>{}</th>", e.as_str()));
    }
    out.push_str("</tr>\n");
    for (name, (domain, counts)) in by {
        let shown = if link && !domain.is_empty() {
            format!(
                "<a href=\"/admin/statistics?domain={}\">{}</a>",
                crate::admin::url_encode(&domain),
                escape(&name)
            )
        } else {
            escape(&name)
        };
        out.push_str(&format!("<tr><td>{shown}</td>"));
        for c in counts {
            out.push_str(&format!("<td>{c}</td>"));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The hourly rows of the last 30 days: `hour,domain,user,event,count`, the hour in
/// ISO 8601 (UTC).
pub async fn csv(store: &dyn Store) -> Result<String, estafeta_store::StoreError> {
    store.flush_stats().await?;
    let since = estafeta_store::now() / 86_400 * 86_400 - (DAYS - 1) * 86_400;
    let mut out = String::from("hour,domain,user,event,count\r\n");
    for r in store.stats_since(since).await? {
        let date = crate::admin::date(r.hour);
        out.push_str(&format!(
            "{}T{}:00Z,{},{},{},{}\r\n",
            &date[..10],
            &date[11..],
            csv_field(&r.domain),
            csv_field(&r.user),
            r.event.as_str(),
            r.count
        ));
    }
    Ok(out)
}

/// A CSV field (RFC 4180), quoted when it must be; a leading `=`, `+`, `-` or `@` is
/// prefixed with `'` so that a spreadsheet does not take it for a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_put_counts_in_their_periods() {
        let row = |hour, event, count| StatCount {
            hour,
            domain: "example.com".into(),
            user: String::new(),
            event,
            count,
        };
        let rows = [
            row(7200, StatEvent::Accepted, 3),
            row(7200, StatEvent::Delivered, 2),
            row(10_800, StatEvent::Accepted, 1),
            row(0, StatEvent::Accepted, 9), // before the first period
        ];
        let s = series(&rows, 3600, 3, 3600);
        assert_eq!(
            s,
            vec![
                (3600, [0; 5]),
                (7200, [3, 2, 0, 0, 0]),
                (10_800, [1, 0, 0, 0, 0])
            ]
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("example.com"), "example.com");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("x\"y"), "\"x\"\"y\"");
    }
}
