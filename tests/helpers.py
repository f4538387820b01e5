"""Small test utilities shared by every test package."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"
) -> T:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
        except Exception as exc:  # a half-started server may refuse connections for a moment
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            suffix = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {message}{suffix}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def race(*calls: Callable[[], T], timeout: float = 60.0) -> list[T | BaseException]:
    """Run the calls at once, each in its own thread with its own database connection (released afterwards), started
    together at a barrier: what each returned or raised, in the order they finished. A thread's exception is kept
    in the list, since it would otherwise vanish."""
    from django.db import connection

    start = threading.Barrier(len(calls))
    outcomes: list[T | BaseException] = []

    def run(call: Callable[[], T]) -> None:
        try:
            start.wait(timeout=10)
            outcomes.append(call())
        except BaseException as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
