"""session_id and seq on a server, and the event ids."""

from __future__ import annotations

import uuid

from driftless.streams import Streams
from driftless.uuid7 import uuid7


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_seq_counts_from_zero_per_anonymous_id_in_one_session() -> None:
    streams = Streams()
    a = [streams.next("a") for _ in range(3)]
    b = streams.next("b")
    assert [seq for _, seq in a] == [0, 1, 2]
    assert len({session for session, _ in a}) == 1
    assert b[1] == 0 and b[0] != a[0][0]


def test_a_stream_idle_for_longer_than_idle_starts_over_in_a_new_session() -> None:
    clock = Clock()
    streams = Streams(idle=1800, clock=clock)
    first, _ = streams.next("a")
    clock.now += 1800
    assert streams.next("a") == (first, 1)
    clock.now += 1801
    session, seq = streams.next("a")
    assert session != first and seq == 0


def test_memory_holds_only_recent_streams() -> None:
    clock = Clock()
    streams = Streams(idle=60, max_streams=3, clock=clock)
    for anon in "abcd":
        streams.next(anon)
    assert len(streams) == 3
    # "a" was pushed out: it starts again at seq 0 in a new session.
    assert streams.next("a")[1] == 0
    clock.now += 61
    streams.next("e")
    assert len(streams) == 1


def test_event_ids_are_uuidv7_in_creation_order() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
