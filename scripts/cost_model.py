#!/usr/bin/env python3
"""Cost per million events of a Driftless deployment on AWS (docs/cost.md).

    python3 scripts/cost_model.py                          # both endpoint types, 10 and 20 events/request
    python3 scripts/cost_model.py --events-per-request 1 10 50 --firehose-latency-ms 40
    python3 scripts/cost_model.py --endpoint-type FunctionUrl --custom-domain --function-log-bytes-per-request 816

Pure Python, standard library only. Every figure is a parameter of `Params`, in one of three kinds:

- PRICES: AWS on-demand list prices of us-east-1, first pricing tier, without the free tier, as
  recorded on PRICES_RECORDED. They are list prices to be checked against the AWS pricing pages
  (https://aws.amazon.com/<service>/pricing/) before relying on the result: this model was written
  without access to the live pages.
- MEASURED: figures from `make bench` on the bench corpus (ingest CPU per event, peak memory) and
  the average stored event size.
- ASSUMED: what cannot be measured here (the latency of a PutRecordBatch call from Lambda, log bytes,
  compression ratios, compaction time). Each is named as an assumption in the output; replace them
  with the CloudWatch figures of a real deployment (docs/cost.md says which metric gives which).

How a request is billed, from the code (shared/src/ingest.rs, shared/src/firehose.rs) and template.yaml:
one POST is one Lambda invocation, and one API Gateway request on the HttpApi endpoint type (the
FunctionUrl type has no request fee of its own; with a custom domain, CloudFront bills the request). Ingest packs the request's valid events, as NDJSON
lines, into as few Firehose records as 1,000 KiB allows (one record for any batch the SDK sends) and
hands them over with one PutRecordBatch call per stream; rejected events go the same way to the
quarantine stream. Firehose bills every record rounded up to the next 5 KB (5,120 bytes), so the
rounding applies once per packed record, not once per event.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"

REGION = "us-east-1"
PRICES_RECORDED = "2026-11-28"

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB  # AWS bills "GB" of data as 2^30 bytes
TIB = 1024 * GIB

MILLION = 1_000_000

ENDPOINT_TYPES = ("HttpApi", "FunctionUrl")  # template.yaml's IngestEndpointType


def template_system_log_level(template: Path = TEMPLATE, fallback: str = "INFO") -> str:
    """The SystemLogLevel of the ingest function's LoggingConfig in template.yaml."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError:
        return fallback
    found = re.search(r"^  IngestFunction:\n(?:    .*\n|\s*\n)*?        SystemLogLevel: *(\w+)", text, flags=re.M)
    return found.group(1) if found else fallback


