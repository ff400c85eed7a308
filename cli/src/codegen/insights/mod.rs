//! The standard product-analytics questions as SQL over the lake, for DuckDB and Athena: identity
//! stitching, sessions, active users, funnels, retention, revenue and data quality.
//!
//! Each insight is one file per engine under `queries/<engine>/insights/`, with a header saying
//! what it answers, what it reads, its parameters and its columns. Views (`identities`,
//! `events_stitched`, `sessions`) are created once and read by the queries; queries take their
//! parameters as DuckDB variables or Athena's positional parameters (see `params`). The SQL is
//! written once: the engines differ only where `dialect` says.
//!
//! An insight that needs an event type or property the schemas do not have (revenue needs the
//! order event with its total) is left out rather than generated to fail at query time.

mod dialect;
mod filters;
mod funnel;
mod params;
mod people;
mod quality;
mod revenue;

use std::fmt::Write;

use driftless::schema::{EventSchema, JsonType};

use self::dialect::Engine;
use self::params::{Param, FROM_DAY, STEPS, TO_DAY, WINDOW_SECONDS};
use super::Output;

pub use self::funnel::MAX_STEPS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `CREATE OR REPLACE VIEW`: run once, then read by name.
    View,
    /// A `SELECT` with parameters.
    Query,
}

/// Something an insight needs from the schemas.
#[derive(Debug, Clone, Copy)]
enum Need {
    EventType(&'static str),
    /// An event type's property, of a JSON type (in its latest version).
    Property(&'static str, &'static str, JsonType),
}

struct Insight {
    /// The file under `queries/<engine>/insights/`, and the view's name for a view.
    name: &'static str,
    files: Files,
    kind: Kind,
    /// The question it answers: the first line of the file's header.
    answers: &'static str,
    /// How it answers it, where that is not obvious: the rest of the header.
    notes: &'static str,
    reads: &'static [&'static str],
    params: &'static [Param],
    needs: &'static [Need],
    columns: &'static [(&'static str, &'static str)],
    sql: fn(Engine) -> String,
}

struct Files {
    duckdb: &'static str,
    athena: &'static str,
}

macro_rules! files {
    ($name:literal) => {
        Files {
            duckdb: concat!("queries/duckdb/insights/", $name, ".sql"),
            athena: concat!("queries/athena/insights/", $name, ".sql"),
        }
    };
}

const RANGE: &[Param] = &[FROM_DAY, TO_DAY];

