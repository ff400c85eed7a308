//! Who the events are from: identity stitching, sessions, active users and retention cohorts.

use super::dialect::Engine;
use super::filters::{event_days, HUMANS};

/// One row per `anonymous_id` that ever carried a `user_id` in a human event: the user it belongs
/// to (the one it carried last), and when it was first and last seen as that user.
pub fn identities(_: Engine) -> String {
    format!(
        "CREATE OR REPLACE VIEW identities AS
WITH links AS (
  SELECT anonymous_id, user_id, min(\"timestamp\") AS first_seen, max(\"timestamp\") AS last_seen
  FROM events
  WHERE user_id IS NOT NULL AND {HUMANS}
  GROUP BY anonymous_id, user_id
)
SELECT
  anonymous_id,
  max_by(user_id, last_seen) AS user_id,
  max_by(first_seen, last_seen) AS first_seen,
  max(last_seen) AS last_seen,
  count(*) AS user_ids
FROM links
GROUP BY anonymous_id"
    )
}

/// Every human event with the person it belongs to: the person-level insights (sessions, active
/// users, retention, funnel) read this view, so none of them counts bots.
pub fn events_stitched(_: Engine) -> String {
    format!(
        "CREATE OR REPLACE VIEW events_stitched AS
SELECT e.*, coalesce(e.user_id, i.user_id, e.anonymous_id) AS person_id
FROM events AS e
LEFT JOIN identities AS i ON i.anonymous_id = e.anonymous_id
WHERE e.{HUMANS}"
    )
}

/// One row per SDK session.
pub fn sessions(e: Engine) -> String {
    format!(
        "CREATE OR REPLACE VIEW sessions AS
SELECT
  session_id,
  min(anonymous_id) AS anonymous_id,
  max_by(person_id, \"timestamp\") AS person_id,
  min(\"timestamp\") AS started_at,
  max(\"timestamp\") AS ended_at,
  {duration} / 1000E0 AS duration_seconds,
  count(*) AS events,
  count_if(event_type = 'page_viewed') AS page_views,
  min_by(page_url, \"timestamp\") FILTER (WHERE page_url IS NOT NULL) AS entry_page,
  max_by(page_url, \"timestamp\") FILTER (WHERE page_url IS NOT NULL) AS exit_page,
  min_by(page_referrer, \"timestamp\") FILTER (WHERE page_url IS NOT NULL) AS referrer,
  {started_on} AS started_on
FROM events_stitched
WHERE session_id IS NOT NULL
GROUP BY session_id",
        duration = e.millis_between("min(\"timestamp\")", "max(\"timestamp\")"),
        started_on = e.utc_day("min(\"timestamp\")"),
    )
}

/// Human events per event day and type.
pub fn events_per_day(e: Engine) -> String {
    format!(
        "SELECT
  {day} AS day,
  event_type,
  count(*) AS events
FROM events
WHERE {range}
  AND {HUMANS}
GROUP BY 1, 2
ORDER BY day, events DESC, event_type",
        day = e.utc_day("\"timestamp\""),
        range = event_days(e, 0)
    )
}

/// Daily, weekly (7 days) and monthly (30 days) active persons, each day of the range.
pub fn active_users(e: Engine) -> String {
    let ends = |days: i32| {
        format!(
            "CASE WHEN next_day IS NULL OR next_day > {until} THEN {until} ELSE next_day END",
            until = e.add_days("day", days)
        )
    };
    format!(
        "WITH person_days {materialized} (
  SELECT DISTINCT person_id, {day} AS day
  FROM events_stitched
  WHERE {range}
),
-- A person active on `day` is counted in the rolling windows of the days that follow, until the
-- window has passed or their next active day takes over: one interval per active day, so each
-- person counts once per day however often they came back.
spans AS (
  SELECT day, lead(day) OVER (PARTITION BY person_id ORDER BY day) AS next_day
  FROM person_days
),
changes AS (
  SELECT day AS changed_on, 1 AS weekly, 1 AS monthly FROM spans
  UNION ALL
  SELECT {weekly_end}, -1, 0 FROM spans
  UNION ALL
  SELECT {monthly_end}, 0, -1 FROM spans
),
changes_per_day AS (
  SELECT changed_on, sum(weekly) AS weekly, sum(monthly) AS monthly
  FROM changes
  GROUP BY changed_on
),
calendar AS (
  SELECT CAST(day AS DATE) AS day FROM UNNEST({series}) AS t(day)
),
rolling AS (
  SELECT c.day, sum(x.weekly) AS weekly, sum(x.monthly) AS monthly
  FROM calendar AS c
  JOIN changes_per_day AS x ON x.changed_on <= c.day
  GROUP BY c.day
),
daily AS (
  SELECT day, count(*) AS persons FROM person_days GROUP BY day
)
SELECT
  c.day,
  coalesce(d.persons, 0) AS daily_active_users,
  coalesce(r.weekly, 0) AS weekly_active_users,
  coalesce(r.monthly, 0) AS monthly_active_users
FROM calendar AS c
LEFT JOIN daily AS d ON d.day = c.day
LEFT JOIN rolling AS r ON r.day = c.day
ORDER BY c.day",
        materialized = e.materialized(),
        day = e.utc_day("\"timestamp\""),
        range = event_days(e, 29),
        weekly_end = ends(7),
        monthly_end = ends(30),
        series = e.day_series("$from_day", "$to_day"),
    )
}

/// Weekly retention cohorts: of the persons first seen in a week, how many were active in each
/// later week.
pub fn retention(e: Engine) -> String {
    format!(
        "WITH person_weeks {materialized} (
  SELECT DISTINCT person_id, date_trunc('week', {day}) AS week
  FROM events_stitched
  WHERE dt <= CAST({to_next} AS VARCHAR) AND {day} <= $to_day
),
cohorts AS (
  SELECT person_id, min(week) AS cohort_week
  FROM person_weeks
  GROUP BY person_id
),
sizes AS (
  SELECT cohort_week, count(*) AS persons
  FROM cohorts
  WHERE cohort_week BETWEEN date_trunc('week', $from_day) AND $to_day
  GROUP BY cohort_week
),
active AS (
  SELECT c.cohort_week, w.week, count(*) AS persons
  FROM cohorts AS c
  JOIN person_weeks AS w ON w.person_id = c.person_id
  GROUP BY c.cohort_week, w.week
),
weeks AS (
  SELECT DISTINCT week FROM person_weeks
)
SELECT
  s.cohort_week,
  s.persons AS cohort_persons,
  CAST(date_diff('day', s.cohort_week, w.week) / 7 AS BIGINT) AS week_number,
  coalesce(a.persons, 0) AS active_persons,
  round(100 * CAST(coalesce(a.persons, 0) AS DOUBLE) / s.persons, 2) AS retained_percent
FROM sizes AS s
JOIN weeks AS w ON w.week >= s.cohort_week
LEFT JOIN active AS a ON a.cohort_week = s.cohort_week AND a.week = w.week
ORDER BY s.cohort_week, week_number",
        materialized = e.materialized(),
        day = e.utc_day("\"timestamp\""),
        to_next = e.add_days("$to_day", 1),
    )
}
