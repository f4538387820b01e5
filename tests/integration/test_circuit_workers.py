"""A revoked portal token with 16 real worker processes: Canvas work stops within a few calls (issue 14, item 6).

Every task that waited for a limiter slot re-checks the circuit once it has one, and the first 401 with
`WWW-Authenticate` (docs/canvas-rules.md, "5. Tokens") closes the limiter to every process in the same locked
step that frees its slot. The count is read from the fake Canvas's own request log, so nothing in the portal can
hide a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mentorship.audit.models import AuditEvent
from mentorship.core.canvas import shared_limiter
from mentorship.sync import services
from mentorship.sync.models import CanvasConnection, ObserverLink
from mentorship.sync.portal_token import portal_token_replace
from tests.helpers import wait_until
from tests.integration.test_sync_reliability import Rig, fast_canvas_and_closed_circuit, linked_count
from tests.stack import CanvasServer, CeleryProcess, start_worker, stop_running_celery
from tests.sync.conftest import make_program, make_user

pytestmark = [pytest.mark.integration]

WORKERS = 16


@pytest.fixture
def sixteen_workers(canvas_server: CanvasServer, stack_log_dir: Path) -> Iterator[CeleryProcess]:
    """One worker with 16 prefork processes, the only consumer of the queue (no beat: no probe runs meanwhile)."""
    stop_running_celery()
    worker = start_worker(
        canvas_server, stack_log_dir, concurrency=WORKERS, name="circuit16", SIS_BULK_THRESHOLD="1000000"
    )
    yield worker
    worker.stop()
    # The run leaves hundreds of redundant messages (redeliveries, the resend after the new token) for rows that are
    # linked already: drop them, or the session's worker drains them before the next test's tasks (on the filesystem
    # broker, two a second).
    from mentorship.celery import app

    app.control.purge()


def calls_after_first_401(log: list[dict[str, Any]]) -> tuple[int, int]:
    """(answered after the first token-failure 401, sent after it was answered), Canvas work only."""
    first = next(i for i, r in enumerate(log) if r["status"] == 401)
    answered_at = log[first]["t"]
    after = [r for r in log[first + 1 :] if not r["path"].endswith("/users/self")]
    sent_after = [r for r in after if r["t"] - r["duration_ms"] / 1000 > answered_at]
    return len(after), len(sent_after)


@pytest.mark.django_db(transaction=True)
def test_sixteen_workers_make_at_most_three_calls_after_the_first_401(
    sixteen_workers: CeleryProcess, canvas_server: CanvasServer, settings: Any
) -> None:
    settings.SIS_BULK_THRESHOLD = 1000000
    fast_canvas_and_closed_circuit(canvas_server)
    rig = Rig(canvas_server, sixteen_workers, sixteen_workers)
    links, _ = rig.grid(make_program(), 20, 30, "C")
    ids = [link.pk for link in links]
    canvas_server.control("POST", "requests/clear")
    services.links_enqueue(links=links)
    wait_until(lambda: linked_count(ids) >= 60, timeout=90, message="some links before the revocation")

    canvas_server.control("POST", "invalidate", {"token": canvas_server.admin_token, "reason": "revoked"})
    wait_until(lambda: CanvasConnection.get().circuit == "open", timeout=30, message="the circuit to open")
    wait_until(
        lambda: not ObserverLink.objects.filter(pk__in=ids, state__in=["linking", "unlinking"]).exists(),
        timeout=60,
        message="every task to give its row back",
    )
    log = rig.requests_log()
    answered_after, sent_after = calls_after_first_401(log)
    print(
        f"\n{WORKERS} workers: {answered_after} Canvas calls answered after the first 401, {sent_after} sent after it; "
        f"linked before the stop: {linked_count(ids)} of {len(ids)}"
    )
    # Before the gate, 11 calls were answered after the first 401 (all of them sent after it was answered). What
    # is left are requests that had their slot before the 401's release marked the token, already on their way.
    assert answered_after <= 3
    assert AuditEvent.objects.filter(action="canvas.circuit_opened").count() == 1
    assert ObserverLink.objects.filter(pk__in=ids, state="failed").count() == 0
    assert shared_limiter().token_rejected()

    # An admin stores a new token in the portal: the running workers (not restarted) finish the work with it, while
    # the old token stays revoked in Canvas.
    service = canvas_server.control("POST", "users", {"name": "Mentor Link Service", "admin": True})
    new_token = canvas_server.control("POST", "tokens", {"user_id": service["id"]})["token"]
    result = portal_token_replace(actor=make_user(username="token-admin", is_superuser=True), token=new_token)
    assert result.changed and result.circuit_was_open
    wait_until(
        lambda: linked_count(ids) == len(ids), timeout=120, interval=0.5, message="every link with the new token"
    )
    assert CanvasConnection.get().circuit == "closed"
    assert not shared_limiter().token_rejected()  # the new token's limiter, never marked


@pytest.fixture(autouse=True)
def restore_the_session_token(canvas_server: CanvasServer) -> Iterator[None]:
    """The fake and the limiter are shared with the other tests of the session: give the admin token back clean."""
    yield
    canvas_server.control("POST", "restore", {"token": canvas_server.admin_token})
    shared_limiter(canvas_server.admin_token).clear_rejected()


def test_the_probe_reopens_the_limiter_when_the_old_token_works_again(
    canvas_server: CanvasServer, settings: Any, db: Any
) -> None:
    limiter = shared_limiter(canvas_server.admin_token)
    canvas_server.control("POST", "invalidate", {"token": canvas_server.admin_token, "reason": "revoked"})
    limiter.mark_rejected()
    assert not services.circuit_probe()  # still revoked: the probe (ungated) asks Canvas and opens the circuit
    assert CanvasConnection.get().circuit == "open"
    canvas_server.control("POST", "restore", {"token": canvas_server.admin_token})
    assert services.circuit_probe()
    assert CanvasConnection.get().circuit == "closed" and not limiter.token_rejected()