/// Every insight, in the order a user creates and reads them: the views first.
static INSIGHTS: &[Insight] = &[
    Insight {
        name: "identities",
        files: files!("identities"),
        kind: Kind::View,
        answers: "Which user is each browser? anonymous_id -> user_id stitching.",
        notes: "From the human events that carry both ids. A browser that carried several user_ids (a \
             shared device) belongs to the one it carried last.",
        reads: &["events"],
        columns: &[
            ("anonymous_id", "the browser (one row each)"),
            ("user_id", "the user it belongs to: the last one it carried"),
            ("first_seen", "first event of this browser as that user"),
            ("last_seen", "last event of this browser carrying a user_id"),
            ("user_ids", "how many user_ids it carried (more than 1: a shared device)"),
        ],
        params: &[],
        needs: &[],
        sql: people::identities,
    },
    Insight {
        name: "events_stitched",
        files: files!("events_stitched"),
        kind: Kind::View,
        answers: "Who is this person across devices? Every event with a person_id.",
        notes: "The columns of `events` plus `person_id`, human events only (is_bot IS NOT TRUE): \
             every insight that reads it leaves bots out. Events a browser sent before its user \
             signed in belong to that user too, so a user on two devices is one person.",
        reads: &["events", "identities"],
        columns: &[(
            "person_id",
            "the event's user_id, else its browser's stitched user_id, else its anonymous_id",
        )],
        params: &[],
        needs: &[],
        sql: people::events_stitched,
    },
    Insight {
        name: "sessions",
        files: files!("sessions"),
        kind: Kind::View,
        answers: "How long are visits, how many pages do they see, where do they enter and leave?",
        notes: "One row per session_id, over the whole lake: filter on started_on.",
        reads: &["events_stitched"],
        needs: &[Need::EventType("page_viewed")],
        columns: &[
            ("session_id", "the SDK's session (30 minutes idle rotate it)"),
            ("anonymous_id, person_id", "the browser, and the person at the session's last event"),
            ("started_at, ended_at", "first and last event"),
            ("duration_seconds", "from the first event to the last"),
            ("events, page_views", "events, and page_viewed events among them"),
            ("entry_page, exit_page", "page_url of the first and last event that has one"),
            ("referrer", "page_referrer of the first event with a page_url"),
            ("started_on", "event day of the first event, to filter on"),
        ],
        params: &[],
        sql: people::sessions,
    },
    Insight {
        name: "events_per_day",
        files: files!("events_per_day"),
        kind: Kind::Query,
        answers: "How many events of each type happen per day?",
        notes: "Human events only (is_bot IS NOT TRUE); quality_bots counts the bots.",
        reads: &["events"],
        params: RANGE,
        columns: &[
            ("day", "event day (UTC)"),
            ("event_type", ""),
            ("events", ""),
            ("visitors", "distinct anonymous_ids"),
        ],
        needs: &[],
        sql: people::events_per_day,
    },
    Insight {
        name: "active_users",
        files: files!("active_users"),
        kind: Kind::Query,
        answers: "How many people use the product each day, week and month?",
        notes: "Persons (events_stitched.person_id), not browsers. The weekly and monthly figures are \
             rolling windows, exact distinct counts: the query reads from 29 days before from_day.",
        reads: &["events_stitched"],
        params: RANGE,
        columns: &[
            ("day", "each day of the range, also days without events"),
            ("daily_active_users", "persons active that day"),
            ("weekly_active_users", "persons active in the 7 days ending that day"),
            ("monthly_active_users", "persons active in the 30 days ending that day"),
        ],
        needs: &[],
        sql: people::active_users,
    },
    Insight {
        name: "funnel",
        files: files!("funnel"),
        kind: Kind::Query,
        answers: "How many people go through these steps, in this order, and where do they drop off?",
        notes: "A person enters with their first step-1 event in the range; each next step is their \
             first event of that type after the step before (the same millisecond counts as after \
             when the two steps are different event types), no later than window_seconds after \
             entering. Persons, not browsers: a funnel started on a phone and finished on a laptop \
             counts. At most 8 steps.",
        reads: &["events_stitched"],
        params: &[FROM_DAY, TO_DAY, STEPS, WINDOW_SECONDS],
        columns: &[
            ("step, event_type", "the funnel's steps, from 1"),
            ("persons", "persons who reached the step"),
            ("percent_of_first", "of the persons who entered the funnel"),
            ("percent_of_previous", "of the persons who reached the step before"),
            ("median_seconds_from_entry", "time from step 1 to this step (Athena: approximate)"),
        ],
        needs: &[],
        sql: funnel::funnel,
    },
    Insight {
        name: "retention",
        files: files!("retention"),
        kind: Kind::Query,
        answers: "Of the people who came for the first time in a week, how many came back each week after?",
        notes: "Weekly cohorts (ISO weeks, Monday first) of the weeks that start from from_day's week \
             to to_day. A person's cohort is the week of their first event in the lake, so the \
             query reads every day up to to_day. One row per cohort and week up to to_day's week.",
        reads: &["events_stitched"],
        params: RANGE,
        columns: &[
            ("cohort_week", "Monday of the week the persons were first seen"),
            ("cohort_persons", "persons first seen that week"),
            ("week_number", "0 for the cohort's week, 1 for the next, ..."),
            ("active_persons", "of them, persons active in that week"),
            ("retained_percent", "active_persons of cohort_persons"),
        ],
        needs: &[],
        sql: people::retention,
    },
    Insight {
        name: "revenue",
        files: files!("revenue"),
        kind: Kind::Query,
        answers: "How much was sold each day?",
        notes: "From the typed view checkout_completed (queries/<engine>/views.sql), which keeps \
             humans only. An order tracked twice counts once, with the total of its first event. \
             Currencies are not converted.",
        reads: &["checkout_completed"],
        params: RANGE,
        needs: &[
            Need::Property(revenue::ORDER_EVENT, "order_id", JsonType::String),
            Need::Property(revenue::ORDER_EVENT, "total", JsonType::Number),
            Need::Property(revenue::ORDER_EVENT, "currency", JsonType::String),
        ],
        columns: &[
            ("day", "event day (UTC) of the order"),
            ("currency", ""),
            ("orders", "distinct order_ids"),
            ("revenue", "sum of the orders' totals"),
            ("average_order_value", ""),
        ],
        sql: revenue::revenue,
    },
    Insight {
        name: "quality_verdicts",
        files: files!("quality_verdicts"),
        kind: Kind::Query,
        answers: "What share of each event type is rejected, and why?",
        notes: "Accepted and quarantined events per event type and verdict, over arrival days \
             (dt) from from_day to to_day. A quarantined event sent again by a retry counts once.",
        reads: &["events", "quarantine"],
        params: RANGE,
        columns: &[
            ("event_type", "as sent; (unreadable) when the event had none"),
            ("verdict", "accepted, or the quarantine reason (docs/wire-format.md)"),
            ("events", "events with that verdict"),
            ("percent_of_type", "of all the event type's events"),
        ],
        needs: &[],
        sql: quality::verdicts,
    },
    Insight {
        name: "quality_completeness",
        files: files!("quality_completeness"),
        kind: Kind::Query,
        answers: "Did every event the browsers tracked arrive?",
        notes: "Each browser numbers its events (seq); gaps are events that never arrived. Per \
             arrival day, as compaction measures it. A browser whose numbers span two days counts \
             on both.",
        reads: &["events", "quarantine"],
        params: RANGE,
        columns: &[
            ("day", "arrival day (dt)"),
            ("received_events", "distinct seq numbers that arrived, accepted or quarantined"),
            ("expected_events", "seq numbers from each browser's lowest to its highest"),
            ("completeness_percent", ""),
        ],
        needs: &[],
        sql: quality::completeness,
    },
    Insight {
        name: "quality_freshness",
        files: files!("quality_freshness"),
        kind: Kind::Query,
        answers: "How late do events arrive, and how fresh is the lake?",
        notes: "Arrival lag is received_at - timestamp: the time events waited in the browser's queue \
             (offline, or a page closed before the send) and on the way.",
        reads: &["events"],
        params: RANGE,
        columns: &[
            ("day", "arrival day (dt)"),
            ("events", ""),
            ("lag_p50_seconds, lag_p95_seconds, lag_p99_seconds", "arrival lag quantiles (Athena: approximate)"),
            ("lag_max_seconds", ""),
            ("later_than_an_hour", "events that arrived more than an hour after they happened"),
            ("last_received_at", "the newest arrival of the day"),
        ],
        needs: &[],
        sql: quality::freshness,
    },
    Insight {
        name: "quality_bots",
        files: files!("quality_bots"),
        kind: Kind::Query,
        answers: "What share of the accepted events are bots, and which rule flagged them?",
        notes: "Per arrival day (dt): ingest flags an event is_bot with the first rule that matched \
             (bot_reason, docs/wire-format.md). The other insights count humans only (is_bot IS NOT \
             TRUE: rows from before ingest flagged bots count as humans).",
        reads: &["events"],
        params: RANGE,
        columns: &[
            ("day", "arrival day (dt)"),
            ("bot_reason", "NULL: every bot of the day; else the rule"),
            ("events", "accepted events that day, humans and bots"),
            ("bot_events", "of them, bots (with that reason)"),
            ("bot_percent", "bot_events of events"),
        ],
        needs: &[],
        sql: quality::bots,
    },
];