def template_default(name: str, fallback: int, template: Path = TEMPLATE) -> int:
    """The Default of a Number parameter of template.yaml (a regex: the model needs no YAML library)."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError:
        return fallback
    block = re.search(rf"^  {re.escape(name)}:\n((?:    .*\n|\s*\n)+?)(?=^  \S|\Z)", text, flags=re.M)
    if not block:
        return fallback
    default = re.search(r"^    Default: *\"?(\d+)\"?\s*$", block.group(1), flags=re.M)
    return int(default.group(1)) if default else fallback


@dataclass(frozen=True)
class Params:
    # ------------------------------------------------------------------ traffic
    events_per_request: int = 10
    # template.yaml's IngestEndpointType, and whether DomainName is set (CloudFront for FunctionUrl).
    endpoint_type: str = "HttpApi"
    custom_domain: bool = False
    # MEASURED: average stored NDJSON line (the enriched event ingest hands to Firehose), bench corpus.
    stored_event_bytes: int = 483
    # ASSUMED: average event as the SDK sends it (the bench corpus is "about 400 bytes" an event).
    wire_event_bytes: int = 400
    # Share of events rejected to quarantine (0 = a clean tracking plan).
    quarantine_share: float = 0.0
    # ASSUMED: average quarantine line (the errors plus the raw event) when an event is rejected.
    quarantine_line_bytes: int = 900
    # ASSUMED: steady traffic, for the objects Firehose writes (one per buffer interval at least).
    events_per_day: int = 1_000_000

    # ------------------------------------------------------------------ API Gateway HTTP API
    apigw_per_million_requests: float = 1.00  # PRICE, first 300 million a month
    apigw_meter_bytes: int = 512 * KIB  # a request is metered in 512 KB increments
    # ASSUMED: response headers + body ({"accepted":n,"rejected":[]}) sent to the browser.
    response_bytes: int = 350
    data_out_per_gb: float = 0.09  # PRICE, data transfer out to the internet, first 10 TB

    # ------------------------------------------------------------------ CloudFront (FunctionUrl + DomainName)
    cloudfront_per_million_https_requests: float = 1.00  # PRICE, $0.0100 per 10,000, North America/Europe
    cloudfront_data_out_per_gb: float = 0.085  # PRICE, to the internet (the responses), first 10 TB
    cloudfront_to_origin_per_gb: float = 0.020  # PRICE, edge to the function URL (the request bodies)

    # ------------------------------------------------------------------ ingest Lambda (arm64)
    lambda_per_gb_second: float = 0.0000133334  # PRICE, arm64, first 7.5 billion GB-s a month
    lambda_per_million_requests: float = 0.20  # PRICE
    ingest_memory_mb: int = template_default("IngestMemorySize", 128)
    # MEASURED: parse + validate + enrich + pack on one core (`make bench`): ~2.02 us an event.
    ingest_events_per_second_one_core: float = 591_369
    # ASSUMED: per-request CPU besides the events (API Gateway event conversion, CORS, response,
    # EMF metrics and the log line).
    request_overhead_cpu_ms: float = 0.3
    # Lambda's CPU share is proportional to memory: one vCPU at 1,769 MB (the handler is sequential).
    mb_per_vcpu: int = 1769
    # ASSUMED, cannot be measured here: wall time of one PutRecordBatch call from Lambda to Firehose
    # in the same region. The events and quarantine calls run concurrently, so one latency counts.
    firehose_latency_ms: float = 20.0

    # ------------------------------------------------------------------ Firehose (Direct PUT)
    firehose_per_gb: float = 0.029  # PRICE, first 500 TB a month
    firehose_round_bytes: int = 5 * KIB  # each record is billed rounded up to the next 5 KB
    max_record_bytes: int = 1000 * KIB  # ingest packs records up to this (shared/src/firehose.rs)
    events_buffer_interval_s: int = template_default("EventsBufferIntervalSecs", 300)
    events_buffer_mb: int = template_default("EventsBufferSizeMb", 64)

    # ------------------------------------------------------------------ CloudWatch Logs
    logs_ingest_per_gb: float = 0.50  # PRICE, Standard log class
    # The bytes each request logs, in three parts.
    # MEASURED (`make bench`, functions/ingest/examples/log_bytes.rs): the function's own output,
    # stdout and stderr of the real binary over 1,000 requests and its shutdown, 15.2-15.7 B a request
    # at 10 and at 20 events (aggregated EMF documents every 100 invocations; the per-request
    # line is debug). The binary before issue 15 wrote 816 B a request in the same run.
    function_log_bytes_per_request: int = 16
    # ASSUMED, the other two (they do not exist on the local stack).
    # The platform's JSON start and report lines, logged only at SystemLogLevel INFO or DEBUG.
    platform_log_bytes_per_request: int = 370
    system_log_level: str = template_system_log_level()
    # The HTTP API's access log line (the template's format); the function URL has none.
    access_log_bytes_per_request: int = 330

    # ------------------------------------------------------------------ S3
    s3_put_per_1000: float = 0.005  # PRICE, PUT/COPY/POST/LIST, S3 Standard
    s3_get_per_1000: float = 0.0004  # PRICE, GET and others
    s3_standard_gb_month: float = 0.023  # PRICE, first 50 TB
    # MEASURED on a peer corpus: gzip bytes / NDJSON bytes of the raw day that
    # scripts/bench_compact.py generates (64 MiB, 936 B a line): 0.094.
    raw_gzip_ratio: float = 0.10
    # ASSUMED: days a raw object lives before compaction deletes it (closed day + close delay).
    raw_days_kept: float = 1.0
    # MEASURED on a peer: zstd Parquet bytes per row when DuckDB compacts that same generated day
    # (55.6 B a row, 936 B lines); our writer's figure is BytesOut / RowsOut of a real run.
    lake_bytes_per_event: int = 60
    # Part size compaction aims for, and the multipart chunk assumed for its uploads.
    lake_target_file_mb: int = template_default("CompactTargetFileMb", 256)
    multipart_chunk_mb: int = 16

    # ------------------------------------------------------------------ compaction Lambda (arm64)
    compact_memory_mb: int = template_default("CompactMemorySize", 3008)
    # ASSUMED: compaction wall time per million events (read gzip NDJSON, deduplicate, sort, write
    # zstd Parquet, verify); DurationMs / EventsIn of a real run replaces it.
    compact_seconds_per_million: float = 6.0

    # ------------------------------------------------------------------ Athena
    athena_per_tb: float = 5.00  # PRICE, per TB scanned
    athena_min_bytes: int = 10 * MIB  # each query is billed at least 10 MB


@dataclass(frozen=True)
class Result:
    params: Params
    requests: float  # per million events
    apigw_billed_requests: float
    records_per_request: int
    record_bytes: int
    billed_record_bytes: int  # of a request without rejections
    expected_billed_bytes: float  # per request, rejections included
    handler_cpu_ms: float
    handler_ms: float
    billed_ms: int
    raw_objects: float
    lines: dict[str, float]  # cost per million events, by item
    lake_storage_month: float
    athena_full_scan: float

    @property
    def total(self) -> float:
        return sum(self.lines.values())

    @property
    def per_event(self) -> float:
        return self.total / MILLION


def log_bytes_per_request(p: Params) -> int:
    """CloudWatch Logs bytes one request writes: the function's, the platform's unless
    SystemLogLevel filters them out (WARN), and the HTTP API's access log line."""
    platform = p.platform_log_bytes_per_request if p.system_log_level in ("DEBUG", "INFO") else 0
    access = p.access_log_bytes_per_request if p.endpoint_type == "HttpApi" else 0
    return p.function_log_bytes_per_request + platform + access


