"""python -m fake_canvas --host 127.0.0.1 --port 8001 --seed demo|empty

The admin token and the OAuth client's id and secret are read from FAKE_CANVAS_ADMIN_TOKEN,
FAKE_CANVAS_OAUTH_CLIENT_ID and FAKE_CANVAS_OAUTH_CLIENT_SECRET (a command line is visible to every user of the
machine in `ps`); --admin-token and the --oauth-* flags remain for tests and one-off runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .server import FakeCanvas


def command_line(*, port: int, admin_token: str, seed: str, options: Sequence[str] = ()) -> list[str]:
    """The command that starts this server as a process of its own, for tests and benchmarks (throwaway runs: the
    token is on the command line)."""
    return [
        sys.executable,
        "-m",
        "fake_canvas",
        "--port",
        str(port),
        "--admin-token",
        admin_token,
        "--seed",
        seed,
        *options,
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fake_canvas", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--admin-token", default=os.environ.get("FAKE_CANVAS_ADMIN_TOKEN"))
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--oauth-client-id", default=os.environ.get("FAKE_CANVAS_OAUTH_CLIENT_ID"))
    parser.add_argument("--oauth-client-secret", default=os.environ.get("FAKE_CANVAS_OAUTH_CLIENT_SECRET"))
    parser.add_argument("--threads", type=int, default=48)
    parser.add_argument("--latency-ms", type=float, default=None, help="fixed latency")
    parser.add_argument("--latency-median-ms", type=float, default=None, help="lognormal latency with this median")
    parser.add_argument("--latency-sigma", type=float, default=None)
    parser.add_argument("--error-rate", type=float, default=None, help="share of 503 answers")
    parser.add_argument("--drop-rate", type=float, default=None, help="share of dropped answers")
    parser.add_argument("--throttle", default=None, help='JSON, e.g. {"enabled": false} or {"hwm": 300}')
    parser.add_argument("--no-throttle", action="store_true", help="disable the rate limiter")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.admin_token:
        print("Set FAKE_CANVAS_ADMIN_TOKEN (or pass --admin-token): the token the portal will use.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.oauth_client_id and not args.oauth_client_secret:
        print("--oauth-client-secret is required with --oauth-client-id", file=sys.stderr)
        return 2
    throttle: dict[str, Any] = json.loads(args.throttle) if args.throttle else {}
    if args.no_throttle:
        throttle["enabled"] = False
    switches: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "latency_median_ms": args.latency_median_ms,
        "error_rate": args.error_rate,
        "drop_rate": args.drop_rate,
        "throttle": throttle or None,
    }
    if args.latency_sigma is not None:
        switches["latency_sigma"] = args.latency_sigma
    fake = FakeCanvas(
        admin_token=args.admin_token,
        seed=args.seed,
        oauth_client_id=args.oauth_client_id,
        oauth_client_secret=args.oauth_client_secret,
        state_file=args.state_file,
        **switches,
    )
    # waitress ships no type hints; importing by name keeps mypy quiet without an ignore.
    create_server: Any = importlib.import_module("waitress.server").create_server

    server: Any = create_server(
        fake.wsgi_app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        connection_limit=1000,
        ident="fake-canvas",
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.getLogger("fake_canvas").info(
        "Fake Canvas (%s seed) on http://%s:%s", args.seed, args.host, server.effective_port
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
