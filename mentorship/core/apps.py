from pathlib import Path

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mentorship.core"
    label = "core"

    def ready(self) -> None:
        make_local_folders()
        from mentorship.core import structured_logging

        structured_logging.configure_structlog()
        structured_logging.connect_celery_signals()
        from mentorship.core.error_tracking import init_sentry

        init_sentry()


def make_local_folders() -> None:
    """Create the folders the embedded default writes to, and only those it uses.

    Settings create nothing at import time, so a production container (PostgreSQL, Redis, SMTP) can run with a
    read-only root filesystem; the embedded default (SQLite, the filesystem broker, mail to files) gets its folders
    here, in every process (web, worker, beat, manage.py) before the first connection needs them.
    """
    from django.conf import settings

    folders: list[Path] = []
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
        folders.append(Path(database["NAME"]).parent)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [Path(str(options[key])) for key in ("data_folder_in", "processed_folder", "control_folder")]
    if not settings.PRODUCTION:
        # WhiteNoise warns at start-up about a missing STATIC_ROOT, which development never fills.
        folders.append(Path(settings.STATIC_ROOT))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
