"""The shared limiter: one concurrency window for every process, driven by X-Rate-Limit-Remaining."""

from __future__ import annotations

import threading

from mentorship.sync.ratelimit import FileStore, SharedLimiter


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


def test_low_headroom_pauses_and_halves_the_window(tmp_path):
    clock = Clock()
    limiter = SharedLimiter(FileStore(tmp_path / "rl.json"), clock=clock, initial_window=8, sleep=lambda s: None)
    ticket = limiter.acquire()
    limiter.release(ticket, remaining=20.0, cost=1.0, throttled=False)
    status = limiter.status()
    assert status["limit"] == 4
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
