"""Pacing requests so Canvas's throttle rarely has to.

Canvas throttles each token with a leaky bucket (docs/canvas.md, "Throttling"): every request in flight reserves
``up_front`` = 50 units, is charged its real cost (CPU + DB seconds) when done, the bucket drains
``outflow`` = 10 units/s, and a request arriving while the bucket holds ``hwm`` = 600 or more is
refused (403 "Rate Limit Exceeded"). Responses tell us ``X-Rate-Limit-Remaining`` (hwm - bucket) and
``X-Request-Cost``.

So the number of requests we may keep in flight is bounded by the reservations alone: ``hwm /
up_front - 1`` = 11 (twelve in flight would reserve the whole 600 and the next one is refused).
Below that, the sustainable rate depends on what requests cost (the drain is ``outflow / mean cost``
requests per second), which only the responses reveal.

``X-Rate-Limit-Remaining`` counts our own reservations too: with ten other requests of ours in
flight it reads at most 100 even when nothing else is in the bucket. So the window reads the
*headroom* instead, the room the bucket would have if none of our requests were in flight
(``remaining + up_front * others in flight``), and caps the window at what that headroom admits
with one reservation to spare (``ceil(headroom / up_front) - 1``). When requests cost more than the
outflow drains, the unreserved part of the bucket grows, the headroom shrinks and so does the cap:
the window settles at the drain rate. Under the cap the window grows additively (it is a probe:
costs are only known afterwards); a 403 halves it; a pause holds new requests while the headroom is
below one reservation, sized by how long the outflow takes to make room.

``AdaptiveWindow`` is the pure state machine (injectable clock, state as a plain dict) so a shared,
Redis- or database-backed limiter can run the same algorithm across worker processes;
``AdaptiveLimiter`` is the in-process, thread-safe limiter built on it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Limiter(Protocol):
    """Hook the client calls around every HTTP request made with its token."""

    def acquire(self) -> object:
        """Block until this request may start; return a ticket handed back to ``release``.

        May raise a ``CanvasError`` instead: a limiter shared by many processes refuses to start a request once
        another one learnt that the token is rejected (``release(..., rejected=True)``), so a request that waited for
        its slot is not sent with a token Canvas has just refused."""
        ...

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        """Report how the request ended. All values are ``None`` when there was no response; ``rejected`` is True
        when Canvas refused the token itself (401 with ``WWW-Authenticate``)."""
        ...


class NullLimiter:
    """No pacing: for tests and one-off scripts."""

    def acquire(self) -> object:
        return None

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        return None


@dataclass(frozen=True)
class ThrottleSettings:
    """Canvas's defaults (``request_throttle.*`` Settings) and the thresholds we react at."""

    hwm: float = 600.0  # bucket level at which Canvas refuses requests
    outflow: float = 10.0  # units drained per second
    up_front: float = 50.0  # units reserved per request in flight, refunded after
    # Reservations the cap keeps free below the wall, for measurement noise and other users of the token.
    spare: int = 1
    # Headroom below one reservation: a new request would likely be refused; wait for the bucket to drain...
    pause_below: float = 50.0
    # ...until (by outflow) it should be back to two reservations' worth of room.
    resume_at: float = 100.0
    # Answers to requests that were in flight together report the same 403; halve once per cooldown,
    # not once per response.
    decrease_cooldown: float = 1.0
    # Weight of the newest X-Request-Cost in the moving average (reporting only).
    cost_smoothing: float = 0.2

    @property
    def max_limit(self) -> int:
        """``hwm / up_front - 1``: the most requests whose reservations fit under the wall (11)."""
        return max(1, int(self.hwm // self.up_front) - 1)

    def cap(self, headroom: float) -> int:
        """The most requests in flight that ``headroom`` admits with ``spare`` reservations left over (0..max_limit).

        The k-th request in flight is admitted while ``(hwm - headroom) + up_front * (k - 1) < hwm``; keeping
        ``spare`` reservations free gives ``k < headroom / up_front - spare + 1``.
        """
        if headroom <= 0:
            return 0
        most = math.ceil(headroom / self.up_front) - self.spare
        return max(0, min(self.max_limit, most))


class AdaptiveWindow:
    """Pure AIMD state machine: ``on_response`` updates the concurrency limit and any pause.

    Not thread-safe; callers hold their own lock (or a shared-store transaction).
    """

    def __init__(
        self,
        settings: ThrottleSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        initial: float = 1.0,
    ) -> None:
        self.settings = settings or ThrottleSettings()
        self._clock = clock
        self.window = float(initial)
        self.paused_until = 0.0
        self.last_decrease = -math.inf
        self.avg_cost: float | None = None
        # Room the bucket had at the last response with none of our requests in flight (reporting only).
        self.headroom: float | None = None

    @property
    def limit(self) -> int:
        return max(1, min(self.settings.max_limit, int(self.window)))

    def delay(self) -> float:
        """Seconds a new request must still wait before it may start (0 when not paused)."""
        return max(0.0, self.paused_until - self._clock())

    def on_response(
        self, remaining: float | None, cost: float | None, throttled: bool, in_flight: int | None = None
    ) -> int:
        """Feed one response's headers; return the new concurrency limit.

        ``in_flight`` is how many of our requests were in flight, this one included, when it ended (as the
        limiter counts them). Unknown (``None``) counts as this one alone: the safe reading, since it attributes
        every other reservation in the bucket to someone else.
        """
        s = self.settings
        now = self._clock()
        if cost is not None and cost >= 0:
            self.avg_cost = (
                cost if self.avg_cost is None else (1 - s.cost_smoothing) * self.avg_cost + s.cost_smoothing * cost
            )
        if throttled:
            self._decrease(now)
            self._pause(now, remaining if remaining is not None else 0.0)
        elif remaining is not None:
            others = max(0, (in_flight or 1) - 1)
            headroom = min(s.hwm, max(0.0, remaining) + s.up_front * others)
            self.headroom = headroom
            if headroom < s.pause_below:
                self._pause(now, headroom)
            cap = s.cap(headroom)
            if cap < self.limit:
                # Cut straight to what the bucket admits: repeated answers from one burst cut to the same cap.
                self.window = float(max(1, cap))
            elif cap > self.limit:
                # Additive increase: +1 after a full window of healthy responses.
                self.window = min(float(s.max_limit), self.window + 1.0 / self.limit)
        return self.limit

    def _decrease(self, now: float) -> None:
        if now - self.last_decrease < self.settings.decrease_cooldown:
            return
        self.window = max(1.0, self.window / 2)
        self.last_decrease = now

    def _pause(self, now: float, remaining: float) -> None:
        s = self.settings
        seconds = max(0.0, s.resume_at - max(remaining, 0.0)) / s.outflow
        self.paused_until = max(self.paused_until, now + seconds)

    # Plain-dict state, so a shared limiter can load it, apply on_response and store it back.
    def to_state(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "paused_until": self.paused_until,
            "last_decrease": self.last_decrease if math.isfinite(self.last_decrease) else None,
            "avg_cost": self.avg_cost,
            "headroom": self.headroom,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.window = float(state.get("window") or 1.0)
        self.paused_until = float(state.get("paused_until") or 0.0)
        last = state.get("last_decrease")
        self.last_decrease = float(last) if last is not None else -math.inf
        cost = state.get("avg_cost")
        self.avg_cost = float(cost) if cost is not None else None
        headroom = state.get("headroom")
        self.headroom = float(headroom) if headroom is not None else None


@dataclass(frozen=True)
class Ticket:
    started: float


class AdaptiveLimiter:
    """In-process, thread-safe limiter: at most ``window.limit`` in flight, none while paused.

    Share one instance between every client in a process that uses the same token (Canvas keeps
    one bucket per token).
    """

    def __init__(
        self,
        settings: ThrottleSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: AdaptiveWindow | None = None,
    ) -> None:
        self._clock = clock
        self.window = window or AdaptiveWindow(settings, clock=clock)
        self._cond = threading.Condition()
        self._in_flight = 0
        self.max_in_flight_seen = 0

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def limit(self) -> int:
        with self._cond:
            return self.window.limit

    def acquire(self) -> object:
        with self._cond:
            while True:
                delay = self.window.delay()
                if delay <= 0 and self._in_flight < self.window.limit:
                    break
                # A pause ends by the clock; a full window ends when someone releases.
                self._cond.wait(timeout=delay if delay > 0 else None)
            self._in_flight += 1
            self.max_in_flight_seen = max(self.max_in_flight_seen, self._in_flight)
            return Ticket(started=self._clock())

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        # A rejected token is the caller's to act on (one process has nobody else to warn).
        with self._cond:
            in_flight = self._in_flight
            self._in_flight = max(0, self._in_flight - 1)
            if throttled or remaining is not None or cost is not None:
                self.window.on_response(remaining, cost, throttled, in_flight=max(1, in_flight))
            self._cond.notify_all()


__all__ = [
    "AdaptiveLimiter",
    "AdaptiveWindow",
    "Limiter",
    "NullLimiter",
    "ThrottleSettings",
    "Ticket",
]
