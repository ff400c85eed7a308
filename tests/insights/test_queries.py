"""Every insight query, in DuckDB over the Delta tables of lake_fixture.py, returns exactly the
answers worked out by hand from the fixture's story (see its docstring)."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import insights
import pytest
from lake_fixture import at

RANGE = {"from_day": "2026-11-02", "to_day": "2026-11-22"}
FULL_FUNNEL = "page_viewed,product_viewed,cart_item_added,checkout_completed"
TWO_DAYS = 2 * 86_400


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: str | int) -> list[tuple]:
    return [tuple(r.values()) for r in insights.run(con, name, **(RANGE | params))]


def nov(day: int) -> date:
    return date(2026, 11, day)


def test_a_browser_belongs_to_the_last_user_it_carried_with_first_and_last_seen(con):
    assert con.execute("SELECT * FROM identities ORDER BY anonymous_id").fetchall() == [
        ("a-laptop", "u-ana", at(2, "10:02:00"), at(2, "10:02:00"), 1),
        ("a-phone", "u-ana", at(3, "09:01:00"), at(10, "12:00:00"), 1),
        # The shared browser: Gus first, Hal last.
        ("g-1", "u-hal", at(18, "19:00:00"), at(18, "19:00:00"), 2),
    ]


def test_a_user_on_two_devices_is_one_person_with_their_anonymous_events(con):
    persons = con.execute("SELECT person_id, count(*) FROM events_stitched GROUP BY 1 ORDER BY 1").fetchall()
    assert persons == [("b-1", 4), ("c-1", 4), ("d-1", 3), ("e-1", 6), ("f-1", 1),
                       ("u-ana", 8), ("u-gus", 1), ("u-hal", 2)]
    before_sign_up = con.execute(
        "SELECT person_id FROM events_stitched WHERE event_id IN ('e-01', 'e-05', 'e-29') ORDER BY event_id").fetchall()
    assert before_sign_up == [("u-ana",), ("u-ana",), ("u-hal",)]
    # An event that carries its own user_id keeps it, even on a browser stitched to someone else.
    assert con.execute("SELECT person_id FROM events_stitched WHERE event_id = 'e-27'").fetchone() == ("u-gus",)


def test_sessions_have_their_duration_pages_entry_exit_and_referrer(con):
    home, shop = "https://shop.example/", "https://shop.example"
    assert con.execute("SELECT * FROM sessions ORDER BY session_id").fetchall() == [
        ("s-ana-1", "a-laptop", "u-ana", at(2, "10:00:00"), at(2, "10:02:00"), 120.0, 4, 1,
         home, f"{shop}/account/signup", "https://search.example/", nov(2)),
        ("s-ana-2", "a-phone", "u-ana", at(3, "09:00:00"), at(3, "09:02:00"), 120.0, 3, 2,
         f"{shop}/cart", f"{shop}/checkout", None, nov(3)),
        ("s-ana-3", "a-phone", "u-ana", at(10, "12:00:00"), at(10, "12:00:00"), 0.0, 1, 1, home, home, None, nov(10)),
        ("s-ben-1", "b-1", "b-1", at(2, "11:00:00"), at(2, "11:05:00"), 300.0, 3, 2,
         home, f"{shop}/p/socks", "https://news.example/", nov(2)),
        ("s-ben-2", "b-1", "b-1", at(17, "08:00:00"), at(17, "08:00:00"), 0.0, 1, 1, home, home, None, nov(17)),
        ("s-cara-1", "c-1", "c-1", at(4, "23:58:00"), at(4, "23:59:59"), 119.0, 3, 1,
         home, f"{shop}/p/tent", None, nov(4)),
        ("s-cara-2", "c-1", "c-1", at(8, "10:00:00"), at(8, "10:00:00"), 0.0, 1, 0,
         f"{shop}/checkout", f"{shop}/checkout", None, nov(8)),
        ("s-dan-1", "d-1", "d-1", at(5, "09:00:00"), at(5, "09:02:00"), 120.0, 3, 1, home, f"{shop}/p/tent", None, nov(5)),
        ("s-eve-1", "e-1", "e-1", at(9, "14:00:00"), at(9, "14:01:10"), 70.0, 5, 1, home, f"{shop}/checkout", None, nov(9)),
        ("s-eve-2", "e-1", "e-1", at(16, "10:00:00"), at(16, "10:00:00"), 0.0, 1, 1, home, home, None, nov(16)),
        ("s-fay-1", "f-1", "f-1", at(9, "15:00:00"), at(9, "15:00:00"), 0.0, 1, 1, home, home, None, nov(9)),
        ("s-g-1", "g-1", "u-gus", at(16, "18:00:00"), at(16, "18:00:00"), 0.0, 1, 1, home, home, None, nov(16)),
        ("s-g-2", "g-1", "u-hal", at(18, "19:00:00"), at(18, "19:05:00"), 300.0, 2, 2, home, f"{shop}/account", None, nov(18)),
    ]


def test_events_per_day_count_by_event_day_even_when_they_arrived_the_next_day(con):
    pv, pr, ca, su, co = "page_viewed", "product_viewed", "cart_item_added", "signed_up", "checkout_completed"
    assert rows(con, "events_per_day") == [
        (nov(2), pv, 3), (nov(2), pr, 2), (nov(2), ca, 1), (nov(2), su, 1),
        (nov(3), pv, 2), (nov(3), co, 1),
        # Cara's cart event of 23:59:59 arrived on the 5th: it is counted on the 4th.
        (nov(4), ca, 1), (nov(4), pv, 1), (nov(4), pr, 1),
        (nov(5), ca, 1), (nov(5), pv, 1), (nov(5), pr, 1),
        (nov(8), co, 1),
        (nov(9), co, 2), (nov(9), pv, 2), (nov(9), ca, 1), (nov(9), pr, 1),
        (nov(10), pv, 1), (nov(16), pv, 2), (nov(17), pv, 1), (nov(18), pv, 2),
    ]


def test_active_users_are_distinct_persons_per_day_and_rolling_week_and_month(con):
    daily = {2: 2, 3: 1, 4: 1, 5: 1, 8: 1, 9: 2, 10: 1, 16: 2, 17: 1, 18: 1}
    weekly = {2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 4, 8: 4, 9: 5, 10: 5, 11: 5, 12: 4, 13: 4, 14: 4, 15: 3,
              16: 3, 17: 3, 18: 4, 19: 4, 20: 4, 21: 4, 22: 4}
    monthly = {2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 4, 8: 4, **dict.fromkeys(range(9, 16), 6), 16: 7, 17: 7,
               **dict.fromkeys(range(18, 23), 8)}
    assert rows(con, "active_users") == [(nov(d), daily.get(d, 0), weekly[d], monthly[d]) for d in range(2, 23)]


def test_the_funnel_counts_persons_across_devices_and_drops_off_where_expected(con):
    # Ana (across devices) and Eve buy; Cara buys outside the window; Ben and Dan (cart before
    # product) stop at the product; Fay, Gus and Hal only view pages.
    assert rows(con, "funnel", steps=FULL_FUNNEL, window_seconds=TWO_DAYS) == [
        (1, "page_viewed", 8, 100.0, None, 0.0),
        (2, "product_viewed", 5, 62.5, 62.5, 30.0),
        (3, "cart_item_added", 3, 37.5, 60.0, 60.0),
        (4, "checkout_completed", 2, 25.0, 66.67, 60.0),
    ]


def test_a_longer_window_lets_a_later_purchase_convert(con):
    assert rows(con, "funnel", steps="product_viewed, checkout_completed", window_seconds=7 * 86_400) == [
        (1, "product_viewed", 5, 100.0, None, 0.0),
        # Ana after 23h01m30s, Cara after 3 days, Eve after 50 s.
        (2, "checkout_completed", 3, 60.0, 60.0, 82_890.0),
    ]


def test_a_step_repeating_the_one_before_needs_a_later_event(con):
    # A second page view within a day of the first: Ana (on her phone), Ben and Hal.
    assert rows(con, "funnel", steps="page_viewed,page_viewed", window_seconds=86_400) == [
        (1, "page_viewed", 8, 100.0, None, 0.0),
        (2, "page_viewed", 3, 37.5, 37.5, 300.0),
    ]


@pytest.mark.parametrize(("steps", "message"), [
    (",".join(["page_viewed"] * 9), "a funnel has at most 8 steps"),
    ("page_viewed,,product_viewed", "the steps parameter has an empty event type"),
])
def test_a_bad_steps_parameter_says_what_to_fix(con, steps, message):
    with pytest.raises(duckdb.InvalidInputException, match=message):
        rows(con, "funnel", steps=steps, window_seconds=60)


def test_a_missing_parameter_is_named_before_the_query_runs(con):
    with pytest.raises(TypeError, match=r"missing \['to_day'\]"):
        insights.run(con, "revenue", from_day="2026-11-02")


def test_the_day_range_reaches_the_delta_scan_as_a_partition_filter(con):
    for key, value in RANGE.items():
        con.execute(f"SET VARIABLE {key} = ?", [value])
    query = insights.sql("events_per_day").split("\n\n", 1)[1].rstrip().rstrip(";")
    plan = con.execute(f"EXPLAIN {query}").fetchall()[0][1]
    # The plan is drawn in boxes; without the frame and blanks the scan's filters read as one line.
    scan = re.sub(r"[│\s]", "", plan[plan.index("DELTA_SCAN"):])
    assert "dt>='2026-11-02'ANDdt<='2026-11-23'" in scan
    # The bots too are left out by the scan itself.
    assert "Filters:(is_botISDISTINCTFROMtrue)" in scan


def test_retention_cohorts_by_first_week_with_every_later_week(con):
    assert rows(con, "retention") == [
        # Ana, Ben, Cara, Dan; Ana came back in week 2 and Ben in week 3.
        (nov(2), 4, 0, 4, 100.0), (nov(2), 4, 1, 1, 25.0), (nov(2), 4, 2, 1, 25.0),
        # Eve and Fay; Eve came back.
        (nov(9), 2, 0, 2, 100.0), (nov(9), 2, 1, 1, 50.0),
        # Gus and Hal.
        (nov(16), 2, 0, 2, 100.0),
    ]


def test_revenue_counts_an_order_tracked_twice_once(con):
    assert rows(con, "revenue") == [
        (nov(3), "EUR", 1, 120.0, 120.0),
        (nov(8), "EUR", 1, 50.0, 50.0),
        (nov(9), "USD", 1, 30.5, 30.5),
    ]


def test_verdicts_per_event_type_count_a_retried_rejection_once(con):
    assert rows(con, "quality_verdicts") == [
        ("(unreadable)", "not_an_object", 1, 100.0),
        ("button_clicked", "unknown_event_type", 1, 100.0),
        ("cart_item_added", "accepted", 4, 100.0),
        ("checkout_completed", "accepted", 4, 100.0),
        # Bots included: the crawler's page and product views are accepted events.
        ("page_viewed", "accepted", 17, 100.0),
        ("product_viewed", "accepted", 6, 85.71),
        ("product_viewed", "properties", 1, 14.29),
        ("signed_up", "accepted", 1, 100.0),
    ]


def test_completeness_sees_the_lost_event_and_counts_quarantined_ones_as_delivered(con):
    assert rows(con, "quality_completeness") == [
        ("2026-11-02", 7, 8, 87.5),  # Ben's seq 3 never arrived
        ("2026-11-03", 5, 5, 100.0),  # Ana's seq 3 is in the quarantine, with f-2's only event
        ("2026-11-04", 2, 2, 100.0), ("2026-11-05", 4, 4, 100.0), ("2026-11-08", 1, 1, 100.0),
        # With the bots' events: the crawler's two on the 9th, the script's one on the 16th.
        ("2026-11-09", 8, 8, 100.0), ("2026-11-10", 1, 1, 100.0), ("2026-11-16", 3, 3, 100.0),
        ("2026-11-17", 1, 1, 100.0), ("2026-11-18", 2, 2, 100.0),
    ]


def test_freshness_shows_the_late_event_and_the_newest_arrival(con):
    def day(d: int, events: int, last: str) -> tuple:
        return (f"2026-11-{d:02d}", events, 2.0, 2.0, 2.0, 2.0, 0, at(d, last))

    assert rows(con, "quality_freshness") == [
        ("2026-11-02", 7, 2.0, 7200.0, 7200.0, 7200.0, 1, at(2, "13:05:00")),  # Ben's two-hour-late event
        day(3, 3, "09:02:02"), day(4, 2, "23:58:32"), day(5, 4, "09:02:02"), day(8, 1, "10:00:02"),
        day(9, 8, "15:00:02"), day(10, 1, "12:00:02"), day(16, 3, "18:00:02"), day(17, 1, "08:00:02"),
        day(18, 2, "19:05:02"),
    ]


def test_bot_share_per_arrival_day_and_rule_counts_rows_from_before_the_flag_as_humans(con):
    def human(day: int, events: int) -> tuple:
        return (f"2026-11-{day:02d}", None, events, 0, 0.0)

    assert rows(con, "quality_bots") == [
        # The 2nd and 3rd were written before ingest flagged bots: is_bot NULL, humans.
        human(2, 7), human(3, 3), human(4, 2), human(5, 4), human(8, 1),
        ("2026-11-09", None, 8, 2, 25.0), ("2026-11-09", "crawler_list", 8, 2, 25.0),
        human(10, 1),
        ("2026-11-16", None, 3, 1, 33.33), ("2026-11-16", "non_browser_agent", 3, 1, 33.33),
        human(17, 1), human(18, 2),
    ]


def test_no_person_level_insight_counts_a_bot(con):
    # The script carried Ana's user_id: it neither stitches its browser to her nor becomes anyone.
    assert con.execute("SELECT count(*) FROM identities WHERE anonymous_id = 'y-script'").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM events_stitched WHERE anonymous_id IN ('z-crawler', 'y-script')"
                       ).fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM sessions WHERE session_id LIKE 's-bot-%'").fetchone() == (0,)
    # The crawler's product view on the 9th is not among the day's events.
    assert ("product_viewed", 1) in [(r["event_type"], r["events"]) for r in
                                     insights.run(con, "events_per_day", from_day="2026-11-09", to_day="2026-11-09")]


def test_a_range_reads_only_its_days(con):
    one_day = {"from_day": "2026-11-09", "to_day": "2026-11-09"}
    assert [tuple(r.values()) for r in insights.run(con, "revenue", **one_day)] == [(nov(9), "USD", 1, 30.5, 30.5)]
    assert [r["day"] for r in insights.run(con, "active_users", **one_day)] == [nov(9)]
