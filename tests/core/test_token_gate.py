"""The rejected-token gate of the shared limiter (issue 14, item 6; docs/canvas-rules.md, "5. Tokens").

A token-failure 401 marks the limiter in the same locked step that frees its slot; every request that asks for a
slot afterwards (including one that was already waiting) is refused without being sent, until the probe, which is
ungated, finds the token working again.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from canvas_client import CanvasAuthError, CanvasClient, CanvasPermissionError
from mentorship.core.ratelimit import FileStore, SharedLimiter, TokenRejected
from tests.helpers import wait_until

BASE = "http://canvas.test"


def limiter(tmp_path: Any, window: int = 2) -> SharedLimiter:
    return SharedLimiter(FileStore(tmp_path / "rl.json"), initial_window=window, sleep=lambda s: None)


def test_a_rejected_release_refuses_every_later_gated_acquire(tmp_path):
    shared = limiter(tmp_path)
    other_process = SharedLimiter(FileStore(tmp_path / "rl.json"), initial_window=2, sleep=lambda s: None)
    ticket = shared.acquire()
    shared.release(ticket, remaining=None, cost=None, throttled=False, rejected=True)
    assert other_process.token_rejected()
    with pytest.raises(TokenRejected) as refused:
        other_process.acquire()
    assert isinstance(refused.value, CanvasAuthError)
    assert "replace the portal's Canvas token" in refused.value.user_message
    # The probe's way in: paced, not refused; and once it clears the mark everyone may go again.
    probe = other_process.ungated()
    probe.release(probe.acquire(), remaining=500.0, cost=0.1, throttled=False)
    other_process.clear_rejected()
    assert not shared.token_rejected()
    shared.release(shared.acquire(), remaining=500.0, cost=0.1, throttled=False)
    assert shared.status()["token_rejected"] is False


def test_a_request_waiting_for_a_slot_is_refused_when_the_slot_frees_after_a_401(tmp_path):
    shared = limiter(tmp_path, window=1)
    first = shared.acquire()
    outcome: list[object] = []

    def wait_for_a_slot() -> None:
        try:
            outcome.append(shared.acquire())
        except TokenRejected as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_a_slot)
    waiter.start()
    waiter.join(timeout=0.3)
    assert outcome == []  # the window is full: it waits
    shared.release(first, remaining=None, cost=None, throttled=False, rejected=True)
    waiter.join(timeout=5)
    assert len(outcome) == 1 and isinstance(outcome[0], TokenRejected)
    assert shared.status()["in_flight"] == 0  # the refused request took no slot


def test_an_ordinary_release_does_not_mark(tmp_path):
    shared = limiter(tmp_path)
    shared.release(shared.acquire(), remaining=None, cost=None, throttled=False)
    assert not shared.token_rejected()
    shared.mark_rejected()
    assert shared.token_rejected()


class Scripted(requests.adapters.BaseAdapter):
    """Answers every request with one status and headers, counting what was sent."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__()
        self.status, self.headers, self.sent = status, headers, 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent += 1
        response = requests.Response()
        response.status_code = self.status
        response._content = b'{"errors":[{"message":"Invalid access token."}]}'
        response.headers.update({"Content-Type": "application/json", **self.headers})
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        return None


def client_for(adapter: Scripted, shared: SharedLimiter) -> CanvasClient:
    session = requests.Session()
    session.mount(BASE, adapter)
    return CanvasClient(BASE, "T", session=session, limiter=shared, sleep=lambda s: None)


def test_the_client_marks_on_a_token_failure_401_and_sends_nothing_after_it(tmp_path):
    shared = limiter(tmp_path)
    adapter = Scripted(401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
    client = client_for(adapter, shared)
    with pytest.raises(CanvasAuthError):
        client.get_self()
    with pytest.raises(TokenRejected):
        client.get_user(5)
    assert adapter.sent == 1


def test_a_401_without_www_authenticate_is_a_permission_and_does_not_mark(tmp_path):
    shared = limiter(tmp_path)
    adapter = Scripted(401, {})
    client = client_for(adapter, shared)
    for _ in range(2):
        with pytest.raises(CanvasPermissionError):
            client.get_self()
    assert adapter.sent == 2
    assert not shared.token_rejected()


def test_many_threads_send_one_request_after_a_revocation(tmp_path):
    """16 threads in a loop on a revoked token: the 401 stops them all; only requests holding a slot go out."""
    shared = limiter(tmp_path, window=1)
    adapter = Scripted(401, {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})
    client = client_for(adapter, shared)
    refused: list[int] = []

    def work() -> None:
        for _ in range(20):
            try:
                client.get_self()
            except TokenRejected:
                refused.append(1)
            except CanvasAuthError:
                pass

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    wait_until(lambda: not any(t.is_alive() for t in threads), timeout=20, message="the threads to finish")
    assert adapter.sent == 1  # window 1: nobody held a slot while the first request was out
    assert len(refused) == 16 * 20 - 1
