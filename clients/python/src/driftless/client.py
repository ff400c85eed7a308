"""The client: ``track`` serialises an event and queues it; one background thread takes batches
off the queue (by count, bytes or age), posts them gzip-compressed and retries what can succeed
later. ``flush`` and ``shutdown`` wait for the queue to drain, and an ``atexit`` hook drains it
when the interpreter exits."""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Self, cast

from driftless import __version__
from driftless.drops import Drop, DropReason, FieldError, Rejection, WireEvent
from driftless.events import SCHEMA_VERSIONS, Tracker
from driftless.options import TrackOptions
from driftless.retry import retry_delay
from driftless.streams import Streams
from driftless.transport import Transport, TransportError
from driftless.uuid7 import uuid7
from driftless.wire import ENVELOPE_BYTES, encode_batch, rfc3339

SDK = {"name": "driftless-python", "version": __version__}

# The endpoint's own limits (docs/wire-format.md): 500 events and 1 MiB of body per request.
MAX_EVENTS_PER_REQUEST = 500
MAX_BODY_BYTES = 1_048_576

log = logging.getLogger("driftless")

# Clients to reset in a forked child (gunicorn and multiprocessing fork after import).
_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._start_over_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Client(Tracker):
    """Sends events to a Driftless ingest endpoint from a server or a script.

    ``track`` never blocks on the network and never raises for delivery problems: events that
    cannot be delivered are handed to ``on_drop``. Bad arguments (an unknown event type, no
    ``anonymous_id`` or ``user_id``, a naive ``timestamp``, properties that are not JSON) raise
    ``ValueError`` or ``TypeError`` at the call.

    Use one client per process. It is safe to share between threads.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        key: str | None = None,
        batch_size: int = 100,
        max_batch_bytes: int = 512_000,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        max_attempts: int = 8,
        retry_base: float = 0.5,
        max_retry_delay: float = 30.0,
        timeout: float = 10.0,
        gzip: bool = True,
        headers: Mapping[str, str] | None = None,
        on_drop: Callable[[Drop], None] | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        """
        :param endpoint: the ingest URL (``.../v1/batch``); default ``$DRIFTLESS_ENDPOINT``.
        :param key: this server's source key, sent as the ``X-Driftless-Key`` header; default
            ``$DRIFTLESS_KEY`` (none when unset: a keyless endpoint). An endpoint with keys answers
            ``401`` without a valid one, and the batch is dropped (``refused``), never retried.
        :param batch_size: events that start a send, and the most one request carries (1 to 500).
        :param max_batch_bytes: bytes of queued events that start a send, and the most one request
            body holds before compression (1,024 to 1,048,576, the endpoint's body limit).
        :param flush_interval: seconds an unfull batch waits before it is sent.
        :param max_queue: events held in memory; beyond it new events are dropped (``queue_full``).
        :param max_attempts: sends of one batch before it is dropped (``retries_exhausted``).
        :param retry_base: the backoff's base in seconds: retry n waits up to ``retry_base * 2**n``.
        :param max_retry_delay: the longest wait before a retry, ``Retry-After`` included.
        :param timeout: seconds one request may take, from connecting to the end of the answer.
        :param gzip: compress request bodies (``Content-Encoding: gzip``).
        :param headers: extra request headers.
        :param on_drop: called with every ``Drop``: from ``track``'s thread for ``queue_full``,
            ``too_large`` and ``shutdown`` at the call, from the sender thread otherwise.
        :param shutdown_timeout: how long the ``atexit`` hook waits for the queue to drain.
        """
        url = endpoint or os.environ.get("DRIFTLESS_ENDPOINT")
        if not url:
            raise ValueError("no endpoint: pass Client(endpoint=...) or set DRIFTLESS_ENDPOINT")
        _check_range("batch_size", batch_size, 1, MAX_EVENTS_PER_REQUEST)
        _check_range("max_batch_bytes", max_batch_bytes, 1024, MAX_BODY_BYTES)
        _check_range("max_queue", max_queue, 1, None)
        _check_range("max_attempts", max_attempts, 1, None)
        for name, value in (("flush_interval", flush_interval), ("retry_base", retry_base),
                            ("timeout", timeout), ("shutdown_timeout", shutdown_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
        key = key if key is not None else os.environ.get("DRIFTLESS_KEY")
        # A header value cannot hold control characters or spaces around it: fail here, not at
        # every send.
        if key is not None and not (key and key.isascii() and key.isprintable() and " " not in key):
            raise ValueError(f"key must be a non-empty source key of visible ASCII characters, got {key!r}")
        if not max_retry_delay >= retry_base:
            raise ValueError(f"max_retry_delay ({max_retry_delay!r}) must be at least retry_base ({retry_base!r})")

        self.endpoint = url
        self._batch_size = batch_size
        self._max_batch_bytes = max_batch_bytes
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._max_attempts = max_attempts
        self._retry_base = retry_base
        self._max_retry_delay = max_retry_delay
        self._on_drop = on_drop
        self._shutdown_timeout = shutdown_timeout
        own = {"X-Driftless-Key": key} if key else {}
        self._transport = Transport(url, timeout=timeout, compress=gzip, headers={**(headers or {}), **own},
                                    user_agent=f"{SDK['name']}/{SDK['version']}")
        self._rng = random.Random()
        self._streams = Streams()
        self._cond = threading.Condition()
        # Serialised events and the monotonic time each was queued, oldest first.
        self._queue: deque[tuple[bytes, float]] = deque()
        self._queued_bytes = 0
        # Events ever queued, and those that have left for good (delivered or dropped): the
        # sender settles them in queue order, so `flush` waits for one number to catch up.
        self._queued_total = 0
        self._settled_total = 0
        self._flush_until = 0
        self._closing = False
        self._abandoned = False
        self._thread: threading.Thread | None = None
        _live_clients.add(self)
        atexit.register(self._drain_at_exit)

    # ------------------------------------------------------------------ public API

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now and wait until it is delivered or dropped. Returns False
        when ``timeout`` (seconds) ran out first; the events stay queued."""
        with self._cond:
            target = self._queued_total
            self._flush_until = max(self._flush_until, target)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._settled_total >= target or self._abandoned, timeout) \
                and self._settled_total >= target

    def shutdown(self, timeout: float | None = None) -> bool:
        """Send what is queued, stop the sender thread and refuse later events (they are dropped
        as ``shutdown``). Waits at most ``timeout`` seconds (default: ``shutdown_timeout``);
        events still queued then are dropped as ``shutdown``. Returns True when the queue drained
        in time. Calling it again does nothing."""
        with self._cond:
            if self._closing:
                return not self._abandoned
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        atexit.unregister(self._drain_at_exit)
        wait = self._shutdown_timeout if timeout is None else timeout
        if thread is not None:
            thread.join(wait)
        if thread is None or not thread.is_alive():
            self._transport.close()
            return True
        with self._cond:
            self._abandoned = True
            left = [raw for raw, _ in self._queue]
            self._queue.clear()
            self._queued_bytes = 0
            self._settled_total += len(left)
            self._cond.notify_all()
        self._drop("shutdown", left, f"still queued when shutdown(timeout={wait:g}) ran out")
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    @property
    def queued(self) -> int:
        """Events waiting to be sent (not counting a batch in flight)."""
        with self._cond:
            return len(self._queue)

    # ------------------------------------------------------------------ tracking

    def _track(self, event_type: str, properties: Mapping[str, object], options: TrackOptions) -> str:
        version = SCHEMA_VERSIONS.get(event_type)
        if version is None:
            raise ValueError(f"unknown event type {event_type!r}: use one of {', '.join(SCHEMA_VERSIONS)} "
                             "(or add it to schema/ and run `driftless codegen`)")
        if not isinstance(properties, Mapping):
            raise TypeError(f"properties must be a mapping, got {type(properties).__name__}")
        unknown = set(options) - set(TrackOptions.__annotations__)
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}: "
                            f"use {', '.join(TrackOptions.__annotations__)}")
        user_id = options.get("user_id")
        anonymous_id = options.get("anonymous_id") or user_id
        if anonymous_id is None:
            raise ValueError("give anonymous_id or user_id: every event belongs to someone")
        _check_length("anonymous_id", anonymous_id, 128)
        if user_id is not None:
            _check_length("user_id", user_id, 256)
        when = options.get("timestamp")
        if when is None:
            when = datetime.now(timezone.utc)
        elif not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"timestamp must be an aware datetime (e.g. datetime.now(timezone.utc)), got {when!r}")

        event_id = uuid7()
        session_id, seq = self._streams.next(anonymous_id)
        event: dict[str, object] = {
            "event_id": event_id,
            "event_type": event_type,
            "schema_version": version,
            "timestamp": rfc3339(when),
            "anonymous_id": anonymous_id,
        }
        if user_id is not None:
            event["user_id"] = user_id
        event |= {"session_id": session_id, "seq": seq,
                  "context": {**options.get("context", {}), "sdk": SDK}, "properties": properties}
        try:
            raw = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise TypeError(f"{event_type}: properties must be JSON (str, int, float, bool, None, "
                            f"lists and dicts of them; no NaN): {e}") from e
        self._enqueue(raw)
        return event_id

    def _enqueue(self, raw: bytes) -> None:
        if len(raw) + ENVELOPE_BYTES > self._max_batch_bytes:
            self._drop("too_large", [raw], f"the event is {len(raw):,} bytes: no request of at most "
                       f"max_batch_bytes={self._max_batch_bytes:,} can carry it")
            return
        refused: tuple[DropReason, str] | None = None
        with self._cond:
            if self._closing:
                refused = "shutdown", "tracked after shutdown()"
            elif len(self._queue) >= self._max_queue:
                refused = "queue_full", (f"the queue already holds max_queue={self._max_queue:,} events: the "
                                         "endpoint is slow or unreachable, or max_queue is too small for the traffic")
            else:
                self._ensure_sender()
                self._queue.append((raw, time.monotonic()))
                self._queued_bytes += len(raw) + 1
                self._queued_total += 1
                # A full batch is due now; a first event gives the sender's wait a deadline.
                if (len(self._queue) == 1 or len(self._queue) >= self._batch_size
                        or self._queued_bytes + ENVELOPE_BYTES >= self._max_batch_bytes):
                    self._cond.notify_all()
        if refused is not None:
            self._drop(refused[0], [raw], refused[1])

    def _ensure_sender(self) -> None:
        """Starts the sender thread on the first event; called with the lock held."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="driftless-sender", daemon=True)
            self._thread.start()

    def _start_over_after_fork(self) -> None:
        """In a forked child: only the forking thread survives, and locks held by the others at
        the fork stay held. The child gets fresh locks, an empty queue (the parent sends the
        events queued before the fork), new streams and connection, and starts its own sender
        thread with its first event; the inherited atexit hook drains it."""
        self._cond = threading.Condition()
        self._queue.clear()
        self._queued_bytes = 0
        self._settled_total = self._queued_total
        self._flush_until = 0
        self._thread = None
        self._streams = Streams()
        self._transport.forget()

    # ------------------------------------------------------------------ sender thread

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
            if batch is None:
                return
            try:
                self._deliver(batch)
            except Exception:  # never lose the thread, and with it every later event
                log.exception("Unexpected error sending a batch; its %d event(s) are dropped.", len(batch))
                self._drop("retries_exhausted", batch, "unexpected error in the sender (see the log)")
            with self._cond:
                self._settled_total += len(batch)
                self._cond.notify_all()

    def _next_batch(self) -> list[bytes] | None:
        """Waits (lock held) until a batch is due and takes it off the queue; None: stop."""
        while True:
            if self._abandoned or (self._closing and not self._queue):
                return None
            if self._queue:
                age = time.monotonic() - self._queue[0][1]
                due = (self._closing or self._flush_until > self._settled_total
                       or len(self._queue) >= self._batch_size
                       or self._queued_bytes + ENVELOPE_BYTES >= self._max_batch_bytes
                       or age >= self._flush_interval)
                if due:
                    break
                self._cond.wait(self._flush_interval - age)
            else:
                self._cond.wait()
        batch: list[bytes] = []
        size = ENVELOPE_BYTES
        while self._queue and len(batch) < self._batch_size:
            raw = self._queue[0][0]
            # +1 for the comma; the first event always goes (none is larger than a request).
            if batch and size + len(raw) + 1 > self._max_batch_bytes:
                break
            self._queue.popleft()
            size += len(raw) + 1
            self._queued_bytes -= len(raw) + 1
            batch.append(raw)
        return batch

    def _deliver(self, batch: list[bytes]) -> None:
        """Sends one batch until it is delivered, refused or out of attempts."""
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            retry_after: str | None = None
            try:
                answer = self._transport.post(encode_batch(batch, datetime.now(timezone.utc)))
            except TransportError as e:
                cause = str(e)
            else:
                status, retry_after = answer.status, answer.retry_after
                if 200 <= status < 300:
                    self._verdicts(batch, answer.body)
                    return
                if status == 413 and len(batch) > 1:
                    # The endpoint's limits are lower than this client's: halves may fit.
                    half = len(batch) // 2
                    log.warning("Endpoint answered 413; splitting a batch of %d events.", len(batch))
                    self._deliver(batch[:half])
                    self._deliver(batch[half:])
                    return
                cause = f"{status} {_error_message(answer.body)}".rstrip()
                if status != 429 and status < 500:
                    self._drop("refused", batch, f"the endpoint answered {cause}: the same request "
                               "would fail again", status=status)
                    return
            if attempt >= self._max_attempts:
                self._drop("retries_exhausted", batch, f"gave up after {attempt} attempts; the last "
                           f"one got {cause}", status=status)
                return
            delay, source = retry_delay(attempt, retry_after, base=self._retry_base, cap=self._max_retry_delay,
                                        rng=self._rng, now=datetime.now(timezone.utc))
            log.warning("Retrying a batch of %d events in %.3f s (%s) after %s; attempt %d of %d.",
                        len(batch), delay, source, cause, attempt + 1, self._max_attempts)
            with self._cond:
                if self._cond.wait_for(lambda: self._abandoned, delay):
                    break
        self._drop("shutdown", batch, "still being retried when shutdown()'s timeout ran out")

    def _verdicts(self, batch: list[bytes], body: bytes) -> None:
        try:
            rejected = json.loads(body).get("rejected", [])
            if not isinstance(rejected, list):
                raise TypeError("rejected is not a list")
        except (ValueError, TypeError, AttributeError):
            # The status says the batch was taken; without readable verdicts there is nothing to drop.
            log.warning("Endpoint accepted a batch of %d events with an unreadable answer.", len(batch))
            return
        rejections: dict[int, Rejection] = {}
        for r in rejected:
            index = r.get("index") if isinstance(r, dict) else None
            if isinstance(index, int) and 0 <= index < len(batch):
                errors = tuple(FieldError(str(e.get("path", "")), str(e.get("message", "")))
                               for e in r.get("errors") or [] if isinstance(e, dict))
                rejections[index] = Rejection(r.get("event_id"), str(r.get("reason", "")), errors)
        if rejections:
            order = sorted(rejections)
            verdicts = [rejections[i] for i in order]
            self._drop("rejected", [batch[i] for i in order],
                       f"{len(order)} event(s) rejected by the endpoint: " + "; ".join(map(str, verdicts)),
                       rejections=tuple(verdicts))

    # ------------------------------------------------------------------ drops

    def _drop(self, reason: DropReason, raws: Sequence[bytes], message: str, *, status: int | None = None,
              rejections: tuple[Rejection, ...] = ()) -> None:
        if not raws:
            return
        log.warning("Dropped %d event(s): %s: %s", len(raws), reason, message)
        if self._on_drop is None:
            return
        events = tuple(cast(WireEvent, json.loads(raw)) for raw in raws)
        try:
            self._on_drop(Drop(reason, events, message, status, rejections))
        except Exception:
            log.exception("on_drop raised; the client carries on.")

    def _drain_at_exit(self) -> None:
        self.shutdown(self._shutdown_timeout)


def _error_message(body: bytes) -> str:
    """The ``error.message`` of an endpoint's error body, if it has one."""
    try:
        error: Any = json.loads(body)["error"]
        return f"({error['code']}: {error['message']})"
    except (ValueError, KeyError, TypeError):
        return ""


def _check_range(name: str, value: int, low: int, high: int | None) -> None:
    if not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low:,} to {high:,}" if high is not None else f"at least {low:,}"
        raise ValueError(f"{name} must be an integer, {bound}, got {value!r}")


def _check_length(name: str, value: object, most: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= most:
        raise ValueError(f"{name} must be a string of 1 to {most} characters, got {value!r}")
