"""Trusted traffic (issue 12) through the real ingest function on the local stack, against the
contract of docs/wire-format.md: source keys (missing, unknown, disabled, rotated, a browser key
from an origin it does not allow), geography from the stack's test database with IpPolicy=drop,
and the user-agent fields and bot rules, read back from raw/.

The stack (scripts/stack.sh) configures the keys (conftest.py names them), the test GeoIP database
(tests/fixtures/geo/build_mmdb.py) and DRIFTLESS_CLIENT_IP_HEADER=cloudfront-viewer-address, so a
test poses as any client address."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest
from conftest import ENDPOINT, RETIRED_KEY, SERVER_KEY, SERVER_KEY_NEXT, SHOP_ORIGIN, WEB_KEY
from test_compaction import event
from test_stored_ip import raw_lines

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36"
CURL = "curl/8.5.0"


def send(events: list[dict], *, headers: dict[str, str] | None = None, body_key: str | None = None) -> tuple[int, dict]:
    """POST a batch as given (no key unless one is passed); the status and the JSON answer."""
    batch: dict = {"sent_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    if body_key is not None:
        batch["key"] = body_key
    batch["events"] = events
    req = urllib.request.Request(ENDPOINT, data=json.dumps(batch).encode(), method="POST",
                                 headers={"content-type": "text/plain", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def anon(name: str) -> str:
    return f"anon-traffic-{name}-" + event("x", 0)["event_id"]


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("case, headers, code", [
    ("missing", {}, "missing_key"),
    ("unknown", {"x-driftless-key": "dk_nobody_has_this"}, "unknown_key"),
    ("disabled", {"x-driftless-key": RETIRED_KEY}, "key_disabled"),
])
def test_a_batch_without_a_valid_key_is_401_and_nothing_is_stored(s3, case, headers, code):
    who = anon(case)
    status, answer = send([event(who, 0)], headers=headers)
    assert (status, answer["error"]["code"]) == (401, code), answer
    assert answer["error"]["message"]
    assert raw_lines(s3, "events", who) == [] and raw_lines(s3, "quarantine", who) == []


def test_two_keys_of_one_source_are_both_valid_while_it_rotates(s3):
    who = anon("rotated")
    for seq, key in enumerate((SERVER_KEY, SERVER_KEY_NEXT)):
        status, answer = send([event(who, seq)], headers={"x-driftless-key": key})
        assert (status, answer["accepted"]) == (200, 1), answer
    assert sorted((r["seq"], r["source"]) for r in raw_lines(s3, "events", who)) == [(0, "server"), (1, "server")]


def test_a_browser_key_is_refused_from_an_origin_it_does_not_allow(s3):
    who = anon("origin")
    for origin in ("https://evil.example", None):
        headers = {"x-driftless-key": WEB_KEY, **({"origin": origin} if origin else {})}
        status, answer = send([event(who, 0)], headers=headers)
        assert (status, answer["error"]["code"]) == (403, "origin_not_allowed"), (origin, answer)
    assert raw_lines(s3, "events", who) == []
    status, answer = send([event(who, 1)], body_key=WEB_KEY,
                          headers={"origin": SHOP_ORIGIN, "user-agent": CHROME, "accept-language": "de-DE"})
    assert (status, answer["accepted"]) == (200, 1), answer
    ((record,),) = [raw_lines(s3, "events", who)]
    assert record["source"] == "web"


def test_the_header_key_wins_over_the_body_key(s3):
    who = anon("header-wins")
    status, answer = send([event(who, 0)], headers={"x-driftless-key": SERVER_KEY}, body_key=RETIRED_KEY)
    assert status == 200, answer
    status, answer = send([event(who, 1)], headers={"x-driftless-key": RETIRED_KEY}, body_key=SERVER_KEY)
    assert (status, answer["error"]["code"]) == (401, "key_disabled")
    assert [r["seq"] for r in raw_lines(s3, "events", who)] == [0]


# --------------------------------------------------------------------------- geo


def test_an_ip_in_the_test_database_gives_its_country_and_region_and_no_ip_is_stored(s3):
    who = anon("geo")
    bad = event(who, 1, price="not a number")
    status, _ = send([event(who, 0), bad], headers={"x-driftless-key": SERVER_KEY,
                                                    "cloudfront-viewer-address": "203.0.113.7:50432"})
    assert status == 200
    (stored,) = raw_lines(s3, "events", who)
    assert (stored["geo_country"], stored["geo_region"]) == ("DE", "DE-BY")
    assert stored["ip"] is None, "IpPolicy=drop: geography is derived, the address is not kept"
    (quarantined,) = raw_lines(s3, "quarantine", who)
    assert quarantined["ip"] is None and quarantined["source"] == "server"


def test_an_ip_outside_the_database_has_no_geo_fields(s3):
    who = anon("no-geo")
    send([event(who, 0)], headers={"x-driftless-key": SERVER_KEY, "cloudfront-viewer-address": "8.8.8.8:443"})
    (stored,) = raw_lines(s3, "events", who)
    assert "geo_country" not in stored and "geo_region" not in stored


# --------------------------------------------------------------------------- user agent and bots


@pytest.mark.parametrize("name, ua, accept_language, expected", [
    ("chrome", CHROME, "de-DE,de;q=0.9", {"is_bot": False, "ua_browser": "Chrome", "ua_browser_version": "142",
                                          "ua_os": "Windows", "ua_device_type": "desktop"}),
    ("googlebot", GOOGLEBOT, None, {"is_bot": True, "bot_reason": "crawler_list"}),
    ("headless", HEADLESS, "en-US", {"is_bot": True, "bot_reason": "headless_browser"}),
    ("curl", CURL, None, {"is_bot": True, "bot_reason": "non_browser_agent"}),
    ("empty", "", None, {"is_bot": True, "bot_reason": "empty_user_agent"}),
    ("no-language", CHROME, None, {"is_bot": True, "bot_reason": "no_accept_language"}),
])
def test_a_browser_callers_user_agent_is_parsed_and_bots_are_flagged(s3, name, ua, accept_language, expected):
    who = anon(name)
    headers = {"origin": SHOP_ORIGIN, "user-agent": ua, **({"accept-language": accept_language} if accept_language else {})}
    status, answer = send([event(who, 0), event(who, 1)], body_key=WEB_KEY, headers=headers)
    assert (status, answer["accepted"]) == (200, 2), answer
    records = raw_lines(s3, "events", who)
    assert len(records) == 2
    for record in records:  # every event of a batch shares the request's parse
        assert {k: record.get(k) for k in expected} == expected, record
        if not expected["is_bot"]:
            assert "bot_reason" not in record


def test_a_server_caller_is_never_a_bot_and_gets_no_user_agent_fields(s3):
    who = anon("server-curl")
    status, _ = send([event(who, 0)], headers={"x-driftless-key": SERVER_KEY, "user-agent": CURL})
    assert status == 200
    (record,) = raw_lines(s3, "events", who)
    assert record["is_bot"] is False and "bot_reason" not in record
    assert not [k for k in record if k.startswith("ua_")]
