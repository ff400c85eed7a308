"""`make demo`: realistic web-shop traffic through the local stack, what landed in S3, then a
compaction run into the lake's Delta tables, DuckDB queries over them, and the insights report.

Simulated visitors browse, add to cart, sign up and buy; a few of their events are invalid (the
kind of drift a schema catches), some batches are sent twice (a retry after a lost response, as an
SDK does), and one batch is gzipped. Crawlers come too (Googlebot, a headless Chrome, curl): ingest
flags them `is_bot`, the typed views hide them and their `*_all` twins keep them. The visitors'
pages send the stack's web source key with the shop's origin, as the browser SDK does. Everything
goes over HTTP to the ingest function that
`cargo lambda watch` serves, which forwards to Firehose (moto), which writes to S3. Then the
compaction function (served the same way) runs as the 15-minute schedule would: today's arrivals
are appended to the Delta tables, and DuckDB reads them through its delta extension.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

import lake
import report

ENDPOINT = os.environ.get("DRIFTLESS_ENDPOINT", "http://127.0.0.1:9000/lambda-url/ingest/v1/batch")
INVOKE = ENDPOINT.split("/lambda-url/")[0] + "/2015-03-31/functions/ingest/invocations"
APIGW_EVENT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "events", "apigw-v2-batch.json")
BUCKET = os.environ.get("DRIFTLESS_BUCKET", "driftless-local")
S3_ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
VISITORS = int(os.environ.get("DEMO_VISITORS", "250"))
# moto accepts any credentials; these keep the demo runnable outside `make`.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
BATCH = 25
# The local stack's web key and the origin it allows (scripts/stack.sh).
WEB_KEY = os.environ.get("DRIFTLESS_WEB_KEY", "dk_local_web")
SHOP_ORIGIN = f"http://127.0.0.1:{os.environ.get('SHOP_PORT', '5173')}"
# What a visitor's browser sends besides the body (the key is in the body, as the SDK puts it).
BROWSER = {
    "origin": SHOP_ORIGIN,
    "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
    "accept-language": "de-DE,de;q=0.9,en;q=0.8",
}
# Crawlers that run the shop's pages, and what they send instead.
CRAWLERS = {
    "Googlebot": {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    "HeadlessChrome": {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
                       "accept-language": "en-US"},
    "curl": {"user-agent": "curl/8.5.0"},
}
CRAWLER_VISITS = int(os.environ.get("DEMO_CRAWLER_VISITS", "10"))

CATALOGUE = [(f"sku-{i:03d}", name, cat, price) for i, (name, cat, price) in enumerate([
    ("Trail runner", "shoes/running", 129.0), ("City sneaker", "shoes/casual", 89.9),
    ("Rain jacket", "apparel/outerwear", 149.5), ("Merino tee", "apparel/tops", 49.0),
    ("Day pack", "bags", 79.0), ("Water bottle", "accessories", 19.9),
    ("Wool socks", "apparel/socks", 14.5), ("Headlamp", "accessories", 39.0),
])]


def uuid7(ms: int) -> str:
    """A UUIDv7 as the SDK makes them: 48 bits of Unix milliseconds, then random bits."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | secrets.randbits(12) << 64 | 0b10 << 62 | secrets.randbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Visitor:
    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.anonymous_id = uuid7(int(now.timestamp() * 1000))
        self.session_id = uuid7(int(now.timestamp() * 1000))
        self.user_id = None
        self.seq = 0
        self.clock = now - timedelta(minutes=rng.randint(60, 180))
        # Some devices' clocks are minutes off; ingest corrects with sent_at.
        self.skew = timedelta(seconds=rng.choice([0, 0, 0, 0, 95, -240, 3600]))
        self.locale = rng.choice(["de-DE", "en-GB", "fr-FR", "en-US"])

    def event(self, event_type: str, properties: dict) -> dict:
        self.clock += timedelta(seconds=self.rng.uniform(2, 40))
        self.seq += 1
        product = properties.get("product_id", "")
        return {
            "event_id": uuid7(int(self.clock.timestamp() * 1000)),
            "event_type": event_type,
            "schema_version": "1-0-0",
            "timestamp": iso(self.clock + self.skew),
            "anonymous_id": self.anonymous_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "seq": self.seq,
            "context": {
                "page": {"url": f"https://shop.example/{product or ''}", "referrer": "https://www.search.example/", "title": "Driftless Outdoor"},
                "locale": self.locale,
                "timezone": "Europe/Berlin",
                "screen": {"width": self.rng.choice([390, 1440, 1920]), "height": self.rng.choice([844, 900, 1080])},
                "sdk": {"name": "driftless-js", "version": "0.1.0"},
            },
            "properties": properties,
        }

    def journey(self) -> list[dict]:
        rng, out = self.rng, []
        out.append(self.event("page_viewed", {"path": "/", "title": "Home", "category": "home"}))
        cart = []
        for _ in range(rng.randint(1, 8)):
            sku, name, cat, price = rng.choice(CATALOGUE)
            out.append(self.event("page_viewed", {"path": f"/p/{sku}", "title": name, "category": "product"}))
            out.append(self.event("product_viewed", {"product_id": sku, "name": name, "category": cat, "price": price, "currency": "EUR", "in_stock": rng.random() > 0.1}))
            if rng.random() < 0.35:
                qty = rng.randint(1, 3)
                cart.append((sku, qty, price))
                out.append(self.event("cart_item_added", {"cart_id": f"cart-{self.anonymous_id[:8]}", "product_id": sku, "quantity": qty, "price": price, "currency": "EUR"}))
        if cart and rng.random() < 0.6:
            if rng.random() < 0.5:
                out.append(self.event("signed_up", {"method": rng.choice(["email", "google", "apple"]), "plan": "free", "newsletter_opt_in": rng.random() < 0.3}))
                self.user_id = f"user-{secrets.token_hex(4)}"
            total = round(sum(q * p for _, q, p in cart), 2)
            out.append(self.event("checkout_completed", {
                "order_id": f"order-{secrets.token_hex(5)}", "total": total, "currency": "EUR",
                "items": [{"product_id": s, "quantity": q, "price": p} for s, q, p in cart],
                "shipping_method": rng.choice(["standard", "express", "pickup"]),
            }))
        return out