/// The insight files for both engines, in catalogue order, leaving out those whose needs the
/// latest schemas do not meet.
pub fn generate(latest: &[&EventSchema]) -> Vec<Output> {
    let mut out = Vec::new();
    for insight in INSIGHTS.iter().filter(|i| available(i, latest)) {
        for (engine, path) in [
            (Engine::DuckDb, insight.files.duckdb),
            (Engine::Athena, insight.files.athena),
        ] {
            out.push(Output {
                path,
                contents: file(insight, engine),
            });
        }
    }
    out
}

fn available(insight: &Insight, latest: &[&EventSchema]) -> bool {
    let schema = |event_type: &str| latest.iter().find(|s| s.event_type == event_type);
    insight.needs.iter().all(|need| match *need {
        Need::EventType(t) => schema(t).is_some(),
        Need::Property(t, name, ty) => schema(t).is_some_and(|s| {
            s.root
                .properties
                .iter()
                .any(|(n, node)| n == name && node.types.contains(&ty))
        }),
    })
}

fn file(insight: &Insight, engine: Engine) -> String {
    let mut out =
        String::from("-- Generated by `driftless codegen` from schema/. Do not edit.\n--\n");
    comment(&mut out, &format!("{}: {}", insight.name, insight.answers));
    if !insight.notes.is_empty() {
        out.push_str("--\n");
        comment(&mut out, insight.notes);
    }
    out.push_str("--\n");
    let (engine_name, own) = match engine {
        Engine::DuckDb => ("duckdb", insight.files.duckdb),
        Engine::Athena => ("athena", insight.files.athena),
    };
    let reads: Vec<String> = insight
        .reads
        .iter()
        .map(|r| source(r, engine_name))
        .collect();
    comment(&mut out, &format!("Reads: {}.", reads.join(", ")));
    if !insight.params.is_empty() {
        out.push_str("-- Parameters:\n");
        for p in insight.params {
            let _ = writeln!(out, "--   {:<15} {:<8} {}", p.name, p.sql_type, p.doc);
        }
        match engine {
            Engine::DuckDb => {
                let sets: Vec<String> = insight
                    .params
                    .iter()
                    .map(|p| format!("SET VARIABLE {} = {};", p.name, p.example))
                    .collect();
                comment(
                    &mut out,
                    &format!("Run: {} then .read {own}", sets.join(" ")),
                );
            }
            Engine::Athena => {
                let values: Vec<&str> = insight.params.iter().map(|p| p.example).collect();
                comment(
                    &mut out,
                    &format!(
                        "Run: with these as the query's parameters (ExecutionParameters), in this \
                         order: {}",
                        values.join(", ")
                    ),
                );
            }
        }
    }
    if insight.kind == Kind::View {
        comment(
            &mut out,
            &format!("Run once; then read the view `{}`.", insight.name),
        );
    }
    out.push_str("-- Columns:\n");
    for (name, doc) in insight.columns {
        if doc.is_empty() {
            let _ = writeln!(out, "--   {name}");
        } else {
            let _ = writeln!(out, "--   {name}: {doc}");
        }
    }
    out.push('\n');
    out.push_str(&params::render(
        engine,
        &(insight.sql)(engine),
        insight.params,
    ));
    out.push_str(";\n");
    out
}

