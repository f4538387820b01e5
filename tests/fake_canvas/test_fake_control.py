"""Switches and the /__fake__/ control API: latency, 5xx, drops, tokens, log, reset, state file."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.__main__ import command_line
from fake_canvas.testing import ManualClock, fake_session, running_fake_server

ROOT = "http://canvas.test"
BASE = f"{ROOT}/api/v1"


def test_fixed_and_lognormal_latency_use_the_injected_sleep() -> None:
    slept: list[float] = []
    fake = FakeCanvas(admin_token="A", sleep=slept.append, latency_ms=120, rng_seed=1)
    s = fake_session(fake, "A")
    s.get(f"{BASE}/users/self")
    assert slept == [pytest.approx(0.12)]
    fake.configure(latency_median_ms=150)
    slept.clear()
    for _ in range(201):
        s.get(f"{BASE}/users/self")
    ordered = sorted(slept)
    assert ordered[100] == pytest.approx(0.150, rel=0.25)  # the median
    assert ordered[0] < ordered[-1]
    fake.configure(latency_ms=0)
    slept.clear()
    s.get(f"{BASE}/users/self")
    assert slept == []


def test_error_rate_answers_503_without_acting() -> None:
    fake = FakeCanvas(admin_token="A", error_rate=1.0)
    student = fake.add_user(name="Sam Student")
    observer = fake.add_user(name="Olive Observer")
    r = fake_session(fake, "A").put(f"{BASE}/users/{observer['id']}/observees/{student['id']}")
    assert r.status_code == 503
    assert r.json()["errors"][0]["message"]
    assert fake.observer_links() == set()


def test_drop_acts_then_gives_no_answer_in_process() -> None:
    fake = FakeCanvas(admin_token="A", drop_rate=1.0)
    student = fake.add_user(name="Sam Student")
    observer = fake.add_user(name="Olive Observer")
    with pytest.raises(requests.ConnectionError):
        fake_session(fake, "A").put(f"{BASE}/users/{observer['id']}/observees/{student['id']}")
    assert fake.observer_links() == {(observer["id"], student["id"])}
    assert fake.request_log[-1]["dropped"] is True


def test_request_log_records_and_clears() -> None:
    clock = ManualClock()
    fake = FakeCanvas(admin_token="A", clock=clock)
    s = fake_session(fake, "A")
    s.get(f"{BASE}/users/self")
    s.get(f"{BASE}/users/424242")
    log = fake.request_log
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/api/v1/users/self", 200),
        ("GET", "/api/v1/users/424242", 404),
    ]
    assert log[0]["t"] == clock.now
    fake.clear_request_log()
    assert fake.request_log == []


def test_control_endpoints_in_process() -> None:
    fake = FakeCanvas(admin_token="A", seed="empty")
    s = fake_session(fake)
    assert s.get(f"{ROOT}/__fake__/health").json() == {"ok": True}
    student = s.post(f"{ROOT}/__fake__/users", json={"name": "Sam Student"}).json()
    course = s.post(f"{ROOT}/__fake__/courses", json={"name": "Algebra"}).json()
    s.post(f"{ROOT}/__fake__/enrollments", json={"course_id": course["id"], "user_id": student["id"]})
    token = s.post(f"{ROOT}/__fake__/tokens", json={"user_id": student["id"]}).json()["token"]
    me = fake_session(fake, token)
    assert me.get(f"{BASE}/users/self").json()["id"] == student["id"]
    code = me.post(f"{BASE}/users/self/observer_pairing_codes").json()["code"]
    codes = s.get(f"{ROOT}/__fake__/pairing_codes").json()["pairing_codes"]
    assert [c["code"] for c in codes] == [code]
    s.post(f"{ROOT}/__fake__/invalidate", json={"token": token})
    assert me.get(f"{BASE}/users/self").status_code == 401
    s.post(f"{ROOT}/__fake__/restore", json={"token": token})
    assert me.get(f"{BASE}/users/self").status_code == 200
    cfg = s.post(
        f"{ROOT}/__fake__/configure",
        json={"latency_ms": 0, "error_rate": 0.25, "throttle": {"hwm": 300}},
    ).json()
    assert cfg["error_rate"] == 0.25 and cfg["throttle"]["hwm"] == 300
    bad = s.post(f"{ROOT}/__fake__/configure", json={"error_rate": 2})
    assert bad.status_code == 400
    assert s.get(f"{ROOT}/__fake__/config").json()["error_rate"] == 0.25
    assert len(s.get(f"{ROOT}/__fake__/requests").json()["requests"]) >= 4
    s.delete(f"{ROOT}/__fake__/requests")
    assert s.get(f"{ROOT}/__fake__/requests").json()["requests"] == []
    assert s.get(f"{ROOT}/__fake__/links").json() == {"links": []}
    enrollments = s.get(f"{ROOT}/__fake__/enrollments", params={"type": "StudentEnrollment"})
    assert [e["user_id"] for e in enrollments.json()["enrollments"]] == [student["id"]]
    assert s.post(f"{ROOT}/__fake__/reset").json() == {"ok": True}
    assert s.get(f"{ROOT}/__fake__/enrollments").json() == {"enrollments": []}
    assert s.get(f"{ROOT}/__fake__/nope").status_code == 404


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "fake-state.json")
    fake = FakeCanvas(admin_token="A", seed="demo", state_file=path)
    s = fake_session(fake, "A")
    r = s.put(f"{ROOT}/api/v1/users/sis_user_id:AIDE-014/observees/sis_user_id:S-2031")
    assert r.status_code == 200
    fake.close()
    assert os.path.exists(path)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".fake-canvas-")]
    again = FakeCanvas(admin_token="A", seed="demo", state_file=path)
    try:
        assert again.observer_links() == fake.observer_links()
        assert len(again.observer_links()) == 1
        assert again.observer_enrollments() == fake.observer_enrollments()
        s2 = fake_session(again, "A")
        assert s2.get(f"{ROOT}/api/v1/users/sis_user_id:S-2031").status_code == 200
    finally:
        again.close()


def test_over_http_drop_closes_the_connection_and_control_works() -> None:
    fake = FakeCanvas(admin_token="A", seed="empty")
    student = fake.add_user(name="Sam Student")
    observer = fake.add_user(name="Olive Observer")
    with running_fake_server(fake) as base_url:
        s = requests.Session()
        s.headers["Authorization"] = "Bearer A"
        assert s.get(f"{base_url}/__fake__/health", timeout=5).json() == {"ok": True}
        assert s.get(f"{base_url}/api/v1/users/sis_user_id:nobody", timeout=5).status_code == 404
        s.post(f"{base_url}/__fake__/configure", json={"drop_rate": 1.0}, timeout=5)
        with pytest.raises(requests.RequestException):
            s.put(f"{base_url}/api/v1/users/{observer['id']}/observees/{student['id']}", timeout=5)
        assert fake.observer_links() == {(observer["id"], student["id"])}
        s.post(f"{base_url}/__fake__/configure", json={"drop_rate": 0}, timeout=5)
        r = s.get(f"{base_url}/api/v1/users/{observer['id']}/observees", timeout=5)
        assert [u["id"] for u in r.json()] == [student["id"]]
        assert r.links["current"]["url"].startswith(base_url)


def test_command_line_serves_and_saves_state(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tmp_path / "state.json"
    cmd = command_line(port=port, admin_token="CLI", seed="empty", options=["--state-file", str(state)])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/__fake__/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the fake did not start"
            time.sleep(0.05)
        r = requests.post(
            f"{base}/api/v1/accounts/1/users",
            headers={"Authorization": "Bearer CLI"},
            data={"user[name]": "Cli User", "pseudonym[unique_id]": "cli"},
            timeout=5,
        )
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    saved = json.loads(state.read_text())
    assert any(u["login_id"] == "cli" for u in saved["users"].values())


def test_state_is_saved_periodically_while_running(tmp_path: Path) -> None:
    path = tmp_path / "periodic.json"
    fake = FakeCanvas(admin_token="A", seed="empty", state_file=str(path), save_interval=0.05)
    try:
        fake.add_user(name="Periodic Person", login_id="periodic")
        deadline = time.monotonic() + 10
        while not (path.exists() and "periodic" in path.read_text()):
            assert time.monotonic() < deadline, "the state was not saved"
            time.sleep(0.02)
    finally:
        fake.close()
    reloaded = FakeCanvas(admin_token="A", seed="empty", state_file=str(path))
    assert reloaded.find_user("sis_login_id:PERIODIC")["name"] == "Periodic Person"
    reloaded.close()


def test_control_reports_missing_fields_and_unknown_users() -> None:
    s = fake_session(FakeCanvas(admin_token="A"))
    missing = s.post(f"{ROOT}/__fake__/tokens", json={})
    assert missing.status_code == 400
    assert "user_id" in missing.json()["error"]
    unknown = s.post(f"{ROOT}/__fake__/tokens", json={"user_id": 999999})
    assert unknown.status_code == 404
    assert s.post(f"{ROOT}/__fake__/tokens", data="[1]").status_code == 400
