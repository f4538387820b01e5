"""gunicorn settings for the portal's web process: the Dockerfile, docker-compose.yml and the systemd unit in
deploy/systemd/ all start `gunicorn -c deploy/gunicorn.conf.py mentorship.wsgi:application`.

Each value can be changed by an environment variable (the README's deployment variables; docs/operations.md,
"Scale workers"):
- PORTAL_BIND: where to listen (`0.0.0.0:8000` in a container; a systemd install behind a local proxy uses
  `127.0.0.1:8000`).
- WEB_CONCURRENCY: worker processes (gunicorn's own variable; 2 x cores + 1 is a good start), GUNICORN_THREADS:
  threads per worker.
- FORWARDED_ALLOW_IPS: the proxy addresses whose X-Forwarded-* headers gunicorn believes (gunicorn's own
  variable). Set it to the TLS proxy's address; `*` only where nothing but the proxy can reach the port.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("PORTAL_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(multiprocessing.cpu_count() * 2 + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog: str | None = "-"
# The request id the portal gives each answer (X-Request-Id) joins the access log to the portal's own log lines.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
# JSON logs (LOG_FORMAT, the README's table; docs/operations.md, "Logs"): gunicorn's own lines and the access log go
# through the portal's formatter and secrets filter too (a query string may carry an OAuth `code=`), so stdout is
# JSON throughout.
_production = os.environ.get("DJANGO_ENV") == "production"
if os.environ.get("LOG_FORMAT", "json" if _production else "plain") == "json":
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "filters": {"redact": {"()": "mentorship.core.logging.RedactSecretsFilter"}},
        "formatters": {"structured": {"()": "mentorship.core.structured_logging.formatter", "json": True}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["redact"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json"], "propagate": False},
        },
    }
# Worker heartbeats go to memory, so the container's root filesystem may be read-only.
# /dev/shm is a private tmpfs per container; only gunicorn's own heartbeat files go there.
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108
timeout = 60
graceful_timeout = 30


def child_exit(server: object, worker: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, a gone worker's live gauges leave /metrics (docs/operations.md, "Metrics")."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_starting(server: object) -> None:
    """A fresh PROMETHEUS_MULTIPROC_DIR per start: files of the previous run's workers would add to this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))
