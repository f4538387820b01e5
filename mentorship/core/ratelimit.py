"""One adaptive rate limiter shared by every worker process that uses the portal's Canvas token.

Canvas keeps one leaky bucket per token (docs/canvas.md, "Throttling"), so pacing must be shared too: N worker
processes each running their own limiter would together keep N times too many requests in flight. The algorithm is
``canvas_client.throttle.AdaptiveWindow`` (AIMD on ``X-Rate-Limit-Remaining``); only its state lives in a shared
store: Redis when the deployment has one, else a JSON file guarded by an ``flock`` (the embedded default runs every
process on one host).

Tickets of requests in flight carry their start time and expire after ``lease`` seconds, so a worker killed in
the middle of a request (kill -9, OOM) cannot hold a slot forever.

Waiting for a slot: threads of one process wait on a local condition that every release in the process signals
(one waiter per freed slot), so a slot freed here is taken again within a lock round trip; slots freed by other
processes are noticed by polling, about once per ``poll`` seconds per process however many threads wait. A poll
reads the state without the lock and takes the lock only when there is room; a locked block that changes nothing
writes nothing back. The lock is the limiter's bottleneck (a slot stays taken until its release gets the lock), so
it is held for as few round trips as possible.

Counting our requests in flight for the headroom (``AdaptiveWindow.on_response``): a release can wait for the lock
while others release first, so counting the tickets left at that point would miss requests that were still in
flight when this one's response came. The state keeps the last couple of seconds of releases (start, response
time) so the count is taken at the response time instead.

A rejected token closes the limiter for everyone (docs/architecture.md, "Sync"): the release of a request that Canvas
answered with a token-failure 401 marks the state in the same locked block that frees its slot, and a request that
waited for a slot checks the mark once it has the lock, before taking a ticket. So a task that passed the circuit
check before the 401 and then waited here is refused instead of sent. The mark belongs to the token (the state is
kept per token), so a replacement token starts clear; the circuit probe, which must try the token, acquires
ungated and clears the mark when the token works again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from canvas_client.errors import CanvasAuthError
from canvas_client.throttle import AdaptiveLimiter, AdaptiveWindow, ThrottleSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _LocalTicket:
    inner: object


class TokenRejected(CanvasAuthError):
    """Raised instead of sending: another request with this token was just answered with a token-failure 401."""

    def __init__(self) -> None:
        super().__init__("Canvas rejected this token in answer to another request; this one was not sent")

    @property
    def user_message(self) -> str:
        return (
            "Canvas rejected the portal's access token, so the portal stopped sending requests with it. "
            "An administrator must replace the portal's Canvas token (Canvas connection page)."
        )


class StateStore(Protocol):
    def locked(self) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Hold the shared lock; yield the state dict; write it back when the block ends without error."""
        ...

    def peek(self) -> dict[str, Any]:
        """The state as last written, read without the lock (may be stale by the time it is used)."""
        ...


class FileStore:
    """State in a JSON file, serialised with an exclusive ``flock`` on a sibling lock file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def peek(self) -> dict[str, Any]:
        # Writers replace the file atomically, so an unlocked read sees one whole version.
        try:
            return dict(json.loads(self.path.read_text() or "{}"))
        except (FileNotFoundError, ValueError):
            return {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        with self.lock_path.open("a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                try:
                    raw = self.path.read_text()
                    state = json.loads(raw or "{}")
                except (FileNotFoundError, ValueError):
                    raw, state = "", {}
                yield state
                new = json.dumps(state)
                if new != raw:
                    tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(new)
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class StoreLockLost(RuntimeError):
    """The store's lock expired while we held it and someone else may have written: our write was dropped."""


# Take the lock and read the state in one round trip; write the state and drop the lock in another. A lock holder
# is slowed by every round trip (and, in a busy process, by waiting for the GIL after each), and every other
# request waits for the lock, so two round trips instead of four is what lets a slot be handed on quickly.
_LOCK_AND_GET = """
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {1, redis.call('get', KEYS[1]) or ''}
end
return {0, ''}
"""
_SET_AND_UNLOCK = """
if redis.call('get', KEYS[2]) ~= ARGV[1] then
    return 0
end
if ARGV[2] ~= '' then
    redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
redis.call('del', KEYS[2])
return 1
"""


