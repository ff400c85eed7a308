//! The funnel: how many persons went through an ordered list of event types within a window.
//!
//! Step 1 is each person's first event of its type in the range; the later steps' candidate
//! events (those of persons who entered, inside their window) are gathered once. Then one CTE
//! per step joins the persons who reached the step before with the events of this step and
//! groups: set-based work both engines spread over their cores, where a sequence match per
//! person (a fold over each person's events: DuckDB's list_reduce ran 16 times slower on two
//! days of benchmark events) would go one person at a time.
//! The steps come from a parameter, so the query has a CTE for every step up to `MAX_STEPS`;
//! the ones past the funnel's length match no event.

use std::fmt::Write;

use super::dialect::Engine;
use super::filters::event_days;

/// The most steps a funnel can have.
pub const MAX_STEPS: usize = 8;

pub fn funnel(e: Engine) -> String {
    let mut out = format!(
        "WITH funnel_steps AS (
  SELECT
    step,
    CASE
      WHEN step > {MAX_STEPS} THEN {too_many}
      WHEN trim(event_type) = '' THEN {empty}
      ELSE trim(event_type)
    END AS event_type
  FROM UNNEST(split($steps, ',')) WITH ORDINALITY AS s(event_type, step)
),
-- A person enters the funnel with their first event of step 1 in the range.
step_1 {materialized} (
  SELECT ev.person_id, min(ev.\"timestamp\") AS entered_at, min(ev.\"timestamp\") AS reached_at,
    min(s.event_type) AS event_type
  FROM events_stitched AS ev
  JOIN funnel_steps AS s ON s.event_type = ev.event_type AND s.step = 1
  WHERE {range}
  GROUP BY ev.person_id
),
-- The events of the later steps that can count: those of persons who entered, from their entry
-- to the end of their window.
funnel_events {materialized} (
  SELECT ev.person_id, ev.\"timestamp\" AS reached_at, s.step, s.event_type
  FROM events_stitched AS ev
  JOIN funnel_steps AS s ON s.event_type = ev.event_type AND s.step > 1
  JOIN step_1 AS p ON p.person_id = ev.person_id
  WHERE {range}
    AND ev.\"timestamp\" >= p.entered_at
    AND {since_entry} <= $window_seconds * 1000
)",
        too_many = e.fail(&format!(
            "a funnel has at most {MAX_STEPS} steps: shorten the steps parameter"
        )),
        empty = e.fail(
            "the steps parameter has an empty event type: list event types separated by commas"
        ),
        materialized = e.materialized(),
        range = event_days(e, 0),
        since_entry = e.millis_between("p.entered_at", "ev.\"timestamp\""),
    );
    for step in 2..=MAX_STEPS {
        let before = step - 1;
        let _ = write!(
            out,
            ",
step_{step} AS (
  SELECT p.person_id, p.entered_at, min(f.reached_at) AS reached_at, min(f.event_type) AS event_type
  FROM step_{before} AS p
  JOIN funnel_events AS f ON f.person_id = p.person_id
  WHERE f.step = {step}
    AND (f.reached_at > p.reached_at OR (f.reached_at = p.reached_at AND f.event_type <> p.event_type))
  GROUP BY p.person_id, p.entered_at
)"
        );
    }
    out.push_str(",\nreached AS (\n");
    let arms: Vec<String> = (1..=MAX_STEPS)
        .map(|step| {
            format!(
                "  SELECT {step} AS step, count(*) AS persons, {median} AS median_seconds_from_entry FROM step_{step}",
                median = e.percentile(&format!("{} / 1000E0", e.millis_between("entered_at", "reached_at")), "0.5")
            )
        })
        .collect();
    out.push_str(&arms.join("\n  UNION ALL\n"));
    out.push_str(
        "
)
SELECT
  s.step,
  s.event_type,
  r.persons,
  round(100 * CAST(r.persons AS DOUBLE) / nullif(first_value(r.persons) OVER (ORDER BY s.step), 0), 2)
    AS percent_of_first,
  round(100 * CAST(r.persons AS DOUBLE) / nullif(lag(r.persons) OVER (ORDER BY s.step), 0), 2)
    AS percent_of_previous,
  r.median_seconds_from_entry
FROM funnel_steps AS s
JOIN reached AS r ON r.step = s.step
ORDER BY s.step",
    );
    out
}