def drift(rng: random.Random, event: dict) -> dict:
    """The mistakes real tracking code makes, which the schema must catch."""
    e = json.loads(json.dumps(event))
    kind = rng.choice(["price_as_string", "unknown_event", "missing_required", "unknown_property", "bad_version"])
    if kind == "price_as_string" and "price" in e["properties"]:
        e["properties"]["price"] = str(e["properties"]["price"])
    elif kind == "unknown_event":
        e["event_type"] = "button_clicked"
    elif kind == "missing_required":
        e["properties"].pop(next(iter(e["properties"])))
    elif kind == "unknown_property":
        e["properties"]["colour"] = "teal"
    else:
        e["schema_version"] = "2-0-0"
    return e


def post(events: list[dict], client: dict[str, str] = BROWSER) -> dict:
    body = json.dumps({"sent_at": iso(datetime.now(timezone.utc)), "key": WEB_KEY, "events": events}).encode()
    headers = {"content-type": "text/plain;charset=UTF-8", "origin": SHOP_ORIGIN, **client}
    req = urllib.request.Request(ENDPOINT, data=body, headers=headers, method="POST")
    for _ in range(5):
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code not in (429, 503):
                raise SystemExit(f"ingest answered {e.code}: {e.read().decode()}")
            time.sleep(float(e.headers.get("Retry-After", "1")) * random.random())
    raise SystemExit("ingest kept answering 503")