class RedisStore:
    """State in one Redis string, serialised with a Redis lock: two round trips per locked block."""

    def __init__(self, url: str, key: str, *, lock_timeout: float = 5.0, blocking_timeout: float = 30.0) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self.key = key
        self.lock_key = f"{key}:lock"
        # The lock expires by itself, so a process killed while holding it delays the others by this much at most.
        self.lock_timeout = lock_timeout
        self.blocking_timeout = blocking_timeout
        self._lock_and_get = self.redis.register_script(_LOCK_AND_GET)
        self._set_and_unlock = self.redis.register_script(_SET_AND_UNLOCK)

    def peek(self) -> dict[str, Any]:
        raw: Any = self.redis.get(self.key)
        return dict(json.loads(raw)) if raw else {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.blocking_timeout
        while True:
            got, raw = self._lock_and_get(keys=[self.key, self.lock_key], args=[token, int(self.lock_timeout * 1000)])
            if got:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"rate limiter lock {self.lock_key} not free after {self.blocking_timeout} s")
            time.sleep(0.001)
        written = False
        try:
            state = json.loads(raw) if raw else {}
            yield state
            new = json.dumps(state)
            unchanged = raw and new == raw.decode()
            written = True
            if not self._set_and_unlock(
                keys=[self.key, self.lock_key], args=[token, "" if unchanged else new, 24 * 3600]
            ):
                raise StoreLockLost(self.lock_key)
        finally:
            if not written:
                # The block failed: drop the lock (if still ours) without writing.
                self._set_and_unlock(keys=[self.key, self.lock_key], args=[token, "", 0])


