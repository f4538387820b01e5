"""Ways to talk to a FakeCanvas from tests: in-process (a requests adapter) or over real HTTP."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .server import DroppedResponse, FakeCanvas


class WSGIAdapter(BaseAdapter):
    """A requests transport that calls a WSGI app directly (no sockets).

    ``session.mount("http://canvas.test", WSGIAdapter(fake.wsgi_app))``. A response the fake
    drops on purpose surfaces as ``requests.ConnectionError``, as it would over a real socket.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        super().__init__()
        self.app = app

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        scheme_host, _, rest = url.partition("://")
        host, _, path_query = rest.partition("/")
        path, _, query = ("/" + path_query).partition("?")
        builder = EnvironBuilder(
            path=path,
            base_url=f"{scheme_host}://{host}",
            query_string=query,
            method=request.method or "GET",
            headers=list(request.headers.items()),
            data=request.body if request.body is not None else b"",
        )
        environ = builder.get_environ()
        # EnvironBuilder unescapes the path; keep the raw one so %2F in ids survives routing.
        environ["REQUEST_URI"] = path + (f"?{query}" if query else "")
        try:
            app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
            body = b"".join(app_iter)
            if status.startswith("502") and len(body) < int(headers.get("Content-Length", "0")):
                raise DroppedResponse
        except DroppedResponse as exc:
            raise requests.ConnectionError(
                "Connection aborted: the fake Canvas dropped the response.", request=request
            ) from exc
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(headers.items())
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = body
        response.url = url
        response.request = request
        response.connection = self  # type: ignore[assignment]
        return response

    def close(self) -> None:
        return None


@contextlib.contextmanager
def running_fake_server(fake: FakeCanvas, threads: int = 48) -> Iterator[str]:
    """Serve ``fake`` with waitress on 127.0.0.1:<free port> in a thread; yields the base URL."""
    create_server: Any = importlib.import_module("waitress.server").create_server

    server: Any = create_server(
        fake.wsgi_app,
        host="127.0.0.1",
        port=0,
        threads=threads,
        # An int: waitress truncates 0.05 to 0 and its loop then spins a whole core. Replies never wait on this
        # timeout (a trigger wakes the loop).
        asyncore_loop_timeout=1,
        connection_limit=1000,
        ident="fake-canvas",
    )
    thread = threading.Thread(target=server.run, name="fake-canvas-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop_server(server)
        thread.join(timeout=5)


def stop_server(server: Any) -> None:
    """Stop a waitress server whose loop runs in another thread.

    The sockets are closed from inside the loop thread (through waitress's trigger), so the
    loop never selects on a closed descriptor; with its map empty the loop returns.
    """
    wasyncore: Any = importlib.import_module("waitress.wasyncore")

    server.task_dispatcher.shutdown(timeout=1)
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map, ignore_all=True))


class ManualClock:
    """An injectable clock for the fake: time only moves when a test says so."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_session(fake: FakeCanvas, token: str | None = None, base_url: str = "http://canvas.test") -> requests.Session:
    """A requests session wired to ``fake`` in-process, sending ``token`` as a Bearer header."""
    session = requests.Session()
    session.mount(base_url, WSGIAdapter(fake.wsgi_app))
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session