def post_gzipped(events: list[dict]) -> dict:
    """A gzipped batch, as the API Gateway event that carries it (base64 body).

    cargo lambda's URL emulator reads every text/plain or JSON body as UTF-8 and answers 500 to a
    gzipped one before the function runs, so this batch goes through the emulator's Invoke API
    instead: the same runtime path and handler, with the event API Gateway sends for it.
    """
    body = gzip.compress(json.dumps({"sent_at": iso(datetime.now(timezone.utc)), "events": events}).encode())
    with open(APIGW_EVENT) as f:
        event = json.load(f)
    event["headers"].update({"content-encoding": "gzip", "content-length": str(len(body)), "x-driftless-key": WEB_KEY, **BROWSER})
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    req = urllib.request.Request(INVOKE, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    if answer.get("statusCode") != 200:
        raise SystemExit(f"ingest answered {answer.get('statusCode')} to the gzipped batch: {answer.get('body')}")
    return json.loads(answer["body"])


def read_stream(s3, prefix: str) -> tuple[int, list[dict]]:
    objects, lines = 0, []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            objects += 1
            data = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            lines += [json.loads(l) for l in data.splitlines() if l.strip()]
    return objects, lines


def main() -> None:
    rng = random.Random(int(os.environ.get("DEMO_SEED", "7")))
    now = datetime.now(timezone.utc)
    events = [e for _ in range(VISITORS) for e in Visitor(rng, now).journey()]
    events = [drift(rng, e) if rng.random() < 0.03 else e for e in events]
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]

    started = time.monotonic()
    accepted = rejected = retried = 0
    reasons: Counter[str] = Counter()
    for i, b in enumerate(batches):
        verdict = post_gzipped(b) if i == len(batches) // 2 else post(b)
        accepted += verdict["accepted"]
        rejected += len(verdict["rejected"])
        reasons.update(r["reason"] for r in verdict["rejected"])
        # A retry after a lost response: the same events, the same event_ids, sent again.
        if rng.random() < 0.05:
            post(b)
            retried += len(b)
    elapsed = time.monotonic() - started
    # Crawler visits: the same kind of pages, other clients. Their events are stored (nothing is
    # lost), flagged is_bot with the rule that matched.
    crawled: Counter[str] = Counter()
    for name, client in CRAWLERS.items():
        for _ in range(CRAWLER_VISITS):
            journey = Visitor(rng, now).journey()
            crawled[name] += post(journey, client)["accepted"]

    print(f"\nSent {len(events)} events from {VISITORS} visitors in {len(batches)} batches "
          f"({elapsed:.1f}s, {len(events) / elapsed:.0f} events/s over HTTP), one batch gzipped, "
          f"{retried} events sent twice as retries.")
    print(f"Ingest verdicts: {accepted} accepted, {rejected} rejected "
          f"({', '.join(f'{k} {v}' for k, v in reasons.most_common())}).")

    s3 = boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name=os.environ.get("AWS_REGION", "us-east-1"))
    ids = {e.get("event_id") for e in events}
    ev_objects, ev_lines = read_stream(s3, "raw/events/")
    q_objects, q_lines = read_stream(s3, "raw/quarantine/")
    mine = [l for l in ev_lines if l["event_id"] in ids]
    distinct = {l["event_id"] for l in mine}
    print(f"\ns3://{BUCKET}/raw/events/      {ev_objects:5d} objects, {len(ev_lines):6d} records in total; "
          f"this run: {len(mine)} records, {len(distinct)} distinct event_ids "
          f"({len(mine) - len(distinct)} duplicates from retries, removed by compaction)")
    q_mine = [q for q in q_lines if q.get("event_id") in ids]
    print(f"s3://{BUCKET}/raw/quarantine/  {q_objects:5d} objects, {len(q_lines):6d} records in total; this run: {len(q_mine)}")
    per_type = Counter(l["event_type"] for l in mine)
    print("\nAccepted records per event type: " + ", ".join(f"{k} {v}" for k, v in per_type.most_common()))
    if mine:
        print("\nA stored record (raw/events):")
        print(json.dumps(mine[-1], indent=2))
    if q_mine:
        print("\nA quarantined event, with what to fix (raw/quarantine):")
        q = q_mine[0]
        print(json.dumps({k: q[k] for k in ("received_at", "reason", "errors", "event_type", "event_id")}, indent=2))
    if len(distinct) != len({e["event_id"] for e in events}) - rejected:
        sys.exit("the distinct events that landed are not the accepted ones")
    print(f"\nCrawler traffic: {sum(crawled.values())} events accepted "
          f"({', '.join(f'{k} {v}' for k, v in crawled.items())}); as stored this run:")
    today = [l for l in ev_lines if l.get("received_at", "") >= iso(now)]
    flagged = Counter((l.get("is_bot"), l.get("bot_reason")) for l in today)
    for (is_bot, reason), n in flagged.most_common():
        print(f"  is_bot={is_bot!s:5s} bot_reason={reason or '-':18s} {n:6d}")
    query_lake(s3, now.strftime("%Y-%m-%d"), distinct)
    write_report()