def firehose_billed_bytes(record_bytes: int, round_bytes: int = 5 * KIB) -> int:
    """What Firehose bills for one record: its size rounded up to the next multiple of 5 KB."""
    if record_bytes <= 0:
        return 0
    return math.ceil(record_bytes / round_bytes) * round_bytes


def pack(events: int, line_bytes: int, max_record_bytes: int) -> list[int]:
    """Record sizes when `events` lines of `line_bytes` (newline included) are packed as ingest does."""
    per_record = max(1, max_record_bytes // line_bytes)
    full, rest = divmod(events, per_record)
    return [per_record * line_bytes] * full + ([rest * line_bytes] if rest else [])


def lambda_cost(memory_mb: float, billed_ms: float, p: Params) -> float:
    """Duration cost of one invocation (requests are counted apart)."""
    return memory_mb / 1024 * billed_ms / 1000 * p.lambda_per_gb_second


def model(p: Params) -> Result:
    n = p.events_per_request
    if n < 1:
        raise ValueError("events_per_request must be at least 1")
    if p.endpoint_type not in ENDPOINT_TYPES:
        raise ValueError(f"endpoint_type must be one of {', '.join(ENDPOINT_TYPES)}, not {p.endpoint_type!r}")
    requests = MILLION / n
    http_api = p.endpoint_type == "HttpApi"
    cloudfront = not http_api and p.custom_domain

    # API Gateway: one request per POST, metered in 512 KB increments of the body. An API custom
    # domain costs nothing more; the function URL's goes through CloudFront, which bills each
    # request, the bodies it forwards to the URL, and the responses at its own rate.
    body = n * p.wire_event_bytes + 40  # {"sent_at": ..., "events": [...]}
    apigw_units = math.ceil(body / p.apigw_meter_bytes) if http_api else 0
    apigw = requests * apigw_units * p.apigw_per_million_requests / MILLION
    edge = (requests * p.cloudfront_per_million_https_requests / MILLION
            + requests * body / GIB * p.cloudfront_to_origin_per_gb) if cloudfront else 0.0
    out_per_gb = p.cloudfront_data_out_per_gb if cloudfront else p.data_out_per_gb
    data_out = requests * p.response_bytes / GIB * out_per_gb

    # Firehose: the valid events of a request packed into records, each rounded up to 5 KB; the
    # rejected ones of a request, if any, packed into quarantine records the same way. With a
    # quarantine share q, the number of rejected events in a request is binomial(n, q): the
    # expected billed bytes are summed over it.
    def billed_for(valid: int) -> tuple[int, int, int]:
        records = pack(valid, p.stored_event_bytes, p.max_record_bytes) if valid else []
        rejected = pack(n - valid, p.quarantine_line_bytes, p.max_record_bytes) if n - valid else []
        billed = sum(firehose_billed_bytes(r, p.firehose_round_bytes) for r in records)
        q_billed = sum(firehose_billed_bytes(r, p.firehose_round_bytes) for r in rejected)
        return len(records), sum(records), billed + q_billed

    q = p.quarantine_share
    if not 0 <= q <= 1:
        raise ValueError("quarantine_share must be between 0 and 1")
    records, record_bytes, billed = billed_for(n)  # a request without rejections, for display
    expected_billed = sum(math.comb(n, k) * q**k * (1 - q) ** (n - k) * billed_for(n - k)[2] for k in range(n + 1))
    firehose = requests * expected_billed / GIB * p.firehose_per_gb

    # Ingest Lambda: CPU at the memory's share of a vCPU, plus waiting for Firehose; 1 ms billing.
    cpu_ms = n / p.ingest_events_per_second_one_core * 1000 + p.request_overhead_cpu_ms
    share = min(1.0, p.ingest_memory_mb / p.mb_per_vcpu)
    handler_ms = cpu_ms / share + p.firehose_latency_ms
    billed_ms = math.ceil(handler_ms)
    ingest_requests = requests * p.lambda_per_million_requests / MILLION
    ingest_duration = requests * lambda_cost(p.ingest_memory_mb, billed_ms, p)

    logs = requests * log_bytes_per_request(p) / GIB * p.logs_ingest_per_gb

    # S3 requests. Firehose writes at least one object per buffer interval while traffic flows,
    # more when the buffer size fills first; compaction GETs each, and PUTs the lake parts.
    raw_bytes_per_event = p.stored_event_bytes * p.raw_gzip_ratio
    per_day_by_time = 86_400 / max(1, p.events_buffer_interval_s)
    per_day_by_size = p.events_per_day * raw_bytes_per_event / (p.events_buffer_mb * MIB)
    raw_objects = max(per_day_by_time, per_day_by_size) / (p.events_per_day / MILLION)
    lake_mb = MILLION * p.lake_bytes_per_event / MIB
    lake_files = max(1.0, lake_mb / p.lake_target_file_mb)
    lake_puts = lake_files * (2 + math.ceil(min(lake_mb, p.lake_target_file_mb) / p.multipart_chunk_mb)) + 1  # + manifest
    s3_requests = (raw_objects + lake_puts) * p.s3_put_per_1000 / 1000 + raw_objects * p.s3_get_per_1000 / 1000
    raw_storage = MILLION * raw_bytes_per_event / GIB * p.s3_standard_gb_month * p.raw_days_kept / 30

    compact_seconds = p.compact_seconds_per_million
    compaction = lambda_cost(p.compact_memory_mb, compact_seconds * 1000, p)

    lines = {
        "API Gateway HTTP API requests": apigw,
        "CloudFront (custom domain of the URL)": edge,
        "Lambda ingest: requests": ingest_requests,
        "Lambda ingest: duration (GB-s)": ingest_duration,
        "Firehose ingestion (5 KB rounding)": firehose,
        "CloudWatch Logs ingestion": logs,
        "Data transfer out (responses)": data_out,
        "S3 requests (raw PUT/GET, lake PUT)": s3_requests,
        "S3 raw storage until compacted": raw_storage,
        "Lambda compaction": compaction,
    }
    lake_storage = MILLION * p.lake_bytes_per_event / GIB * p.s3_standard_gb_month
    athena_scan = max(MILLION * p.lake_bytes_per_event, p.athena_min_bytes) / TIB * p.athena_per_tb
    return Result(
        params=p,
        requests=requests,
        apigw_billed_requests=requests * apigw_units,
        records_per_request=records,
        record_bytes=record_bytes,
        billed_record_bytes=billed,
        expected_billed_bytes=expected_billed,
        handler_cpu_ms=cpu_ms,
        handler_ms=handler_ms,
        billed_ms=billed_ms,
        raw_objects=raw_objects,
        lines=lines,
        lake_storage_month=lake_storage,
        athena_full_scan=athena_scan,
    )


def alarm_metrics(endpoint_type: str = "HttpApi", template: Path = TEMPLATE, fallback: int = 19) -> int:
    """Metrics watched by the template's alarms that exist with this endpoint type (CloudWatch
    bills each metric of a math alarm; an alarm with `Condition: IsHttpApi` exists only there)."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError:
        return fallback
    blocks = re.findall(r"^  \w+:\n    Type: AWS::CloudWatch::Alarm\n(?:(?: {4,}.*|\s*)\n)*", text, flags=re.M)
    watched = 0
    for block in blocks:
        if "    Condition: IsHttpApi\n" in block and endpoint_type != "HttpApi":
            continue
        watched += block.count("MetricStat:") or 1
    return watched or fallback


def fixed_monthly(p: Params, alarms: int | None = None, custom_metrics: int | None = None, scheduled_runs: int = 2880,
                  idle_run_seconds: float = 0.5) -> dict[str, float]:
    """Costs that do not grow with events (docs/cost.md): monitoring and the compaction schedule.

    scheduled_runs: runs a month of the template's CompactSchedule, rate(15 minutes): 4 x 24 x 30.

    custom_metrics: EMF metric/dimension combinations that report in a month (ingest's six, its
    per-Reason counts that occur, compaction's, and the HTTP API's ApiThrottled from its access
    log); ASSUMED, the console lists them.
    idle_run_seconds: ASSUMED wall time of a scheduled compaction run that finds no closed day.
    """
    alarms = alarm_metrics(p.endpoint_type) if alarms is None else alarms
    if custom_metrics is None:
        custom_metrics = 30 if p.endpoint_type == "HttpApi" else 29
    return {
        f"CloudWatch alarms ({alarms} alarm metrics x $0.10)": alarms * 0.10,
        f"CloudWatch custom metrics (~{custom_metrics} EMF metrics x $0.30)": custom_metrics * 0.30,
        "CloudWatch dashboard (beyond the 3 free ones)": 3.00,
        f"Compaction runs with nothing to do ({scheduled_runs} x {idle_run_seconds} s)":
            scheduled_runs * (lambda_cost(p.compact_memory_mb, idle_run_seconds * 1000, p) + p.lambda_per_million_requests / MILLION),
    }


def money(x: float) -> str:
    if x == 0 or x >= 0.001:
        return f"${x:,.4f}"
    return f"${x:.6f}" if x >= 0.000001 else f"${x:.2e}"


def column(p: Params) -> str:
    domain = "+CF" if p.custom_domain and p.endpoint_type == "FunctionUrl" else ""
    return f"{p.endpoint_type}{domain} {p.events_per_request}"


def table(results: list[Result]) -> str:
    width, col = 42, 18
    out = [f"{'per 1,000,000 events':<{width}}" + "".join(f"{column(r.params):>{col}}" for r in results)]

    def row(label: str, cells) -> None:
        out.append(f"{label:<{width}}" + "".join(f"{c:>{col}}" for c in cells))

    out.append("-" * len(out[0]))
    for key in results[0].lines:
        row(key, (money(r.lines[key]) for r in results))
    out.append("-" * len(out[0]))
    row("Total to land 1M events in the lake", (money(r.total) for r in results))
    row("  per event", ("$" + format(r.per_event, ".2e") for r in results))
    out.append("")
    row("S3 lake storage, per month kept", (money(r.lake_storage_month) for r in results))
    row("Athena: one query reading all of it", (money(r.athena_full_scan) for r in results))
    out.append("")
    row("requests", (f"{r.requests:,.0f}" for r in results))
    row("CloudWatch Logs bytes per request", (f"{log_bytes_per_request(r.params):,}" for r in results))
    row("Firehose record bytes / billed bytes", (f"{r.record_bytes}/{r.billed_record_bytes}" for r in results))
    row("ingest ms/request: CPU 1 core / billed", (f"{r.handler_cpu_ms:.2f}/{r.billed_ms}" for r in results))
    return "\n".join(out)


# The goal of issue 15 (docs/cost.md): a million events for at most this, at 20 events per request
# on the function URL without a custom domain.
GOAL_PER_MILLION = 0.05
GOAL_EVENTS_PER_REQUEST = 20


def log_bytes_for(total: float, p: Params) -> float:
    """The function's log bytes per request at which `p` costs `total` per million events (the
    total grows linearly with them); negative when even no function output would not reach it."""
    at_zero = model(replace(p, function_log_bytes_per_request=0))
    per_byte = at_zero.requests / GIB * p.logs_ingest_per_gb
    return (total - at_zero.total) / per_byte


def goal(p: Params) -> str:
    """The goal line: the cost at the goal's batch size on the function URL, and the function log
    bytes per request the goal allows."""
    at = replace(p, endpoint_type="FunctionUrl", custom_domain=False, events_per_request=GOAL_EVENTS_PER_REQUEST)
    cost = model(at).total
    verdict = "met" if cost <= GOAL_PER_MILLION else "not met"
    allowed = log_bytes_for(GOAL_PER_MILLION, at)
    return (f"Goal: at most ${GOAL_PER_MILLION:.2f} per million events at {GOAL_EVENTS_PER_REQUEST} events/request on the "
            f"function URL: {money(cost)}, {verdict} with {at.function_log_bytes_per_request:,} B of function logs a "
            f"request (met up to {max(0.0, allowed):,.0f} B).")


def describe(p: Params) -> str:
    assumed = ["wire_event_bytes", "quarantine_line_bytes", "events_per_day", "response_bytes", "request_overhead_cpu_ms",
               "firehose_latency_ms", "function_log_bytes_per_request", "platform_log_bytes_per_request",
               "access_log_bytes_per_request", "raw_days_kept", "multipart_chunk_mb", "compact_seconds_per_million"]
    lines = [
        f"Prices: AWS on-demand list prices, {REGION}, first tier, no free tier, recorded {PRICES_RECORDED};",
        "        list prices to be checked against the AWS pricing pages before relying on them.",
        f"Measured: {p.stored_event_bytes} B a stored event, {p.ingest_events_per_second_one_core:,.0f} events/s on one core "
        f"(~{1e6 / p.ingest_events_per_second_one_core:.2f} us an event).",
        f"Measured on a peer corpus (scripts/bench_compact.py's day, DuckDB): gzip ratio {p.raw_gzip_ratio}, "
        f"{p.lake_bytes_per_event} B a Parquet row.",
        f"Template: ingest {p.ingest_memory_mb} MB, compaction {p.compact_memory_mb} MB, "
        f"Firehose buffer {p.events_buffer_interval_s} s / {p.events_buffer_mb} MiB, SystemLogLevel {p.system_log_level} "
        f"(platform lines {'logged' if p.system_log_level in ('DEBUG', 'INFO') else 'not logged'}).",
        "Assumed: " + ", ".join(f"{k}={getattr(p, k)}" for k in assumed) + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events-per-request", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--endpoint-type", nargs="+", choices=ENDPOINT_TYPES, default=list(ENDPOINT_TYPES))
    parser.add_argument("--custom-domain", action=argparse.BooleanOptionalAction, default=False,
                        help="DomainName set: CloudFront in front of the function URL (no cost on the HTTP API)")
    parser.add_argument("--system-log-level", choices=("DEBUG", "INFO", "WARN"), default=Params().system_log_level)
    defaults = Params()
    swept = {"events_per_request", "endpoint_type", "custom_domain", "system_log_level"}
    for f in fields(Params):
        if f.name not in swept:
            parser.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    args = parser.parse_args(argv)
    base = Params(**{f.name: getattr(args, f.name) for f in fields(Params) if f.name not in {"events_per_request", "endpoint_type"}})
    results = [model(replace(base, endpoint_type=e, events_per_request=n)) for e in args.endpoint_type for n in args.events_per_request]
    print(describe(base))
    print()
    print(table(results))
    print()
    print(goal(base))
    print()
    for endpoint in args.endpoint_type:
        fixed = fixed_monthly(replace(base, endpoint_type=endpoint))
        print(f"Fixed monthly costs with {endpoint}, whatever the volume:")
        for k, v in fixed.items():
            print(f"  {k:<66} {money(v):>10}")
        print(f"  {'total':<66} {money(sum(fixed.values())):>10}")


if __name__ == "__main__":
    main()
