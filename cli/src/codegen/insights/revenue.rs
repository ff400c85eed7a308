//! Revenue by day, from the typed view of the order event.

use super::dialect::Engine;
use super::filters::event_days;

/// The event type whose view the query reads, and the properties it needs, with their JSON types.
pub const ORDER_EVENT: &str = "checkout_completed";

/// Orders and revenue per event day and currency. An order tracked twice (a reload of the
/// confirmation page sends a second event with its own `event_id`) counts once, with its first
/// event's total.
pub fn revenue(e: Engine) -> String {
    format!(
        "WITH orders AS (
  SELECT
    coalesce(order_id, event_id) AS order_id,
    min(\"timestamp\") AS ordered_at,
    min_by(currency, \"timestamp\") AS currency,
    min_by(total, \"timestamp\") AS total
  FROM {ORDER_EVENT}
  WHERE {range}
  GROUP BY coalesce(order_id, event_id)
)
SELECT
  {day} AS day,
  currency,
  count(*) AS orders,
  round(sum(total), 2) AS revenue,
  round(avg(total), 2) AS average_order_value
FROM orders
GROUP BY 1, 2
ORDER BY day, currency",
        day = e.utc_day("ordered_at"),
        range = event_days(e, 0)
    )
}
