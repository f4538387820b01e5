"""One adaptive rate limiter shared by every worker process that uses the portal's Canvas token.

Canvas keeps one leaky bucket per token (API.md section 5), so pacing must be shared too: N worker processes each
running their own limiter would together keep N times too many requests in flight. The algorithm is
``canvas_client.throttle.AdaptiveWindow`` (AIMD on ``X-Rate-Limit-Remaining``); only its state lives in a shared
store: Redis when the deployment has one, else a JSON file guarded by an ``flock`` (the embedded default runs every
process on one host).

Tickets of requests in flight carry their start time and expire after ``lease`` seconds, so a worker killed in
the middle of a request (kill -9, OOM) cannot hold a slot forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from canvas_client.throttle import AdaptiveLimiter, AdaptiveWindow, ThrottleSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _LocalTicket:
    inner: object


class StateStore(Protocol):
    def locked(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Hold the shared lock; yield the state dict; write it back when the block ends without error."""
        ...


class FileStore:
    """State in a JSON file, serialised with an exclusive ``flock`` on a sibling lock file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        with self.lock_path.open("a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(self.path.read_text() or "{}")
                except (FileNotFoundError, ValueError):
                    state = {}
                yield state
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class RedisStore:
    """State in one Redis string, serialised with a Redis lock (a few milliseconds per request)."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self.key = key

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        # The lock times out by itself so a process killed while holding it delays the others by 5 s at most.
        with self.redis.lock(f"{self.key}:lock", timeout=5, sleep=0.002, blocking_timeout=30):
            raw: Any = self.redis.get(self.key)
            state = json.loads(raw) if raw else {}
            yield state
            self.redis.set(self.key, json.dumps(state), ex=24 * 3600)


class SharedLimiter:
    """``canvas_client.throttle.Limiter`` over a shared store: at most ``window.limit`` requests in flight across
    all processes, none while the window is paused."""

    def __init__(
        self,
        store: StateStore,
        settings: ThrottleSettings | None = None,
        *,
        lease: float = 40.0,
        initial_window: float = 4.0,
        poll: float = 0.02,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings or ThrottleSettings()
        # Longer than any one request may take (CANVAS_TIMEOUT: 5 s connect + 30 s read).
        self.lease = lease
        self.initial_window = initial_window
        self.poll = poll
        self._clock = clock
        self._sleep = sleep
        self._fallback = AdaptiveLimiter(self.settings)

    def _window(self, state: dict[str, Any]) -> AdaptiveWindow:
        # Wall-clock time, not monotonic: the pause deadline is compared by other processes.
        window = AdaptiveWindow(self.settings, clock=self._clock, initial=self.initial_window)
        if state.get("window"):
            window.load_state(state["window"])
        return window

    def _live_tickets(self, state: dict[str, Any], now: float) -> dict[str, float]:
        tickets = {k: float(v) for k, v in (state.get("tickets") or {}).items() if now - float(v) < self.lease}
        state["tickets"] = tickets
        return tickets

    def acquire(self) -> object:
        try:
            return self._acquire_shared()
        except Exception:
            # The shared store is down (Redis restarting, a full disk): pace this process on its own rather than stop
            # all Canvas work; the other processes do the same, and Canvas's 403s still slow everyone down.
            logger.warning("rate limiter store unavailable; pacing this process locally")
            return _LocalTicket(self._fallback.acquire())

    def _acquire_shared(self) -> object:
        while True:
            with self.store.locked() as state:
                now = self._clock()
                window = self._window(state)
                tickets = self._live_tickets(state, now)
                delay = window.delay()
                if delay <= 0 and len(tickets) < window.limit:
                    ticket = uuid.uuid4().hex
                    tickets[ticket] = now
                    state["max_in_flight_seen"] = max(int(state.get("max_in_flight_seen") or 0), len(tickets))
                    return ticket
            self._sleep(min(max(delay, self.poll), 1.0))

    def release(self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool) -> None:
        if isinstance(ticket, _LocalTicket):
            self._fallback.release(ticket.inner, remaining=remaining, cost=cost, throttled=throttled)
            return
        try:
            self._release_shared(ticket, remaining=remaining, cost=cost, throttled=throttled)
        except Exception:
            logger.warning("rate limiter store unavailable; a slot is freed when its lease ends")

    def _release_shared(self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool) -> None:
        with self.store.locked() as state:
            now = self._clock()
            tickets = self._live_tickets(state, now)
            tickets.pop(str(ticket), None)
            if throttled or remaining is not None or cost is not None:
                window = self._window(state)
                window.on_response(remaining, cost, throttled)
                state["window"] = window.to_state()
            if remaining is not None:
                state["remaining"] = remaining
                state["remaining_at"] = now
            if throttled:
                state["throttled"] = int(state.get("throttled") or 0) + 1

    def status(self) -> dict[str, Any]:
        """What the "Canvas connection" panel shows: headroom, concurrency and any pause."""
        with self.store.locked() as state:
            now = self._clock()
            window = self._window(state)
            tickets = self._live_tickets(state, now)
            return {
                "limit": window.limit,
                "max_limit": self.settings.max_limit,
                "in_flight": len(tickets),
                "paused_for": round(window.delay(), 1),
                "remaining": state.get("remaining"),
                "hwm": self.settings.hwm,
                "throttled": int(state.get("throttled") or 0),
                "avg_cost": window.avg_cost,
                "max_in_flight_seen": int(state.get("max_in_flight_seen") or 0),
            }


__all__ = ["FileStore", "RedisStore", "SharedLimiter"]
