"""The fake's leaky-bucket throttle, driven by an injected clock (no real sleeps)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

import pytest

from fake_canvas import FakeCanvas
from fake_canvas.testing import ManualClock, fake_session

URL = "http://canvas.test/api/v1/users/self"


# The bucket of the token "A" (the throttle keys a token by its SHA-256).
KEY_A = "token:" + hashlib.sha256(b"A").hexdigest()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _slow_fake(clock: ManualClock, sleep: Callable[[float], None], *, latency_ms: float, cost: float) -> FakeCanvas:
    """A fake for token "A" whose requests sleep through ``sleep`` for their latency, at a fixed cost."""
    throttle = {"cost_min": cost, "cost_max": cost}
    return FakeCanvas(admin_token="A", clock=clock, sleep=sleep, latency_ms=latency_ms, throttle=throttle)


def test_headers_report_cost_and_remaining(clock: ManualClock) -> None:
    fake = FakeCanvas(admin_token="A", clock=clock, throttle={"cost_min": 2, "cost_max": 2})
    r = fake_session(fake, "A").get(URL)
    assert r.status_code == 200
    assert float(r.headers["X-Request-Cost"]) == pytest.approx(2.0)
    assert float(r.headers["X-Rate-Limit-Remaining"]) == pytest.approx(598.0)


def test_full_bucket_answers_canvas_403_then_drains(clock: ManualClock) -> None:
    fake = FakeCanvas(admin_token="A", clock=clock, throttle={"hwm": 100, "cost_min": 30, "cost_max": 30})
    s = fake_session(fake, "A")
    statuses = [s.get(URL).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]  # 4 x 30 = 120 >= 100
    r = s.get(URL)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["X-Rate-Limit-Remaining"] == "0.0"
    assert "X-Request-Cost" not in r.headers
    assert r.text == "403 Forbidden (Rate Limit Exceeded)\n"
    # Outflow is 10 units/s: after 3 s the bucket holds 90 < hwm again.
    clock.advance(3)
    assert s.get(URL).status_code == 200
    log = fake.request_log
    assert [e["status"] for e in log] == [200, 200, 200, 200, 403, 200]
    assert log[4]["throttled"] is True


def test_buckets_are_per_token(clock: ManualClock) -> None:
    fake = FakeCanvas(admin_token="A", clock=clock, throttle={"hwm": 50, "cost_min": 60, "cost_max": 60})
    admin = fake_session(fake, "A")
    assert admin.get(URL).status_code == 200
    assert admin.get(URL).status_code == 403
    other = fake_session(fake, fake.mint_token(1))
    assert other.get(URL).status_code == 200


def test_up_front_reservation_counts_requests_in_flight(clock: ManualClock) -> None:
    """While a request sleeps (latency), its 50-unit reservation stays in the bucket."""
    seen: list[float] = []
    fake: FakeCanvas

    def sleep(seconds: float) -> None:
        seen.append(fake.throttle.level(KEY_A))

    fake = _slow_fake(clock, sleep, latency_ms=100, cost=1)
    r = fake_session(fake, "A").get(URL)
    assert r.status_code == 200
    assert seen == [pytest.approx(50.0)]
    assert float(r.headers["X-Rate-Limit-Remaining"]) == pytest.approx(599.0)


def test_disabled_throttle_sends_no_rate_headers(clock: ManualClock) -> None:
    fake = FakeCanvas(admin_token="A", clock=clock, throttle={"enabled": False})
    r = fake_session(fake, "A").get(URL)
    assert r.status_code == 200
    assert "X-Rate-Limit-Remaining" not in r.headers


def test_uniform_cost_stays_within_bounds(clock: ManualClock) -> None:
    fake = FakeCanvas(admin_token="A", clock=clock, throttle={"cost_min": 0.5, "cost_max": 1.5})
    s = fake_session(fake, "A")
    costs = [float(s.get(URL).headers["X-Request-Cost"]) for _ in range(30)]
    assert all(0.5 <= c <= 1.5 for c in costs)
    assert len(set(costs)) > 1


def test_twelve_requests_in_flight_fill_the_bucket_and_the_next_is_refused(
    clock: ManualClock,
) -> None:
    """12 x 50 reserved = 600 = hwm: Canvas refuses a 13th while they are all still running."""
    gate = threading.Event()

    def held(seconds: float) -> None:
        gate.wait(10)

    fake = _slow_fake(clock, held, latency_ms=150, cost=0.5)
    key = KEY_A
    statuses: list[int] = []

    def call() -> None:
        statuses.append(fake_session(fake, "A").get(URL).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while fake.throttle.level(key) < 600:
        assert time.monotonic() < deadline, "requests did not get in flight"
        time.sleep(0.005)
    fake.configure(latency_ms=0)
    refused = fake_session(fake, "A").get(URL)
    assert refused.status_code == 403
    gate.set()
    for t in threads:
        t.join(10)
    assert statuses == [200] * 12
    assert fake.throttle.level(key) == pytest.approx(12 * 0.5)
