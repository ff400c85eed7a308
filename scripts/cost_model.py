#!/usr/bin/env python3
"""Cost per million events of a Driftless deployment on AWS (docs/cost.md).

    python3 scripts/cost_model.py                          # the table for 10 and 50 events/request
    python3 scripts/cost_model.py --events-per-request 1 10 50 --firehose-latency-ms 40

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

How a request is billed, from the code (shared/src/ingest.rs, shared/src/firehose.rs): one POST is
one API Gateway request and one Lambda invocation. Ingest packs the request's valid events, as NDJSON
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

    # ------------------------------------------------------------------ ingest Lambda (arm64)
    lambda_per_gb_second: float = 0.0000133334  # PRICE, arm64, first 7.5 billion GB-s a month
    lambda_per_million_requests: float = 0.20  # PRICE
    ingest_memory_mb: int = template_default("IngestMemorySize", 128)
    # MEASURED: parse + validate + enrich + pack on one core (`make bench`): ~7.15 us an event.
    ingest_events_per_second_one_core: float = 139_774
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
    # ASSUMED: bytes logged per request: the function's EMF metric documents and "Batch ingested."
    # line, the platform start/report lines, and the API access log line.
    log_bytes_per_request: int = 2000

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
    requests = MILLION / n

    # API Gateway: one request per POST, metered in 512 KB increments of the body.
    body = n * p.wire_event_bytes + 40  # {"sent_at": ..., "events": [...]}
    apigw_units = math.ceil(body / p.apigw_meter_bytes)
    apigw = requests * apigw_units * p.apigw_per_million_requests / MILLION
    data_out = requests * p.response_bytes / GIB * p.data_out_per_gb

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

    logs = requests * p.log_bytes_per_request / GIB * p.logs_ingest_per_gb

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


def alarm_metrics(template: Path = TEMPLATE, fallback: int = 18) -> int:
    """Metrics watched by the template's alarms (CloudWatch bills each metric of a math alarm)."""
    try:
        text = template.read_text(encoding="utf-8")
    except OSError:
        return fallback
    alarms = text.count("Type: AWS::CloudWatch::Alarm")
    math_alarms = len(re.findall(r"^      Metrics:\s*$", text, flags=re.M))
    return alarms - math_alarms + text.count("MetricStat:") or fallback


def fixed_monthly(p: Params, alarms: int | None = None, custom_metrics: int = 30, scheduled_runs: int = 720,
                  idle_run_seconds: float = 0.5) -> dict[str, float]:
    """Costs that do not grow with events (docs/cost.md): monitoring and the hourly schedule.

    custom_metrics: EMF metric/dimension combinations that report in a month (ingest's six, its
    per-Reason counts that occur, compaction's, ApiThrottled); ASSUMED, the console lists them.
    idle_run_seconds: ASSUMED wall time of a scheduled compaction run that finds no closed day.
    """
    alarms = alarm_metrics() if alarms is None else alarms
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


def table(results: list[Result]) -> str:
    heads = [f"{r.params.events_per_request} ev/req" for r in results]
    width = 42
    out = [f"{'per 1,000,000 events':<{width}}" + "".join(f"{h:>14}" for h in heads)]
    out.append("-" * len(out[0]))
    for key in results[0].lines:
        out.append(f"{key:<{width}}" + "".join(f"{money(r.lines[key]):>14}" for r in results))
    out.append("-" * len(out[0]))
    out.append(f"{'Total to land 1M events in the lake':<{width}}" + "".join(f"{money(r.total):>14}" for r in results))
    out.append(f"{'  per event':<{width}}" + "".join(f"{'$' + format(r.per_event, '.2e'):>14}" for r in results))
    out.append("")
    out.append(f"{'S3 lake storage, per month kept':<{width}}" + "".join(f"{money(r.lake_storage_month):>14}" for r in results))
    out.append(f"{'Athena: one query reading all of it':<{width}}" + "".join(f"{money(r.athena_full_scan):>14}" for r in results))
    out.append("")
    out.append(f"{'requests':<{width}}" + "".join(f"{r.requests:>14,.0f}" for r in results))
    out.append(f"{'Firehose record bytes / billed bytes':<{width}}" + "".join(f"{f'{r.record_bytes}/{r.billed_record_bytes}':>14}" for r in results))
    out.append(f"{'ingest ms/request: CPU 1 core / billed':<{width}}" + "".join(f"{f'{r.handler_cpu_ms:.2f}/{r.billed_ms}':>14}" for r in results))
    return "\n".join(out)


def describe(p: Params) -> str:
    assumed = ["wire_event_bytes", "quarantine_line_bytes", "events_per_day", "response_bytes", "request_overhead_cpu_ms",
               "firehose_latency_ms", "log_bytes_per_request", "raw_days_kept", "multipart_chunk_mb",
               "compact_seconds_per_million"]
    lines = [
        f"Prices: AWS on-demand list prices, {REGION}, first tier, no free tier, recorded {PRICES_RECORDED};",
        "        list prices to be checked against the AWS pricing pages before relying on them.",
        f"Measured: {p.stored_event_bytes} B a stored event, {p.ingest_events_per_second_one_core:,.0f} events/s on one core "
        f"(~{1e6 / p.ingest_events_per_second_one_core:.2f} us an event).",
        f"Measured on a peer corpus (scripts/bench_compact.py's day, DuckDB): gzip ratio {p.raw_gzip_ratio}, "
        f"{p.lake_bytes_per_event} B a Parquet row.",
        f"Template: ingest {p.ingest_memory_mb} MB, compaction {p.compact_memory_mb} MB, "
        f"Firehose buffer {p.events_buffer_interval_s} s / {p.events_buffer_mb} MiB.",
        "Assumed: " + ", ".join(f"{k}={getattr(p, k)}" for k in assumed) + ".",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events-per-request", type=int, nargs="+", default=[10, 50])
    defaults = Params()
    for f in fields(Params):
        if f.name == "events_per_request":
            continue
        parser.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    args = parser.parse_args(argv)
    base = Params(**{f.name: getattr(args, f.name) for f in fields(Params) if f.name != "events_per_request"})
    results = [model(replace(base, events_per_request=n)) for n in args.events_per_request]
    print(describe(base))
    print()
    print(table(results))
    print()
    print("Fixed monthly costs, whatever the volume:")
    fixed = fixed_monthly(base)
    for k, v in fixed.items():
        print(f"  {k:<66} {money(v):>10}")
    print(f"  {'total':<66} {money(sum(fixed.values())):>10}")


if __name__ == "__main__":
    main()
