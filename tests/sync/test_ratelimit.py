"""The shared limiter: one concurrency window for every process, driven by X-Rate-Limit-Remaining (file and Redis
stores; the Redis tests use REDIS_URL, else db 6 on localhost, and skip without a Redis)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable

import pytest
import redis

from mentorship.core.ratelimit import FileStore, RedisStore, SharedLimiter, StoreLockLost
from tests.helpers import wait_until as _wait_until


def wait_until(predicate: Callable[[], object], timeout: float) -> None:
    _wait_until(predicate, timeout=timeout, interval=0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_two_handles_on_one_file_share_the_window(tmp_path):
    clock = Clock()
    a = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=clock, initial_window=2, sleep=lambda s: None)
    b = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=clock, initial_window=2, sleep=lambda s: None)
    t1 = a.acquire()
    b.acquire()
    assert a.status()["in_flight"] == 2
    # The window is full across both handles: a third acquire must wait until a release.
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.acquire()))
    waiter.start()
    waiter.join(timeout=0.3)
    assert got == []
    a.release(t1, remaining=590.0, cost=0.1, throttled=False)
    waiter.join(timeout=5)
    assert len(got) == 1
    assert b.status()["remaining"] == 590.0


def test_low_headroom_pauses_and_cuts_the_window(tmp_path):
    clock = Clock()
    limiter = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=clock, initial_window=8, sleep=lambda s: None)
    ticket = limiter.acquire()
    limiter.release(ticket, remaining=20.0, cost=1.0, throttled=False)
    status = limiter.status()
    assert status["limit"] == 1  # alone in flight with 20 units left: the bucket is all but full
    assert status["headroom"] == 20.0
    assert status["paused_for"] > 0
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    limiter._sleep = sleep
    limiter.acquire()
    assert sum(sleeps) >= 7.9  # (100 - 20) / 10 units per second


def test_a_killed_holder_does_not_keep_its_slot_forever(tmp_path):
    clock = Clock()
    limiter = SharedLimiter(
        FileStore(tmp_path / "rl.json"), clock=clock, initial_window=1, lease=30, sleep=lambda s: None
    )
    limiter.acquire()  # never released: the process died
    clock.now += 31
    assert limiter.acquire() is not None
    assert limiter.status()["in_flight"] == 1


def test_throttled_responses_are_counted_for_the_panel(tmp_path):
    limiter = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=Clock(), sleep=lambda s: None)
    limiter.release(limiter.acquire(), remaining=0.0, cost=None, throttled=True)
    assert limiter.status()["throttled"] == 1


def test_a_dead_store_falls_back_to_local_pacing():
    class DeadStore:
        def locked(self):
            raise ConnectionError("redis is restarting")

    limiter = SharedLimiter(DeadStore(), sleep=lambda s: None)
    ticket = limiter.acquire()
    assert limiter._fallback.in_flight == 1
    limiter.release(ticket, remaining=500.0, cost=0.1, throttled=False)
    assert limiter._fallback.in_flight == 0


def test_in_flight_is_counted_at_the_response_time_not_when_the_lock_comes(tmp_path):
    clock = Clock()
    limiter = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=clock, initial_window=11, sleep=lambda s: None)
    ours, first, second = limiter.acquire(), limiter.acquire(), limiter.acquire()
    # Our response came at 1001 with the other two still in flight (their reservations are in `remaining`), but
    # they got the lock first.
    clock.now = 1002.0
    limiter.release(first, remaining=600.0, cost=0.1, throttled=False)
    limiter.release(second, remaining=600.0, cost=0.1, throttled=False)
    limiter._release_shared(ours, 1001.0, remaining=500.0, cost=0.1, throttled=False)

    status = limiter.status()
    assert status["headroom"] == 600.0  # 500 + two other reservations of 50
    assert status["limit"] == 11  # counting the tickets left (none) would have read 500 and cut to 9
    assert status["in_flight"] == 0


def test_a_local_release_wakes_a_waiter_without_polling(tmp_path):
    # A poll interval far longer than the deadline: only the local hand-off can wake the waiter in time.
    limiter = SharedLimiter(FileStore(tmp_path / "rl.json"), initial_window=1, poll=60.0)
    held = limiter.acquire()
    got = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire()), daemon=True)
    waiter.start()
    wait_until(lambda: limiter._waiting == 1, timeout=5)
    assert got == []

    limiter.release(held, remaining=590.0, cost=0.1, throttled=False)

    wait_until(lambda: len(got) == 1, timeout=5)
    assert limiter.status()["in_flight"] == 1


def _redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/6"


@pytest.fixture
def redis_store():
    key = f"test:ratelimit:{uuid.uuid4().hex}"
    store = RedisStore(_redis_url(), key)
    try:
        store.redis.ping()
    except redis.RedisError as exc:  # the suite needs a Redis server (scenario 2 also starts redis-server)
        pytest.fail(f"The shared limiter's Redis tests need a Redis server at {_redis_url()}: {exc}")
    yield store
    store.redis.delete(key, store.lock_key)


def test_two_processes_share_the_window_through_redis(redis_store):
    other = RedisStore(_redis_url(), redis_store.key)
    a = SharedLimiter(redis_store, initial_window=2, poll=0.01)
    b = SharedLimiter(other, initial_window=2, poll=0.01)
    held = a.acquire()
    b.acquire()
    got = []
    waiter = threading.Thread(target=lambda: got.append(b.acquire()), daemon=True)
    waiter.start()
    wait_until(lambda: b._waiting == 1, timeout=5)
    assert got == [] and a.status()["in_flight"] == 2

    a.release(held, remaining=590.0, cost=0.1, throttled=False)  # found by b's poll: another process's release

    wait_until(lambda: len(got) == 1, timeout=5)
    assert b.status()["remaining"] == 590.0
    assert b.status()["in_flight"] == 2


def test_a_redis_block_that_lost_its_lock_writes_nothing(redis_store):
    with redis_store.locked() as state:
        state["window"] = {"window": 3.0}
    with pytest.raises(StoreLockLost), redis_store.locked() as state:
        state["window"] = {"window": 9.0}
        # Our lock expired and another process took it.
        redis_store.redis.set(redis_store.lock_key, "someone else")
    assert redis_store.peek()["window"] == {"window": 3.0}
    assert redis_store.redis.get(redis_store.lock_key) == b"someone else"  # theirs, not released by us


def test_a_redis_outage_degrades_to_per_process_pacing():
    # Nothing listens on port 1: every store call fails at once.
    limiter = SharedLimiter(RedisStore("redis://127.0.0.1:1/0", "test:ratelimit:down"), initial_window=2)
    ticket = limiter.acquire()
    assert limiter._fallback.in_flight == 1
    limiter.release(ticket, remaining=300.0, cost=0.1, throttled=False)
    assert limiter._fallback.in_flight == 0