def write_report() -> None:
    """The insights report over the whole lake: the page a product manager opens."""
    con = lake.duckdb_connect()
    lake.attach(con)
    state = Path(os.environ.get("DRIFTLESS_STATE", tempfile.gettempdir()))
    result = report.write_report(con, f"s3://{BUCKET}", state / "report.html", report.Options(cache=state / "rollups"))
    print(f"\nReport of {result.from_day} to {result.to_day} ({result.events} events): {result.path}")


def query_lake(s3, day: str, mine: set[str]) -> None:
    started = time.monotonic()
    answer = lake.invoke("compact", {"date": day})
    reports = {a["table"]: a for a in answer["appends"]}
    ev, q = reports["events"], reports["quarantine"]
    print(f"\nCompaction run {ev['run']} of today's arrivals ({day}), {time.monotonic() - started:.1f}s: "
          f"events {ev['outcome']} (table version {ev['version']}): {ev['objects_in']} raw objects, "
          f"{ev['events_in']} records in, {ev['duplicates_dropped']} duplicates dropped, "
          f"{ev['already_committed']} already in the lake, {ev['rows_out']} rows out in {ev['files_out']} file(s), "
          f"{ev['bytes_out']} bytes; quarantine {q['outcome']}: {q['rows_out']} rows.")
    if ev["completeness_percent"] is not None:
        print(f"Delivery completeness of this run (distinct seq per anonymous_id): {ev['completeness_percent']}% "
              f"({ev['received_events']} of {ev['expected_events']} expected events)")
    con = lake.duckdb_connect(S3_ENDPOINT)
    lake.attach(con)
    con.execute((Path(__file__).parent.parent / "queries" / "duckdb" / "views.sql").read_text())
    total, distinct = con.execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchone()
    print(f"\nDuckDB over the Delta table {lake.table_uri('events')}: {total} rows, {distinct} distinct "
          f"event_ids (every demo run so far).")
    print("Events per type today:")
    for t, n in con.execute("SELECT event_type, count(*) FROM events WHERE dt = ? GROUP BY 1 ORDER BY 2 DESC",
                            [day]).fetchall():
        print(f"  {t:18s} {n:6d}")
    con.execute("CREATE TEMP TABLE mine (event_id VARCHAR)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in mine])
    found = con.execute("SELECT count(DISTINCT event_id), count(*) FROM events JOIN mine USING (event_id)").fetchone()
    print(f"This run's accepted events in the lake: {found[0]} of {len(mine)}, {found[1] - found[0]} duplicates.")
    print("\nA few typed rows (the generated view product_viewed):")
    rows = con.execute(
        "SELECT \"timestamp\", anonymous_id, seq, page_url, product_id, price, currency "
        "FROM product_viewed ORDER BY \"timestamp\" DESC LIMIT 5").fetchall()
    for r in rows:
        print("  " + " | ".join(str(v) for v in r))
    revenue = con.execute("SELECT round(sum(total), 2), count(*) FROM checkout_completed WHERE dt = ?", [day]).fetchone()
    print(f"Revenue today (checkout_completed.total): {revenue[0]} from {revenue[1]} orders")
    if found != (len(mine), len(mine)):
        sys.exit("the lake does not hold this run's accepted events exactly once")
    bot_counts(con, day)


def bot_counts(con, day: str) -> None:
    """Each typed view hides bots; its `_all` twin keeps them (queries/duckdb/views.sql)."""
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    typed = sorted(v for v in views if f"{v}_all" in views)
    if not typed:
        print("\nThe views have no *_all twins yet (queries/duckdb/views.sql predates bot detection): "
              "no human/bot split to show.")
        return
    print(f"\nEvents today, humans (the typed view) and everything (its _all twin, bots included):")
    for view in typed:
        humans = con.execute(f'SELECT count(*) FROM "{view}" WHERE dt = ?', [day]).fetchone()[0]
        everything = con.execute(f'SELECT count(*) FROM "{view}_all" WHERE dt = ?', [day]).fetchone()[0]
        print(f"  {view:18s} {humans:6d} {everything:6d}   ({everything - humans} from bots)")


if __name__ == "__main__":
    main()
