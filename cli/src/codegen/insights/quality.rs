//! Data quality: what was accepted and what quarantined, delivery completeness, arrival lag, the
//! share of bots. These read arrival days (`dt`): they describe what the pipeline received each
//! day, bots included (the other insights count humans only).

use super::dialect::Engine;
use super::filters::arrival_days;

/// Accepted and quarantined events per event type and verdict (`accepted` or the quarantine
/// reason). The quarantine keeps every copy of a retried batch; an `event_id` counts once.
pub fn verdicts(_: Engine) -> String {
    format!(
        "WITH accepted AS (
  SELECT event_type, 'accepted' AS verdict, count(*) AS events
  FROM events
  WHERE {range}
  GROUP BY event_type
),
quarantined AS (
  SELECT
    coalesce(event_type, '(unreadable)') AS event_type,
    reason AS verdict,
    count(DISTINCT event_id) + count_if(event_id IS NULL) AS events
  FROM quarantine
  WHERE {range}
  GROUP BY 1, 2
),
verdicts AS (
  SELECT * FROM accepted
  UNION ALL
  SELECT * FROM quarantined
)
SELECT
  event_type,
  verdict,
  events,
  round(100 * CAST(events AS DOUBLE) / sum(events) OVER (PARTITION BY event_type), 2) AS percent_of_type
FROM verdicts
ORDER BY event_type, verdict <> 'accepted', events DESC, verdict",
        range = arrival_days()
    )
}

/// Delivery completeness per arrival day: of the events each browser numbered (`seq`, from its
/// lowest to its highest that day), how many arrived, accepted or quarantined.
///
/// The lake holds one row per accepted event, so accepted rows are counted as they are (a
/// distinct count per browser would cost several times the whole query); the quarantine keeps
/// the copies a retry sent, so its numbers are made distinct first.
pub fn completeness(e: Engine) -> String {
    format!(
        "WITH delivered AS (
  SELECT dt, anonymous_id, seq
  FROM events
  WHERE {range} AND seq IS NOT NULL
  UNION ALL
  SELECT DISTINCT dt, {anonymous_id}, TRY_CAST({seq} AS BIGINT)
  FROM quarantine
  WHERE {range} AND raw IS NOT NULL
),
per_browser AS (
  SELECT dt, count(*) AS received, max(seq) - min(seq) + 1 AS expected
  FROM delivered
  WHERE anonymous_id IS NOT NULL AND seq IS NOT NULL
  GROUP BY dt, anonymous_id
)
SELECT
  dt AS day,
  sum(least(received, expected)) AS received_events,
  sum(expected) AS expected_events,
  round(100 * CAST(sum(least(received, expected)) AS DOUBLE) / sum(expected), 2) AS completeness_percent
FROM per_browser
GROUP BY dt
ORDER BY dt",
        range = arrival_days(),
        anonymous_id = e.json_text("raw", "$.anonymous_id"),
        seq = e.json_text("raw", "$.seq"),
    )
}

/// Arrival lag per arrival day: how long events took from happening to reaching the pipeline.
pub fn freshness(e: Engine) -> String {
    let lag = format!(
        "{} / 1000E0",
        e.millis_between("\"timestamp\"", "received_at")
    );
    format!(
        "WITH lags AS (
  SELECT
    dt,
    count(*) AS events,
    {quantiles} AS quantiles,
    max({lag}) AS lag_max_seconds,
    count_if({lag} > 3600) AS later_than_an_hour,
    max(received_at) AS last_received_at
  FROM events
  WHERE {range}
  GROUP BY dt
)
SELECT
  dt AS day,
  events,
  quantiles[1] AS lag_p50_seconds,
  quantiles[2] AS lag_p95_seconds,
  quantiles[3] AS lag_p99_seconds,
  lag_max_seconds,
  later_than_an_hour,
  last_received_at
FROM lags
ORDER BY dt",
        quantiles = e.percentiles(&lag, &["0.5", "0.95", "0.99"]),
        range = arrival_days(),
    )
}

/// Accepted events flagged as bots per arrival day: a row per day (`bot_reason` NULL, all bots)
/// and one per day and reason. A row from before ingest flagged bots (`is_bot` NULL) is human.
pub fn bots(e: Engine) -> String {
    format!(
        "WITH verdicts {materialized} (
  SELECT dt, is_bot IS TRUE AS bot, bot_reason, count(*) AS events
  FROM events
  WHERE {range}
  GROUP BY 1, 2, 3
),
days AS (
  SELECT dt, sum(events) AS events, sum(CASE WHEN bot THEN events ELSE 0 END) AS bot_events
  FROM verdicts
  GROUP BY dt
),
reasons AS (
  SELECT dt, coalesce(bot_reason, '(none)') AS bot_reason, sum(events) AS bot_events
  FROM verdicts
  WHERE bot
  GROUP BY 1, 2
),
shares AS (
  SELECT dt, CAST(NULL AS VARCHAR) AS bot_reason, events, bot_events FROM days
  UNION ALL
  SELECT r.dt, r.bot_reason, d.events, r.bot_events FROM reasons AS r JOIN days AS d ON d.dt = r.dt
)
SELECT
  dt AS day,
  bot_reason,
  events,
  bot_events,
  round(100 * CAST(bot_events AS DOUBLE) / events, 2) AS bot_percent
FROM shares
ORDER BY dt, bot_reason NULLS FIRST",
        materialized = e.materialized(),
        range = arrival_days(),
    )
}