/// Where a relation an insight reads comes from.
fn source(relation: &str, engine: &str) -> String {
    match relation {
        "events" | "quarantine" => format!("{relation} (the lake table)"),
        other => match INSIGHTS.iter().find(|i| i.name == other) {
            Some(_) => format!("{other} (queries/{engine}/insights/{other}.sql)"),
            None => format!("{other} (queries/{engine}/views.sql)"),
        },
    }
}

/// Writes `text` as `-- ` comment lines of at most 99 characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("--");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 99 && line.len() > 2 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("--  ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_insight_has_a_unique_name_and_documents_its_columns() {
        for (i, a) in INSIGHTS.iter().enumerate() {
            assert!(!a.columns.is_empty(), "{} documents no columns", a.name);
            assert!(
                !a.reads.is_empty(),
                "{} says nothing of what it reads",
                a.name
            );
            assert!(
                INSIGHTS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }

    #[test]
    fn a_view_is_created_after_the_views_it_reads() {
        for (i, insight) in INSIGHTS.iter().enumerate() {
            for read in insight.reads {
                if let Some(j) = INSIGHTS.iter().position(|o| o.name == *read) {
                    assert!(j < i, "{} reads {read}, which comes later", insight.name);
                    assert_eq!(INSIGHTS[j].kind, Kind::View);
                }
            }
        }
    }

    #[test]
    fn no_parameter_is_left_unrendered() {
        for insight in INSIGHTS {
            for engine in [Engine::DuckDb, Engine::Athena] {
                let sql = params::render(engine, &(insight.sql)(engine), insight.params);
                for (at, _) in sql.match_indices('$') {
                    assert!(
                        sql[at + 1..].starts_with('.'),
                        "{}: a $ outside a JSON path at {at}",
                        insight.name
                    );
                }
            }
        }
    }

    #[test]
    fn comments_wrap_at_99_characters() {
        let mut out = String::new();
        comment(&mut out, &"word ".repeat(60));
        assert!(out.lines().all(|l| l.len() <= 99 && l.starts_with("--")));
        assert_eq!(out.split_whitespace().filter(|w| *w == "word").count(), 60);
    }
}