# Releases remembered for counting requests in flight at a response's time (see the module docstring).
RECENT_SECONDS = 2.0
RECENT_MAX = 128


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
        # Local hand-off between this process's threads: ``_released`` counts releases so a waiter that checked the
        # store before a release does not sleep through its signal.
        self._local = threading.Condition()
        self._released = 0
        self._waiting = 0

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

    def acquire(self, *, gated: bool = True) -> object:
        """A ticket for one request; ``gated`` (the default) refuses with ``TokenRejected`` once the token is
        marked rejected."""
        try:
            return self._acquire_shared(gated=gated)
        except TokenRejected:
            raise
        except Exception:
            # The shared store is down (Redis restarting, a full disk): pace this process on its own rather than stop
            # all Canvas work; the other processes do the same, and Canvas's 403s still slow everyone down.
            logger.warning("rate limiter store unavailable; pacing this process locally")
            return _LocalTicket(self._fallback.acquire())

    def _room(self, state: dict[str, Any]) -> tuple[float, bool]:
        """(seconds still paused, whether a slot is free) in a state read without the lock."""
        window = self._window(state)
        tickets = self._live_tickets(state, self._clock())
        return window.delay(), len(tickets) < window.limit

    def _acquire_shared(self, *, gated: bool) -> object:
        peek = getattr(self.store, "peek", None)
        freed_here = False
        while True:
            with self._local:
                seen = self._released
            # After a release in this process there is most likely room: go straight for the lock. A rejection
            # mark seen without the lock is confirmed under it (it may have been cleared meanwhile).
            if peek is not None and not freed_here:
                peeked = peek()
                delay, free = self._room(peeked)
                if (delay > 0 or not free) and not (gated and peeked.get("rejected_at")):
                    freed_here = self._wait(delay, seen)
                    continue
            with self.store.locked() as state:
                if gated and state.get("rejected_at"):
                    raise TokenRejected()
                now = self._clock()
                window = self._window(state)
                tickets = self._live_tickets(state, now)
                delay = window.delay()
                if delay <= 0 and len(tickets) < window.limit:
                    ticket = uuid.uuid4().hex
                    tickets[ticket] = now
                    state["max_in_flight_seen"] = max(int(state.get("max_in_flight_seen") or 0), len(tickets))
                    room_left = len(tickets) < window.limit
                    break
            freed_here = self._wait(delay, seen)
        if room_left:
            # The window grew or several slots are free: pass the turn on to another waiter of this process.
            self._notify()
        return ticket

    def _wait(self, delay: float, seen: int) -> bool:
        """Sleep out a pause, or wait for a slot; True when a slot was freed in this process meanwhile."""
        if delay > 0:
            self._sleep(min(delay, 1.0))
            return False
        with self._local:
            if self._released == seen:
                # One poll of the store per `poll` seconds for the whole process; a local release wakes a waiter
                # at once.
                self._waiting += 1
                try:
                    self._local.wait(self.poll * self._waiting)
                finally:
                    self._waiting -= 1
            return self._released != seen

    def _notify(self) -> None:
        with self._local:
            self._released += 1
            self._local.notify()

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        if isinstance(ticket, _LocalTicket):
            self._fallback.release(ticket.inner, remaining=remaining, cost=cost, throttled=throttled)
            return
        responded = self._clock()
        try:
            self._release_shared(
                ticket, responded, remaining=remaining, cost=cost, throttled=throttled, rejected=rejected
            )
        except Exception:
            logger.warning("rate limiter store unavailable; a slot is freed when its lease ends")
        self._notify()

    def _release_shared(
        self,
        ticket: object,
        responded: float,
        *,
        remaining: float | None,
        cost: float | None,
        throttled: bool,
        rejected: bool = False,
    ) -> None:
        with self.store.locked() as state:
            now = self._clock()
            if rejected:
                state.setdefault("rejected_at", now)
            tickets = self._live_tickets(state, now)
            started = tickets.pop(str(ticket), responded)
            # Requests in flight when this one's response came, itself included (their reservations are in
            # `remaining`): those still holding a ticket plus those released since (they waited less for the lock).
            recent = [(a, r) for a, r in state.get("recent") or [] if now - r < RECENT_SECONDS][-RECENT_MAX:]
            in_flight = (
                1 + sum(1 for a in tickets.values() if a <= responded) + sum(1 for a, r in recent if a <= responded < r)
            )
            recent.append((started, responded))
            state["recent"] = recent
            if throttled or remaining is not None or cost is not None:
                window = self._window(state)
                window.on_response(remaining, cost, throttled, in_flight=in_flight)
                state["window"] = window.to_state()
            if remaining is not None:
                state["remaining"] = remaining
                state["remaining_at"] = now
            if throttled:
                state["throttled"] = int(state.get("throttled") or 0) + 1

    def token_rejected(self) -> bool:
        """Whether a token-failure 401 has closed the limiter (read without the lock)."""
        try:
            return bool(self.store.peek().get("rejected_at"))
        except Exception:
            return False

    def mark_rejected(self) -> None:
        """Close the limiter to gated requests (the circuit opened by a path that did not go through release)."""
        with self.store.locked() as state:
            state.setdefault("rejected_at", self._clock())

    def clear_rejected(self) -> None:
        """Open the limiter again: the token works (the probe succeeded).

        A store that does not answer holds no mark anyone can read (``token_rejected`` and ``acquire`` fall back to
        passing), so its failure is logged, not raised: the probe that calls this has already closed the circuit."""
        try:
            with self.store.locked() as state:
                state.pop("rejected_at", None)
        except Exception:
            logger.warning("rate limiter store unavailable; the token's rejection mark is cleared by the next probe")

    def ungated(self) -> UngatedLimiter:
        """This limiter for requests that must try the token even when it is marked rejected (the probe)."""
        return UngatedLimiter(self)

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
                "headroom": window.headroom,
                "max_in_flight_seen": int(state.get("max_in_flight_seen") or 0),
                "token_rejected": bool(state.get("rejected_at")),
            }


class UngatedLimiter:
    """A ``SharedLimiter`` that paces as usual but never refuses for a rejected token (see ``ungated``)."""

    def __init__(self, inner: SharedLimiter) -> None:
        self.inner = inner

    def acquire(self) -> object:
        return self.inner.acquire(gated=False)

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        self.inner.release(ticket, remaining=remaining, cost=cost, throttled=throttled, rejected=rejected)


__all__ = ["FileStore", "RedisStore", "SharedLimiter", "StoreLockLost", "TokenRejected", "UngatedLimiter"]
