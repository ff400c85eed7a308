"""Compaction benchmark for `make bench`: our `driftless compact` against DuckDB on the same day.

1. Generates one arrival day of raw events the way Firehose writes them, on local disk:
   `<workdir>/raw/events/2026/11/27/HH/driftless-events-1-2026-11-27-HH-MM-SS-<uuid>.gz`, gzip
   NDJSON whose lines are byte for byte what the ingest function writes (`record::event::write` in
   shared/src/record/event.rs): web-shop sessions from the browser SDK with a daily traffic curve, client
   clock skew, batches of up to 20 events flushed every 5 s, and client retries. A retried batch is
   the same lines again with a later `sent_at` and `received_at` (the SDK sets `sent_at` anew on
   every send; the skew-corrected `timestamp` stays the same), sometimes in the same object, mostly
   in a later one. The day is cached: a second run with the same parameters reuses it.
2. Runs DuckDB (the peer, in its own process) doing the same job: read the gzip NDJSON, type the
   timestamps, flatten `context`, keep `properties` as JSON text, keep the first-received copy of
   each event_id, sort by event_type, timestamp, event_id and write zstd Parquet. Once with its
   defaults, and once with `memory_limit` set to our budget and a spill directory.
3. Runs ours, `driftless compact`, on a hard-linked copy of the raw day (it deletes its inputs).
4. Checks that both outputs hold the same events, one row per event_id, each the first received.
5. Prints time, throughput over the uncompressed input, output size and peak RSS (from
   `/usr/bin/time -v`), and the ratios ours/DuckDB.

    .venv/bin/python scripts/bench_compact.py [--size-mb 1024] [--runs 1] [--workdir DIR] [--ours BIN]

Speed and size are reported, never asserted; only wrong results (rows, ids) fail the run.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import json
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATE = "2026-11-27"
YEAR, MONTH, DAY = 2026, 11, 27
DAY_MS = calendar.timegm((YEAR, MONTH, DAY, 0, 0, 0)) * 1000
DAY_END_MS = DAY_MS + 86_400_000
STREAM = "driftless-events"
STREAM_VERSION = 1
# Bump when the generated data changes, so cached days are regenerated.
GENERATOR_VERSION = 1
# Work is split into this many independent parts whatever --jobs is, so a seed gives one day.
PARTS = 8
MIB = 1 << 20


# ====================================================================== generator: the catalogue

def js_number(x: float) -> str:
    """A number as JSON.stringify (and serde_json) writes it: 129 for 129.0, else the shortest form."""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def js(s: str) -> str:
    """A JSON string as serde_json writes it (UTF-8 kept, quotes and backslashes escaped)."""
    return json.dumps(s, ensure_ascii=False)


ADJECTIVES = ["Trail", "City", "Alpine", "Merino", "Ultralight", "Classic", "Rain", "Summit", "Coastal", "Urban",
              "Nordic", "Desert", "Storm", "Everyday", "Pro", "Café", "Größe", "Élan", "Comfort", "Rapid"]
NOUNS = {
    "shoes/running": ["runner", "racer", "trainer"], "shoes/hiking": ["boot", "mid", "approach shoe"],
    "shoes/casual": ["sneaker", "loafer", "slip-on"], "apparel/outerwear": ["jacket", "shell", "parka", "vest"],
    "apparel/tops": ["tee", "hoodie", "long sleeve", "polo"], "apparel/socks": ["socks", "liner socks"],
    "apparel/bottoms": ["shorts", "pants", "tights"], "bags": ["day pack", "duffel", "hip pack", "tote"],
    "accessories": ["water bottle", "headlamp", "cap", "beanie", "gloves"], "camping": ["tent", "sleeping bag", "stove", "mat"],
}
PRICES = [9.99, 12.5, 14.5, 19.9, 19.99, 24.0, 29.95, 34.9, 39.0, 49.0, 59.9, 64.5, 79.0, 89.9, 99.0, 119.0, 129.0,
          149.5, 179.0, 199.99, 249.0, 329.0]
REGIONS = [  # locale, timezone, currency, weight
    ("de-DE", "Europe/Berlin", "EUR", 24), ("en-US", "America/New_York", "USD", 14), ("en-GB", "Europe/London", "GBP", 12),
    ("fr-FR", "Europe/Paris", "EUR", 10), ("nl-NL", "Europe/Amsterdam", "EUR", 6), ("es-ES", "Europe/Madrid", "EUR", 6),
    ("it-IT", "Europe/Rome", "EUR", 5), ("en-US", "America/Los_Angeles", "USD", 6), ("pl-PL", "Europe/Warsaw", "PLN", 4),
    ("sv-SE", "Europe/Stockholm", "SEK", 3), ("de-AT", "Europe/Vienna", "EUR", 3), ("de-CH", "Europe/Zurich", "CHF", 3),
    ("ja-JP", "Asia/Tokyo", "JPY", 2), ("en-AU", "Australia/Sydney", "AUD", 2),
]
DEVICES = [  # weight, screens, user agents
    (45, [(1920, 1080), (1440, 900), (1536, 864), (2560, 1440), (1366, 768), (1280, 800)], [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ]),
    (50, [(390, 844), (393, 852), (412, 915), (360, 800), (375, 667), (430, 932), (384, 854)], [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    ]),
    (5, [(820, 1180), (768, 1024), (800, 1280)], [
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ]),
]
EXTERNAL_REFERRERS = ["", "", "", "https://www.google.com/", "https://www.google.com/", "https://www.google.de/",
                      "https://www.bing.com/", "https://duckduckgo.com/", "https://www.instagram.com/",
                      "https://l.facebook.com/", "https://newsletter.shop.example/2026-11-black-friday",
                      "https://www.reddit.com/r/ultralight/"]
CAMPAIGNS = ["?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday", "?utm_source=google&utm_medium=cpc",
             "?gclid=EAIaIQobChMI8aQ2", "?utm_source=instagram&utm_medium=social", "?ref=reddit"]
SEARCHES = ["?q=rain+jacket", "?q=merino", "?q=trail+runner&sort=price", '?q="day pack"', "?q=gr%C3%B6%C3%9Fe+44",
            "?q=headlamp&page=2", "?q=socks", "?q=tent+2p", "?q=waterproof", "?q=gift+card"]
# Traffic per UTC hour (a European shop with American evening visitors); sessions start this way.
HOURLY = [0.35, 0.25, 0.2, 0.18, 0.2, 0.3, 0.5, 0.75, 0.95, 1.05, 1.1, 1.15,
          1.2, 1.2, 1.15, 1.15, 1.2, 1.35, 1.55, 1.7, 1.75, 1.55, 1.1, 0.65]
HOST = "https://shop.example"


class Page:
    __slots__ = ("url", "title", "props", "kind", "product")

    def __init__(self, path: str, title: str, category: str | None, product=None, search: str = ""):
        self.url = js(HOST + path + search)
        self.title = js(title)
        props = '{"path":' + js(path) + ',"title":' + self.title
        if search:
            props += ',"search":' + js(search)
        if category:
            props += ',"category":"' + category + '"'
        self.props = props + "}"
        self.kind = category
        self.product = product


class Product:
    __slots__ = ("id", "price", "price_js", "head", "page")
    id: str
    price: float
    price_js: str
    head: str
    page: Page


def catalogue(seed: int):
    rng = random.Random(f"catalogue:{seed}")
    products = []
    for i in range(3000):
        cat = rng.choice(list(NOUNS))
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[cat])}"
        if rng.random() < 0.05:
            name += ' "Limited"'
        elif rng.random() < 0.3:
            name += f" {rng.randint(2, 9)}"
        p = Product()
        p.id = f"sku-{i:05d}"
        p.price = rng.choice(PRICES)
        p.price_js = js_number(p.price)
        full = rng.random() < 0.9
        p.head = '{"product_id":"' + p.id + '"' + (',"name":' + js(name) + ',"category":"' + cat + '"' if full else "")
        p.head += ',"price":' + p.price_js + ',"currency":"'
        p.page = Page(f"/p/{p.id}", f"{name} – Driftless Outdoor", "product", p)
        products.append(p)
    listings = [Page(f"/c/{cat}", f"{cat.split('/')[-1].capitalize()} | Driftless Outdoor", "listing") for cat in NOUNS]
    listings += [Page("/c/sale", "Sale – up to 40% off | Driftless Outdoor", "listing")]
    content = [Page(f"/journal/{slug}", f"{title} | Driftless Journal", "content") for slug, title in [
        ("layering-101", "Layering 101"), ("best-day-hikes-2026", "The best day hikes of 2026"),
        ("care-for-merino", "How to care for merino"), ("gift-guide", 'Gift guide: "for the one who has everything"')]]
    fixed = {
        "home": Page("/", "Driftless Outdoor – gear for every trail", "home"),
        "cart": Page("/cart", "Your cart | Driftless Outdoor", "cart"),
        "checkout": Page("/checkout", "Checkout | Driftless Outdoor", "checkout"),
        "signup": Page("/account/signup", "Create your account | Driftless Outdoor", "account"),
        "account": Page("/account", "Your account | Driftless Outdoor", "account"),
        "help": Page("/help/shipping", "Shipping & returns | Driftless Outdoor", "other"),
    }
    return products, listings, content, fixed


# ====================================================================== generator: the events

VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
MS3 = [f"{i:03d}" for i in range(1000)]
DAY_PREFIX = f"{YEAR:04d}-{MONTH:02d}-{DAY:02d}T"


def rfc3339(ms: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ`, as the ingest's write_rfc3339 and JavaScript's toISOString write it."""
    d = ms - DAY_MS
    if 0 <= d < 86_400_000:
        return DAY_PREFIX + HMS[d // 1000] + "." + MS3[d % 1000] + "Z"
    t = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + MS3[ms % 1000] + "Z"


def uuid7(ms: int, bits: int) -> str:
    """UUIDv7 text as the SDK makes it: 48 bits of milliseconds, version 7, 12 + 62 random bits."""
    h = "%012x" % ms
    r = "%019x" % bits
    return f"{h[:8]}-{h[8:]}-7{r[:3]}-{VARIANT[r[3]]}{r[4:7]}-{r[7:]}"


def session_events(rng: random.Random, cat, start: int, currency: str):
    """One visit: (true time, event_type, properties JSON, page, signed_up) per event, in order."""
    products, listings, content, fixed = cat
    out = []
    t = start
    page = None
    cart: list[tuple[Product, int]] = []
    signed = False
    cid = "cart_%016x" % rng.getrandbits(64)
    n = min(150, 1 + int(rng.expovariate(1 / 11)))
    landing = rng.random()
    if landing < 0.35:
        page = rng.choice(products).page
    elif landing < 0.6:
        page = fixed["home"]
    elif landing < 0.85:
        page = rng.choice(listings)
    else:
        page = rng.choice(content)
    search = ""
    if rng.random() < 0.2:
        search = rng.choice(CAMPAIGNS)
    out.append((t, "page_viewed", page_props(page, search), page, False))
    if page.product is not None:
        t += 40 + rng.randrange(400)
        out.append((t, "product_viewed", product_props(rng, page.product, currency), page, False))
    while len(out) < n:
        t += 300 + int(rng.expovariate(1 / 18_000))
        r = rng.random()
        if page.product is not None and r < 0.18:
            p = page.product
            q = 1 if rng.random() < 0.8 else rng.randint(2, 4)
            cart.append((p, q))
            out.append((t, "cart_item_added", '{"cart_id":"' + cid + '","product_id":"' + p.id
                        + '","quantity":' + str(q) + ',"price":' + p.price_js + ',"currency":"' + currency + '"}',
                        page, False))
            continue
        if cart and r < 0.3:
            # To the cart, maybe sign up, then buy.
            page = fixed["cart"]
            out.append((t, "page_viewed", page.props, page, False))
            if not signed and rng.random() < 0.25:
                t += 2000 + rng.randrange(20_000)
                page = fixed["signup"]
                out.append((t, "page_viewed", page.props, page, False))
                t += 15_000 + rng.randrange(60_000)
                out.append((t, "signed_up", signup_props(rng), page, True))
                signed = True
            if rng.random() < 0.55:
                t += 5000 + rng.randrange(60_000)
                page = fixed["checkout"]
                out.append((t, "page_viewed", page.props, page, False))
                t += 30_000 + rng.randrange(120_000)
                out.append((t, "checkout_completed", order_props(rng, cart, currency), page, False))
                cart = []
            continue
        if r < 0.62:
            page = rng.choice(products).page
            out.append((t, "page_viewed", page.props, page, False))
            t += 40 + rng.randrange(400)
            out.append((t, "product_viewed", product_props(rng, page.product, currency), page, False))
        elif r < 0.85:
            page = rng.choice(listings)
            s = rng.choice(SEARCHES) if rng.random() < 0.3 else ""
            out.append((t, "page_viewed", page_props(page, s), page, False))
        elif r < 0.93:
            page = rng.choice(content)
            out.append((t, "page_viewed", page.props, page, False))
        elif r < 0.97:
            page = fixed["home"]
            out.append((t, "page_viewed", page.props, page, False))
        elif not signed and r < 0.985:
            page = fixed["signup"]
            out.append((t, "page_viewed", page.props, page, False))
            t += 15_000 + rng.randrange(60_000)
            out.append((t, "signed_up", signup_props(rng), page, True))
            signed = True
        else:
            page = fixed["help"]
            out.append((t, "page_viewed", page.props, page, False))
    return out


def page_props(page: Page, search: str) -> str:
    if not search:
        return page.props
    # "search" goes after "title", as the tracking code builds the object.
    i = page.props.index(',"category"') if ',"category"' in page.props else len(page.props) - 1
    return page.props[:i] + ',"search":' + js(search) + page.props[i:]


def product_props(rng: random.Random, p: Product, currency: str) -> str:
    s = p.head + currency + '"'
    r = rng.random()
    if r < 0.85:
        s += ',"in_stock":true'
    elif r < 0.93:
        s += ',"in_stock":false'
    return s + "}"


def signup_props(rng: random.Random) -> str:
    s = '{"method":"' + rng.choice(("email", "email", "email", "google", "google", "apple", "github")) + '"'
    if rng.random() < 0.8:
        s += ',"plan":"' + rng.choice(("free", "free", "free", "pro", "team")) + '"'
    if rng.random() < 0.1:
        s += ',"referral_code":"FRIEND-%04X"' % rng.getrandbits(16)
    if rng.random() < 0.7:
        s += ',"newsletter_opt_in":' + ("true" if rng.random() < 0.4 else "false")
    return s + "}"


def order_props(rng: random.Random, cart, currency: str) -> str:
    total = round(sum(p.price * q for p, q in cart) + (4.95 if rng.random() < 0.4 else 0.0), 2)
    items = ",".join('{"product_id":"' + p.id + '","quantity":' + str(q) + ',"price":' + p.price_js + "}" for p, q in cart)
    s = '{"order_id":"ord-%09d","total":%s,"currency":"%s","items":[%s]' % (rng.randrange(10 ** 9), js_number(total), currency, items)
    if rng.random() < 0.15:
        s += ',"coupon":"' + rng.choice(("WELCOME10", "BLACKFRIDAY", "FREESHIP", "TRAIL15")) + '"'
    if rng.random() < 0.9:
        s += ',"shipping_method":"' + rng.choice(("standard", "standard", "standard", "express", "pickup")) + '"'
    return s + "}"


def retry_delay(rng: random.Random) -> int:
    """Milliseconds until a batch that was stored but answered 503 (or whose answer was lost) comes again."""
    if rng.random() < 0.25:
        return 500 + rng.randrange(30_000)  # backoff within the page visit
    # The page went away; the persisted queue sends it on the next visit: minutes to hours later.
    return int(math.exp(rng.uniform(math.log(900_000), math.log(8 * 3_600_000))))


def gen_part(task) -> dict:
    """Writes part `part`'s lines into per-hour temp files, each line prefixed by its 8-digit
    millisecond of the day (received_at), so the hours can be put in arrival order afterwards."""
    tmp, part, seed, budget, dup_rate = task
    rng = random.Random(f"events:{seed}:{part}")
    cat = catalogue(seed)
    files = [open(os.path.join(tmp, f"p{part:02d}-h{h:02d}.txt"), "w", encoding="utf-8", buffering=1 << 20) for h in range(24)]
    region_w = [r[3] for r in REGIONS]
    device_w = [d[0] for d in DEVICES]
    hours = list(range(24))
    # Each retried batch comes again once, one in ten twice: per batch, this makes dup_rate of all lines.
    p_retry = dup_rate / (1 - dup_rate) / 1.1
    written = lines = dups = sessions = lost = 0
    while written < budget:
        sessions += 1
        h = rng.choices(hours, HOURLY)[0]
        start = DAY_MS + h * 3_600_000 + rng.randrange(3_600_000)
        locale, tz, currency, _ = rng.choices(REGIONS, region_w)[0]
        _, screens, agents = rng.choices(DEVICES, device_w)[0]
        w, hgt = rng.choice(screens)
        ua = js(rng.choice(agents))
        r = rng.random()
        skew = int(rng.gauss(0, 400)) if r < 0.88 else rng.randint(-300_000, 300_000) if r < 0.98 else \
            rng.choice((-1, 1)) * rng.randint(3_600_000, 26 * 3_600_000)
        returning = rng.random() < 0.45
        anon = uuid7(start + skew - (rng.randrange(1, 90 * 86_400_000) if returning else 0), rng.getrandbits(76))
        user = '"usr_%07d"' % rng.randrange(10 ** 7) if returning and rng.random() < 0.35 else "null"
        sid = uuid7(start + skew, rng.getrandbits(76))
        seq = rng.randrange(5, 3000) if returning else 0
        r = rng.random()
        if r < 0.95:
            tail = (',"locale":"%s","timezone":"%s","screen":{"width":%d,"height":%d},"sdk":{"name":"driftless-js","version":"0.1.0"}}'
                    % (locale, tz, w, hgt))
            ctx_kind = 0
        elif r < 0.98:
            tail = ',"locale":"%s","sdk":{"name":"driftless-js","version":"0.1.0"}}' % locale
            ctx_kind = 1  # an older SDK build or a webview: no referrer, title, timezone or screen
        else:
            tail = ""
            ctx_kind = 2  # a server-side sender: no context at all
        mid_tail = '"anonymous_id":"' + anon + '","user_id":'
        ua_tail = ',"user_agent":' + ua + ',"ip":null}\n'
        ref = js(rng.choice(EXTERNAL_REFERRERS))
        prev_page = None
        events = session_events(rng, cat, start, currency)
        # The SDK's batches: a timer armed by the first queued event flushes after 5 s, or 20 events go at once.
        i = 0
        while i < len(events):
            first = events[i][0]
            j = i + 1
            while j < len(events) and j - i < 20 and events[j][0] < first + 5000:
                j += 1
            sent = events[j - 1][0] + 2 if j - i == 20 or j == len(events) and rng.random() < 0.3 else first + 5000 + rng.randrange(30)
            received = sent + 15 + int(rng.expovariate(1 / 90))
            if received >= DAY_END_MS:
                break  # arrives tomorrow, under the next day's prefix
            pres, posts = [], []
            for t, etype, props, page, signs_up in events[i:j]:
                eid = uuid7(t + skew, rng.getrandbits(76))
                pres.append('{"event_id":"' + eid + '","event_type":"' + etype + '","schema_version":"1-0-0","timestamp":"'
                            + rfc3339(t + received - sent) + '","client_timestamp":"' + rfc3339(t + skew) + '",')
                if ctx_kind == 0:
                    if page is not prev_page:
                        ctx = '{"page":{"url":' + page.url + ',"referrer":' + ref + ',"title":' + page.title + "}" + tail
                        ref = page.url
                        prev_page = page
                elif ctx_kind == 1:
                    ctx = '{"page":{"url":' + page.url + "}" + tail
                else:
                    ctx = None  # an event sent without context: the ingest stores no `context` key
                posts.append(mid_tail + user + ',"session_id":"' + sid + '","seq":' + str(seq)
                             + ('' if ctx is None else ',"context":' + ctx)
                             + ',"properties":' + props + ua_tail)
                seq += 1
                if signs_up:
                    user = '"usr_%07d"' % rng.randrange(10 ** 7)  # identify() after sign-up
            sends = [(sent, received)]
            # Retries that would arrive after midnight belong to tomorrow's raw day; more batches are
            # retried in their place, so that dup_rate holds for the day.
            if rng.random() < p_retry * (1 + lost / (dups + 1)):
                d = retry_delay(rng)
                sends.append((sent + d, received + d))
                if rng.random() < 0.1:
                    d += retry_delay(rng)
                    sends.append((sent + d, received + d))
            for n, (s, rcv) in enumerate(sends):
                if rcv >= DAY_END_MS:
                    lost += (len(sends) - n) * (j - i)
                    break
                mid = '"sent_at":"' + rfc3339(s + skew) + '","received_at":"' + rfc3339(rcv) + '",'
                key = "%08d" % (rcv - DAY_MS)
                chunk = "".join([key + pre + mid + post for pre, post in zip(pres, posts)])
                files[(rcv - DAY_MS) // 3_600_000].write(chunk)
                written += len(chunk) - 8 * (j - i)
                lines += j - i
                if n:
                    dups += j - i
            i = j
    for f in files:
        f.close()
    return {"lines": lines, "duplicates": dups, "sessions": sessions}


def pack_hour(task) -> dict:
    """Puts one hour's lines in arrival order and cuts them into Firehose objects: an object closes
    when its buffer holds `buffer_mb` or `buffer_secs` have passed since its first record."""
    tmp, out_dir, hour, seed, buffer_bytes, buffer_ms = task
    rng = random.Random(f"objects:{seed}:{hour}")
    lines: list[bytes] = []
    for part in range(PARTS):
        with open(os.path.join(tmp, f"p{part:02d}-h{hour:02d}.txt"), "rb") as f:
            lines.extend(f.read().splitlines(keepends=True))
    lines.sort(key=lambda l: l[:8])  # stable: a batch's lines stay together and in order
    hour_dir = os.path.join(out_dir, f"{hour:02d}")
    os.makedirs(hour_dir, exist_ok=True)
    objects: list[dict] = []
    seen: dict[bytes, int] = {}
    same = later = 0
    i = 0
    while i < len(lines):
        first_ms = int(lines[i][:8])
        size = 0
        buf: list[bytes] = []
        while i < len(lines):
            line = lines[i]
            if buf and (size + len(line) - 8 > buffer_bytes or int(line[:8]) - first_ms >= buffer_ms):
                break
            line = line[8:]
            buf.append(line)
            size += len(line)
            eid = line[13:49]  # after '{"event_id":"'
            k = seen.get(eid)
            if k is None:
                seen[eid] = len(objects)
            elif k == len(objects):
                same += 1
            else:
                later += 1
            i += 1
        data = b"".join(buf)
        t = first_ms // 1000
        name = "%s-%d-%s-%02d-%02d-%02d-%s.gz" % (STREAM, STREAM_VERSION, DATE, t // 3600, t // 60 % 60, t % 60,
                                                   uuid.UUID(int=rng.getrandbits(128), version=4))
        gz = gzip.compress(data, compresslevel=6, mtime=0)
        with open(os.path.join(hour_dir, name), "wb") as f:
            f.write(gz)
        objects.append({"name": f"{hour:02d}/{name}", "bytes": len(gz), "uncompressed": len(data), "lines": len(buf)})
    return {"hour": hour, "objects": objects, "dups_same_object": same, "dups_later_object_same_hour": later}


def generate(args) -> dict:
    """The raw day under `<workdir>/raw/events/2026/11/27/`, from the cache when its parameters match."""
    work = Path(args.workdir)
    day_dir = work / "raw" / "events" / f"{YEAR:04d}" / f"{MONTH:02d}" / f"{DAY:02d}"
    params = {"generator": GENERATOR_VERSION, "size_mb": args.size_mb, "dup_rate": args.dup_rate, "seed": args.seed,
              "buffer_mb": args.buffer_mb, "buffer_secs": args.buffer_secs, "date": DATE}
    meta_path = work / "raw-day.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            if meta["params"] == params and all(
                    (day_dir / o["name"]).stat().st_size == o["bytes"] for o in meta["objects"]) and \
                    sum(1 for _ in day_dir.glob("*/*")) == len(meta["objects"]):
                print(f"raw day: cached in {day_dir} ({meta_path.name} matches)")
                return meta
        except (OSError, KeyError, ValueError):
            pass
    if meta_path.exists():
        meta_path.unlink()
    shutil.rmtree(work / "raw", ignore_errors=True)
    day_dir.mkdir(parents=True)
    budget = args.size_mb * MIB
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=work, prefix="gen-") as tmp, Pool(args.jobs) as pool:
        parts = pool.map(gen_part, [(tmp, p, args.seed, -(-budget // PARTS), args.dup_rate) for p in range(PARTS)])
        gen_s = time.monotonic() - started
        hours = pool.map(pack_hour, [(tmp, str(day_dir), h, args.seed, args.buffer_mb * MIB, args.buffer_secs * 1000)
                                     for h in sorted(range(24), key=lambda h: -HOURLY[h])])
    hours.sort(key=lambda h: h["hour"])
    objects = [o for h in hours for o in h["objects"]]
    lines = sum(p["lines"] for p in parts)
    dups = sum(p["duplicates"] for p in parts)
    same = sum(h["dups_same_object"] for h in hours)
    later_in_hour = sum(h["dups_later_object_same_hour"] for h in hours)
    meta = {
        "params": params,
        "objects": objects,
        "lines": lines,
        "distinct_events": lines - dups,
        "duplicates": dups,
        "duplicates_same_object": same,
        "duplicates_later_object": dups - same,
        "duplicates_later_hour": dups - same - later_in_hour,
        "sessions": sum(p["sessions"] for p in parts),
        "uncompressed_bytes": sum(o["uncompressed"] for o in objects),
        "compressed_bytes": sum(o["bytes"] for o in objects),
        "generation_seconds": round(time.monotonic() - started, 2),
        "generation_lines_seconds": round(gen_s, 2),
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def describe_day(meta: dict) -> None:
    objs = meta["objects"]
    sizes = sorted(o["bytes"] for o in objs)
    print(f"raw day {DATE}: {len(objs)} gzip objects, {meta['compressed_bytes'] / MIB:.1f} MiB compressed, "
          f"{meta['uncompressed_bytes'] / MIB:.1f} MiB uncompressed "
          f"(ratio {meta['uncompressed_bytes'] / max(1, meta['compressed_bytes']):.1f}); object size "
          f"min/median/max {sizes[0] / MIB:.2f}/{sizes[len(sizes) // 2] / MIB:.2f}/{sizes[-1] / MIB:.2f} MiB")
    d = max(1, meta["duplicates"])
    print(f"  {meta['lines']:,} lines, {meta['distinct_events']:,} distinct events, {meta['duplicates']:,} duplicates "
          f"({100 * meta['duplicates'] / max(1, meta['lines']):.2f}%): {100 * meta['duplicates_same_object'] / d:.0f}% in the "
          f"same object, {100 * meta['duplicates_later_object'] / d:.0f}% in a later one "
          f"({100 * meta['duplicates_later_hour'] / d:.0f}% in a later hour); {meta['sessions']:,} sessions")
    print(f"  generation took {meta['generation_seconds']:.1f} s (lines {meta['generation_lines_seconds']:.1f} s, "
          f"then arrival order, objects and gzip -6)")


# ====================================================================== measuring

class Failed(Exception):
    """A measured command that exited non-zero; the message is the end of its output."""


def measured(cmd: list[str], label: str) -> dict:
    """Runs `cmd` under /usr/bin/time -v; wall seconds, CPU seconds and peak RSS from its report."""
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        time_file = tf.name
    try:
        started = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", time_file, *cmd], capture_output=True, text=True)
        wall = time.monotonic() - started
        report = Path(time_file).read_text()
    finally:
        os.unlink(time_file)
    if proc.returncode != 0:
        raise Failed(f"{label} failed (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-2000:].strip()}")
    fields = {}
    for line in report.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    elapsed = wall
    m = re.match(r"(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$", fields.get("Elapsed (wall clock) time (h:mm:ss or m:ss)", ""))
    if m:
        elapsed = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return {
        "seconds": elapsed,
        "cpu_seconds": float(fields.get("User time (seconds)", 0)) + float(fields.get("System time (seconds)", 0)),
        "peak_rss_mb": int(fields.get("Maximum resident set size (kbytes)", 0)) / 1024,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
    }


# The peer's job, as close to ours as SQL says it: the lake's columns (`driftless columns`, the
# one list the Parquet writer follows) with their types (timestamps as UTC instants, screen sizes
# INTEGER, properties as JSON text), read from the same places of the raw record, the
# first-received copy of each event, the same order. The raw record's layout is given to
# read_json, so DuckDB does not sample the files to guess it.
DUCKDB_TYPES = {"string": "VARCHAR", "timestamp": "TIMESTAMPTZ", "int64": "BIGINT", "int32": "INTEGER", "boolean": "BOOLEAN", "json": "JSON"}


def duckdb_job(columns: list[dict]) -> tuple[str, str]:
    """(the read_json `columns` struct of the raw record, the SELECT list of the lake's columns)."""
    def struct(tree: dict) -> str:
        return ", ".join(f"{k} {struct_type(v)}" for k, v in tree.items())

    def struct_type(v) -> str:
        return v if isinstance(v, str) else f"STRUCT({struct(v)})"

    raw: dict = {}
    select = []
    for c in columns:
        path = c["source"].split(".")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = DUCKDB_TYPES[c["type"]]
        expr = ".".join(f'"{p}"' for p in path)
        select.append(f'{expr}::VARCHAR AS "{c["name"]}"' if c["type"] == "json" else f'{expr} AS "{c["name"]}"')
    spec = "{" + ", ".join(f"'{k}': '{struct_type(v)}'" for k, v in raw.items()) + "}"
    return spec, ", ".join(select)


DUCKDB_DRIVER = r'''
import json, sys, duckdb
src, out, limit, spill, spec, select = sys.argv[1:7]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
if limit:
    con.execute(f"SET memory_limit = '{limit}'")
    con.execute(f"SET temp_directory = '{spill}'")
rows = con.execute(f"""
COPY (
  SELECT {select}
  FROM read_json('{src}', format = 'newline_delimited', compression = 'gzip', columns = {spec})
  QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
  ORDER BY event_type, "timestamp", event_id
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
""").fetchone()[0]
print(json.dumps({"rows_out": rows, "duckdb": duckdb.__version__}))
'''


def lake_columns(ours: str) -> list[dict]:
    out = subprocess.run([ours, "columns", "--format", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["tables"]["events"]


def run_duckdb(work: Path, run_dir: Path, limit: str | None, job: tuple[str, str]) -> dict:
    run_dir.mkdir(parents=True)
    driver = run_dir / "driver.py"
    driver.write_text(DUCKDB_DRIVER)
    out = run_dir / "events.parquet"
    spill = run_dir / "spill"
    src = work / "raw" / "events" / f"{YEAR:04d}" / f"{MONTH:02d}" / f"{DAY:02d}" / "*" / "*.gz"
    r = measured([sys.executable, str(driver), str(src), str(out), limit or "", str(spill), *job], "duckdb")
    r["report"] = parse_report(r["stdout"])
    r["files"] = [out]
    r["output_bytes"] = out.stat().st_size
    return r


def run_ours(args, work: Path, run_dir: Path) -> dict:
    run_dir.mkdir(parents=True)
    # A fresh root per run, hard links to the cached day: compaction deletes its inputs, never edits them.
    (run_dir / "raw").mkdir()
    subprocess.run(["cp", "-al", str(work / "raw" / "events"), str(run_dir / "raw" / "events")], check=True)
    cmd = [args.ours, "compact", "--dir", str(run_dir), "--date", DATE, "--memory-budget-mb", str(args.memory_budget_mb)]
    r = measured(cmd, "ours")
    r["report"] = parse_report(r["stdout"])
    r["files"] = table_files(run_dir)
    if not r["files"]:
        sys.exit(f"ours committed no file of dt={DATE} to the table under {run_dir / 'lake' / 'events'}")
    r["output_bytes"] = sum(f.stat().st_size for f in r["files"])
    return r


def table_files(run_dir: Path) -> list[Path]:
    """The data files of dt=DATE that the events table's current version lists (read by deltalake,
    an independent reader): what a reader of the table sees, not what lies in the directory."""
    from deltalake import DeltaTable

    table = run_dir / "lake" / "events"
    if not (table / "_delta_log").is_dir():
        return []
    uris = DeltaTable(str(table)).file_uris()
    return sorted(Path(u.removeprefix("file://")) for u in uris if f"/dt={DATE}/" in u)


def run_quarter_hours(args) -> dict:
    """The day as the schedule compacts it: the same generator with Firehose's real largest buffer
    interval (900 s), the objects of each quarter-hour of arrival appended by their own run (96
    runs, each deduplicating against the table's file indexes), then one optimize of the day."""
    q_args = argparse.Namespace(**{**vars(args), "workdir": str(Path(args.workdir) / "quarter-hours"), "buffer_secs": 900})
    meta = generate(q_args)
    work = Path(q_args.workdir)
    rel_day = Path("raw") / "events" / f"{YEAR:04d}" / f"{MONTH:02d}" / f"{DAY:02d}"
    slices: dict[int, list[str]] = {}
    for o in meta["objects"]:
        m = re.search(r"-\d{4}-\d{2}-\d{2}-(\d{2})-(\d{2})-\d{2}-[0-9a-f-]+\.gz$", o["name"])
        if not m:
            sys.exit(f"unexpected object name {o['name']}")
        slices.setdefault((int(m.group(1)) * 60 + int(m.group(2))) // 15, []).append(o["name"])
    run_dir = work / "runs" / "quarter-hours"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    cmd = [args.ours, "compact", "--dir", str(run_dir), "--date", DATE, "--memory-budget-mb", str(args.memory_budget_mb)]
    runs = []
    for q in sorted(slices):
        for name in slices[q]:
            dest = run_dir / rel_day / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(work / rel_day / name, dest)
        r = measured(cmd, f"the run of quarter-hour {q}")
        runs.append({"seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"],
                     "uncompressed": sum(o["uncompressed"] for o in meta["objects"] if o["name"] in slices[q])})
    files_before = table_files(run_dir)
    opt = measured([*cmd, "--optimize"], "the optimize of the day")
    files_after = table_files(run_dir)
    print(f"\n15-minute runs: {len(meta['objects'])} objects (900 s buffer) in {len(runs)} runs of one quarter-hour each, "
          f"then an optimize")
    verify(meta, {"ours, 96 runs + optimize": {"files": files_after}})
    secs = sorted(r["seconds"] for r in runs)
    busiest = max(runs, key=lambda r: r["uncompressed"])
    index_dir = run_dir / "lake" / "events" / "_index" / f"dt={DATE}"
    index_bytes = sum((index_dir / (f.stem + ".idx")).stat().st_size for f in files_after)
    return {
        "runs": len(runs), "p50": secs[len(secs) // 2], "p95": secs[int(len(secs) * 0.95)], "max": secs[-1],
        "total": sum(secs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "busiest_mib": busiest["uncompressed"] / MIB, "busiest_seconds": busiest["seconds"],
        "files_before": len(files_before), "files_after": len(files_after),
        "bytes_before": sum(f.stat().st_size for f in files_before), "bytes_after": sum(f.stat().st_size for f in files_after),
        "optimize_seconds": opt["seconds"], "optimize_rss_mb": opt["peak_rss_mb"],
        "index_bytes": index_bytes, "rows": meta["distinct_events"], "uncompressed": meta["uncompressed_bytes"],
    }


def print_quarter_hours(q: dict, mib_s: float, budget_mb: int) -> None:
    print(f"one 15-minute run (1/96 of the day): median {q['p50']:.2f} s, p95 {q['p95']:.2f} s, max {q['max']:.2f} s; "
          f"the busiest quarter-hour ({q['busiest_mib']:.1f} MiB) {q['busiest_seconds']:.2f} s; "
          f"{q['runs']} runs {q['total']:.0f} s in all; peak RSS {q['peak_rss_mb']:.0f} MB")
    print(f"optimize of the whole day: {q['files_before']} files ({q['bytes_before'] / MIB:.1f} MiB) -> {q['files_after']} "
          f"({q['bytes_after'] / MIB:.1f} MiB) in {q['optimize_seconds']:.2f} s, peak RSS {q['optimize_rss_mb']:.0f} MB")
    per_event = q["index_bytes"] / max(1, q["rows"])
    print(f"dedup index: {q['index_bytes'] / MIB:.1f} MiB for the day's {q['rows']:,} events ({per_event:.1f} B/event); "
          f"48 hours at this rate {2 * q['index_bytes'] / MIB:.1f} MiB, streamed one file at a time by the probe "
          f"(at most 8 in flight), which the run's peak RSS above includes")
    # The ceiling: this machine's measured rates applied to ten times the benchmark day.
    ten_quarter = 10 * q["busiest_mib"]
    print(f"ceiling (from the one-day run's rate, {os.cpu_count()} cores, --memory-budget-mb {budget_mb}): one append "
          f"compacts {mib_s:.1f} MiB/s, so {mib_s * 600 / 1024:.1f} GiB of NDJSON in 10 of Lambda's 15 minutes; at 10x "
          f"the day (10 GiB) the busiest quarter-hour is {ten_quarter:.0f} MiB, about {ten_quarter / mib_s:.0f} s; "
          f"optimize rewrites {q['uncompressed'] / MIB / q['optimize_seconds']:.0f} MiB/s of NDJSON-equivalent, so a "
          f"10 GiB day's optimize takes about {10 * q['optimize_seconds']:.0f} s")


def parse_report(stdout: str) -> dict:
    """The JSON report a tool printed: the whole stdout, or else its last line that is a JSON object."""
    try:
        v = json.loads(stdout)
        return v if isinstance(v, dict) else {"report": v}
    except ValueError:
        pass
    for line in reversed(stdout.strip().splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            return v
    return {}


def one_row(con, sql: str) -> tuple:
    row = con.execute(sql).fetchone()
    if row is None:
        sys.exit(f"no row from: {sql}")
    return row


def verify(meta: dict, results: dict[str, dict]) -> None:
    """Same rows, same event ids, one row per id, each the first received copy; else exit 1."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    stats = {}
    for name, r in results.items():
        files = "[" + ", ".join(f"'{f}'" for f in r["files"]) + "]"
        rows, ids, id_hash, first_hash = one_row(con, f"""
            SELECT sum(n), count(*), sum(hash(event_id)), sum(hash(event_id, epoch_ms(received_at)))
            FROM (SELECT event_id, count(*) AS n, min(received_at) AS received_at
                  FROM read_parquet({files}, hive_partitioning = false) GROUP BY event_id)""")
        stats[name] = (rows, ids, id_hash, first_hash)
        print(f"check {name}: {rows:,} rows, {ids:,} distinct event_ids, hash(event_id) sum {id_hash}")
    problems = []
    expected = meta["distinct_events"]
    for name, (rows, ids, _, _) in stats.items():
        if rows != ids:
            problems.append(f"{name}: {rows - ids:,} duplicate event_id rows")
        if ids != expected:
            problems.append(f"{name}: {ids:,} distinct event_ids, the generator wrote {expected:,}")
    names = list(stats)
    for other in names[1:]:
        a, b = stats[names[0]], stats[other]
        if a[0] != b[0]:
            problems.append(f"row counts differ: {names[0]} {a[0]:,}, {other} {b[0]:,}")
        if a[2] != b[2]:
            problems.append(f"event_id sets differ between {names[0]} and {other}")
        elif a[3] != b[3]:
            problems.append(f"{names[0]} and {other} kept different copies (received_at) of some events")
    ours = results.get("ours")
    if ours is not None:
        files = "[" + ", ".join(f"'{f}'" for f in ours["files"]) + "]"
        unsorted = one_row(con, f"""
            SELECT count(*) FROM (
              SELECT event_type, "timestamp", event_id,
                     lag(event_type) OVER w AS pt, lag("timestamp") OVER w AS pts, lag(event_id) OVER w AS pid
              FROM read_parquet({files}, filename = true, file_row_number = true, hive_partitioning = false)
              WINDOW w AS (ORDER BY filename, file_row_number))
            WHERE pt IS NOT NULL AND (pt, pts, pid) > (event_type, "timestamp", event_id)""")[0]
        if unsorted:
            # Reported, not failed: the order is a property of the files, not of what they hold.
            print(f"WARNING: ours has {unsorted:,} rows out of (event_type, timestamp, event_id) order "
                  "(its part files read in name order)")
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("check: the outputs hold the same events, one row per event_id, each the first received copy")


def machine() -> str:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / MIB:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import duckdb
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}{mem}; load average {load}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, DuckDB {duckdb.__version__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/driftless-bench-compact", help="raw day cache and run outputs (default: %(default)s)")
    ap.add_argument("--size-mb", type=int, default=1024, help="uncompressed MiB of raw NDJSON to generate, at least (default: %(default)s)")
    ap.add_argument("--dup-rate", type=float, default=0.05, help="share of lines that are client retries of earlier lines (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each tool; the best time is compared (default: %(default)s)")
    ap.add_argument("--ours", default=str(REPO / "target" / "release" / "driftless"), help="our binary (default: %(default)s)")
    ap.add_argument("--memory-budget-mb", type=int, default=256, help="ours' --memory-budget-mb, and the RSS goal (default: %(default)s)")
    ap.add_argument("--no-duckdb-limited", action="store_true", help="skip the DuckDB run with memory_limit = the budget")
    ap.add_argument("--generate-only", action="store_true", help="generate (or find) the raw day and stop")
    ap.add_argument("--peer-only", action="store_true", help="measure DuckDB only (no ratios)")
    ap.add_argument("--no-quarter-hours", action="store_true", help="skip the 96 15-minute runs and the optimize")
    ap.add_argument("--jobs", type=int, default=2, help="generator processes (default: %(default)s)")
    ap.add_argument("--buffer-mb", type=int, default=64, help="Firehose buffer size, uncompressed MiB (default: %(default)s, the stack's)")
    ap.add_argument("--buffer-secs", type=int, default=3600,
                    help="Firehose buffer interval; Firehose caps it at 900 s, the default makes objects of a few MB "
                         "compressed at 1 GiB a day (default: %(default)s)")
    args = ap.parse_args()
    if not 0 <= args.dup_rate < 0.5:
        ap.error("--dup-rate must be in [0, 0.5)")

    print(machine())
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    meta = generate(args)
    describe_day(meta)
    if args.generate_only:
        return
    if not args.peer_only and not os.access(args.ours, os.X_OK):
        sys.exit(f"{args.ours} is missing: build it with `cargo build --release -p driftless-cli` (or pass --ours)")

    tools: list[tuple[str, str | None]] = [("duckdb", None)]
    if not args.no_duckdb_limited:
        tools.append((f"duckdb {args.memory_budget_mb}MB", f"{args.memory_budget_mb}MB"))
    if not args.peer_only:
        tools.append(("ours", None))
    runs_root = work / "runs"
    # The column list comes from our binary; with --peer-only, from the debug build if that is all there is.
    ours_for_columns = args.ours if os.access(args.ours, os.X_OK) else str(REPO / "target" / "debug" / "driftless")
    job = duckdb_job(lake_columns(ours_for_columns))
    results: dict[str, list[dict]] = {name: [] for name, _ in tools}
    failed_peers: dict[str, str] = {}
    for run in range(args.runs):
        for name, limit in tools:
            run_dir = runs_root / name.replace(" ", "-")
            shutil.rmtree(run_dir, ignore_errors=True)
            try:
                r = run_ours(args, work, run_dir) if name == "ours" else run_duckdb(work, run_dir, limit, job)
            except Failed as e:
                if limit is None:
                    sys.exit(str(e))
                # The peer held to our budget may not manage the job at all: a result, not a crash.
                failed_peers[name] = str(e).splitlines()[-1] if "Out of Memory" not in str(e) else "out of memory"
                print(f"run {run + 1}/{args.runs} {name}: FAILED ({failed_peers[name]})")
                continue
            finally:
                shutil.rmtree(run_dir / "spill", ignore_errors=True)
            results[name].append(r)
            print(f"run {run + 1}/{args.runs} {name}: {r['seconds']:.2f} s, {r['cpu_seconds']:.1f} CPU s, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB, output {r['output_bytes'] / MIB:.1f} MiB")
    report = results["ours"][-1]["report"] if "ours" in results else None
    if report:
        print("ours' report: " + json.dumps(report, separators=(",", ": ")))
        expect = {"events_in": meta["lines"], "duplicates_dropped": meta["duplicates"], "rows_out": meta["distinct_events"],
                  "bytes_in": meta["compressed_bytes"]}
        for key, want in expect.items():
            if key in report and report[key] != want:
                alt = " (uncompressed)" if key == "bytes_in" and report[key] == meta["uncompressed_bytes"] else ""
                if not alt:
                    print(f"  note: {key} = {report[key]!r}, the generated day has {want!r}")
    elif report is not None:
        print("ours printed no JSON report; stdout was: " + results["ours"][-1]["stdout"][:500])

    results = {name: rs for name, rs in results.items() if rs}
    verify(meta, {name: rs[-1] for name, rs in results.items()})

    size = meta["uncompressed_bytes"] / MIB
    best = {name: min(rs, key=lambda r: r["seconds"]) for name, rs in results.items()}
    print(f"\ncompaction of one day: {size:.0f} MiB uncompressed NDJSON in {len(meta['objects'])} gzip objects "
          f"({meta['compressed_bytes'] / MIB:.0f} MiB), {meta['lines']:,} lines -> {meta['distinct_events']:,} rows; "
          f"best of {args.runs} run(s)")
    print(f"{'tool':<16}{'seconds':>9}{'CPU s':>8}{'MiB/s':>9}{'output MiB':>12}{'peak RSS MB':>13}")
    for name, r in best.items():
        print(f"{name:<16}{r['seconds']:>9.2f}{r['cpu_seconds']:>8.1f}{size / r['seconds']:>9.1f}"
              f"{r['output_bytes'] / MIB:>12.2f}{max(x['peak_rss_mb'] for x in results[name]):>13.0f}")
    if "ours" not in best:
        return
    o, d = best["ours"], best["duckdb"]
    print(f"ours/duckdb throughput: {d['seconds'] / o['seconds']:.2f}x (goal >= 1.5x)")
    print(f"ours/duckdb output size: {o['output_bytes'] / d['output_bytes']:.3f} (goal <= 1.0)")
    peak = max(x["peak_rss_mb"] for x in results["ours"])
    print(f"ours peak RSS: {peak:.0f} MB against a {args.memory_budget_mb} MB goal "
          f"({'within' if peak <= args.memory_budget_mb else 'OVER'}); duckdb's default run: {d['peak_rss_mb']:.0f} MB")
    limited = best.get(f"duckdb {args.memory_budget_mb}MB")
    if f"duckdb {args.memory_budget_mb}MB" in failed_peers:
        print(f"duckdb with memory_limit {args.memory_budget_mb}MB could not do the job: "
              f"{failed_peers[f'duckdb {args.memory_budget_mb}MB']}")
    if limited:
        print(f"against duckdb with memory_limit {args.memory_budget_mb}MB: throughput {limited['seconds'] / o['seconds']:.2f}x, "
              f"its peak RSS {max(x['peak_rss_mb'] for x in results[f'duckdb {args.memory_budget_mb}MB']):.0f} MB")
    if not args.no_quarter_hours:
        print_quarter_hours(run_quarter_hours(args), size / o["seconds"], args.memory_budget_mb)


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        sys.exit(str(e))
