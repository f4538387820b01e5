"""Mentor Link settings.

The only place that reads the environment. Every variable has an embedded default so that `make run` works with
no configuration (SQLite, a filesystem broker, the bundled fake Canvas); `DJANGO_ENV=production` switches DEBUG off
and refuses to start without the production secrets. The README has the table of variables.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Local state of the embedded default (SQLite file, filesystem broker, demo mail, fake Canvas state). Nothing is
# created here at import time: a production container may run with a read-only root filesystem. The folders the
# embedded default needs are made by CoreConfig.ready() (mentorship/core/apps.py), only when that default is in use.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("DJANGO_ENV must be development, test or production.")
PRODUCTION = DJANGO_ENV == "production"


def _required_in_production(name: str, dev_default: str) -> str:
    """Production secrets have no default: a missing one stops the process at start, not at first use."""
    if PRODUCTION:
        value = env.str(name, default="")
        if not value:
            raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
        return value
    return env.str(name, default=dev_default)


# --- Core ---------------------------------------------------------------------------------------------------
SECRET_KEY = _required_in_production("SECRET_KEY", "dev-insecure-mentor-link-secret-key-change-me-0123456789")
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# A trial on a laptop (docker-compose.yml's `trial` profile) has no TLS in front. Production refuses plain-HTTP
# cookies unless this is said explicitly; with it, every page carries a "trial" banner (docs/decisions.md).
TRIAL_PLAIN_HTTP = env.bool("TRIAL_PLAIN_HTTP", default=False)
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "csp",
    "axes",
    "ninja",  # the SIS API's docs page served from the portal's own static files (CSP: 'self' only)
    "mentorship.core",
    "mentorship.accounts",
    "mentorship.people",
    "mentorship.assignments",
    "mentorship.sync",
    "mentorship.mentors",
    "mentorship.audit",
    "mentorship.portal",
    "mentorship.api",
]

MIDDLEWARE = [
    # Outermost, so a request's latency includes every other middleware (mentorship/metrics/middleware.py).
    "mentorship.metrics.middleware.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside WhiteNoise so static files get the security headers too.
    "mentorship.core.middleware.SecurityHeadersMiddleware",
    # Probes are answered before anything checks the Host header (mentorship/core/probes.py).
    "mentorship.core.probes.HealthProbeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mentorship.core.middleware.RequestIdMiddleware",
    "csp.middleware.CSPMiddleware",
    "mentorship.core.middleware.BadInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mentorship.core.structured_logging.LogUserMiddleware",
    "mentorship.core.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mentorship.core.middleware.SessionTimeoutMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mentorship.urls"
WSGI_APPLICATION = "mentorship.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mentorship.portal.context_processors.portal",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers (web, worker, beat) queue on the
    # busy timeout instead of failing with "database is locked" when a read transaction tries to upgrade.
    # WAL lets pages read while a writer works; the busy timeout is how long a writer waits for the one write lock.
    # Writers hold it briefly (a big import commits in chunks, docs/decisions.md, "Big imports are staged, then
    # switched on at once"), so a wait this long means something is stuck and the request should fail, not hang.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test_db.sqlite3"))}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        # No JIT: PostgreSQL compiles any query planned above jit_above_cost (the audit export's, for one) before
        # its first row; a portal's queries are short or streamed and never earn that compile time back.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limited lookups, mentor page data) ------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "mentorlink_cache",
        }
    }

# --- Auth, sessions, security ----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Lock out by user and address together: guessing one account from one place is stopped without letting anyone
# lock a colleague out from elsewhere. The lockout page says nothing about whether the account exists.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# Staff accounts (mentorship/accounts/services.py): an invitation link works once, for this many days; a password
# reset link works once (Django's token changes with the password), for this many seconds; reset mails are limited
# per address and per client address in an hour (the same answer is shown either way: no account enumeration).
INVITATION_VALID_DAYS = env.int("INVITATION_VALID_DAYS", default=7)
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=2 * 3600)
PASSWORD_RESET_PER_HOUR = env.int("PASSWORD_RESET_PER_HOUR", default=5)
# A coordinator, auditor or admin may sign in with Canvas: their account is found by the Canvas user's e-mail the
# first time (mentorship/accounts/oauth.py). Off: staff always use their Mentor Link password.
STAFF_CANVAS_SIGN_IN = env.bool("STAFF_CANVAS_SIGN_IN", default=True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION and not TRIAL_PLAIN_HTTP)
if PRODUCTION and not SESSION_COOKIE_SECURE and not TRIAL_PLAIN_HTTP:
    raise ImproperlyConfigured(
        "SESSION_COOKIE_SECURE is off in production: sign-ins would travel over plain HTTP. Put TLS in front of the "
        "portal, or set TRIAL_PLAIN_HTTP=true for a trial with demo data only."
    )
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "mentorship.core.views.csrf_failure"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_ABSOLUTE_TIMEOUT_SECONDS", default=8 * 3600)
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION and not TRIAL_PLAIN_HTTP)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_REDIRECT_EXEMPT = [r"^healthz(/|$)"]
# No HSTS over a plain-HTTP trial: it would pin the trial host (often localhost) to https in the browser for a year.
SECURE_HSTS_SECONDS = 0 if TRIAL_PLAIN_HTTP else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# The `preload` token does nothing until someone submits the school's registrable domain to the browsers' list
# (a deliberate, domain-wide step); sending it keeps `check --deploy` clean. Set false to leave it out.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)

# Canvas as the portal's servers reach it (API, token exchange) and as people's browsers reach it (sign-in page,
# links). They differ only where the two sit on different networks, as in the compose trial; production requires
# CANVAS_BASE_URL so a forgotten setting never sends a school's portal to the demo fake.
CANVAS_BASE_URL = _required_in_production("CANVAS_BASE_URL", "http://127.0.0.1:8001").rstrip("/")
CANVAS_BROWSER_URL = env.str("CANVAS_BROWSER_URL", default="").rstrip("/")  # empty: the same as CANVAS_BASE_URL

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'", CANVAS_BROWSER_URL or CANVAS_BASE_URL],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- Static files -------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves what scripts/build_assets.py collected here (hashed names, a manifest, gzip and brotli copies).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Email --------------------------------------------------------------------------------------------------
# The embedded default writes each message to a file under var/mail/ rather than printing it: a pairing code in a
# message must never end up in a console or log.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default=f"filemail:///{VAR_DIR / 'mail'}")  # environ drops one "/"
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Mentor Link <mentor-link@example.edu>")
if PRODUCTION and not EMAIL_CONFIG["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    raise ImproperlyConfigured("EMAIL_URL must name a real mail server (smtp://...) when DJANGO_ENV=production.")

# --- Celery -------------------------------------------------------------------------------------------------
BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Retry delays stay far below the visibility timeout so a slow task is never delivered twice by Redis itself.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue name per deployment (or per test session) so two portals never eat each other's tasks on a shared broker.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="mentorlink")
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The default scheduler plus a heartbeat file for beat's healthcheck (mentorship/core/beat.py).
CELERY_BEAT_SCHEDULER = "mentorship.core.beat:HeartbeatScheduler"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# --- Canvas -------------------------------------------------------------------------------------------------
CANVAS_TOKEN = _required_in_production("CANVAS_TOKEN", "demo-admin-token")
CANVAS_ACCOUNT_ID = env.str("CANVAS_ACCOUNT_ID", default="1")
CANVAS_ROOT_ACCOUNT_ID = env.str("CANVAS_ROOT_ACCOUNT_ID", default="1")
CANVAS_OAUTH_CLIENT_ID = env.str("CANVAS_OAUTH_CLIENT_ID", default="demo-client-id")
CANVAS_OAUTH_CLIENT_SECRET = _required_in_production("CANVAS_OAUTH_CLIENT_SECRET", "demo-client-secret")
CANVAS_TIMEOUT = (env.float("CANVAS_CONNECT_TIMEOUT", default=5.0), env.float("CANVAS_READ_TIMEOUT", default=30.0))
# Fernet key(s) for Canvas tokens at rest, comma-separated, newest first (rotation). Derived from SECRET_KEY in dev.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DJANGO_ENV=production.")

# --- Audit log (docs/operations.md, "Audit keys, checkpoints and verification") --------------------------------
# HMAC keys for the chain's per-event MACs, "key_id:base64key", comma-separated, newest first (rotation: the first
# one MACs new events, the others still verify old ones). Derived from SECRET_KEY in dev.
AUDIT_HMAC_KEYS = env.list("AUDIT_HMAC_KEYS", default=[])
if PRODUCTION and not AUDIT_HMAC_KEYS:
    raise ImproperlyConfigured("AUDIT_HMAC_KEYS must be set when DJANGO_ENV=production.")
# The Ed25519 private key (base64 of its 32-byte seed) that signs the chain's checkpoints. Derived in dev.
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
if PRODUCTION and not AUDIT_SIGNING_KEY:
    raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be set when DJANGO_ENV=production.")
# Signed checkpoints go to append-only files here: outside the database, where its roles cannot change them.
AUDIT_CHECKPOINT_DIR = Path(env.str("AUDIT_CHECKPOINT_DIR", default=str(VAR_DIR / "audit-checkpoints")))
AUDIT_CHECKPOINT_EVERY = env.int("AUDIT_CHECKPOINT_EVERY", default=1000)  # events between checkpoints ...
AUDIT_CHECKPOINT_SECONDS = env.int("AUDIT_CHECKPOINT_SECONDS", default=3600)  # ... or seconds, whichever first
# An event still unchained this long after it was written is reported by verification as a fault.
AUDIT_SEQUENCE_MAX_LAG_SECONDS = env.int("AUDIT_SEQUENCE_MAX_LAG_SECONDS", default=300)

# The health endpoints ask Canvas at most once per this many seconds, whatever the probe traffic.
HEALTH_CANVAS_CACHE_SECONDS = env.int("HEALTH_CANVAS_CACHE_SECONDS", default=30)

# --- Sync tuning --------------------------------------------------------------------------------------------
SIS_BULK_THRESHOLD = env.int("SIS_BULK_THRESHOLD", default=200)
# A bulk approval of more rows than this (or needing Canvas checks of more mentors than BULK_APPROVE_INLINE_CHECKS)
# runs on a worker behind a status page instead of in the request (docs/decisions.md, "Bulk approve: one
# transaction, one publish").
BULK_APPROVE_INLINE_MAX = env.int("BULK_APPROVE_INLINE_MAX", default=300)
BULK_APPROVE_INLINE_CHECKS = env.int("BULK_APPROVE_INLINE_CHECKS", default=20)
RECONCILE_REMOVAL_THRESHOLD = env.int("RECONCILE_REMOVAL_THRESHOLD", default=50)
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=6)
SWEEPER_STALE_SECONDS = env.int("SWEEPER_STALE_SECONDS", default=120)
SWEEPER_INTERVAL_SECONDS = env.int("SWEEPER_INTERVAL_SECONDS", default=60)
SYNC_BACKOFF_BASE_SECONDS = 2.0  # the first retry's wait; doubles per attempt (tests shorten it)

# Who to ask about the portal at this school (a name, an e-mail address or a phone number), shown in every page's
# footer; empty shows no contact line.
SCHOOL_CONTACT = env.str("SCHOOL_CONTACT", default="")

# --- Pages --------------------------------------------------------------------------------------------------
DASHBOARD_CACHE_SECONDS = 30  # docs/decisions.md, "The dashboard's figures are kept for 30 seconds"; 0 = off
# Where the file mail backend writes (set by a filemail:// EMAIL_URL above); None for a real mail server.
EMAIL_FILE_PATH = EMAIL_CONFIG.get("EMAIL_FILE_PATH")

# Beat jobs of the sync engine (docs/architecture.md, "Sync"). The sweeper and the circuit probe run every
# SWEEPER_INTERVAL_SECONDS; the others at fixed, unhurried intervals.
CELERY_BEAT_SCHEDULE.update(
    {
        # `expires`: a sweep or probe still queued when the next one is due is dropped, not run late twice.
        "sync-sweep": {
            "task": "sync.sweep",
            "schedule": float(SWEEPER_INTERVAL_SECONDS),
            "options": {"expires": float(SWEEPER_INTERVAL_SECONDS)},
        },
        "sync-circuit-probe": {
            "task": "sync.circuit_probe",
            "schedule": float(SWEEPER_INTERVAL_SECONDS),
            "options": {"expires": float(SWEEPER_INTERVAL_SECONDS)},
        },
        "sync-pairing-codes": {"task": "sync.pairing_codes_watch", "schedule": 300.0},
        "sync-dates": {"task": "sync.dates", "schedule": 900.0},
        "sync-reconcile": {"task": "sync.reconcile", "schedule": 6 * 3600.0},
        # Course names for the pages (docs/decisions.md, "Course names are cached, read by the worker").
        "sync-course-names": {"task": "sync.course_names", "schedule": 3600.0, "options": {"expires": 3600.0}},
    }
)
# The audit sequencer also runs after every commit that audits; beat is the backstop (a lost message, a cache outage).
CELERY_BEAT_SCHEDULE["audit-sequence"] = {"task": "audit.sequence", "schedule": 10.0, "options": {"expires": 10.0}}
CELERY_BEAT_SCHEDULE["audit-checkpoint"] = {"task": "audit.checkpoint", "schedule": 300.0}
# Canvas grants of mentors who never signed out are revoked once no session can still use them.
CELERY_BEAT_SCHEDULE["accounts-credentials-expire"] = {"task": "accounts.credentials_expire", "schedule": 3600.0}
# Big CSV imports whose worker message was lost are sent again.
CELERY_BEAT_SCHEDULE["assignments-import-sweep"] = {"task": "assignments.import_sweep", "schedule": 300.0}
# Bulk approvals whose worker message was lost are sent again.
CELERY_BEAT_SCHEDULE["assignments-bulk-approve-sweep"] = {"task": "assignments.bulk_approve_sweep", "schedule": 300.0}
# Coordinators' weekly digest of assignments ending soon (mentorship/assignments/tasks.py).
CELERY_BEAT_SCHEDULE["assignments-weekly-digest"] = {
    "task": "assignments.weekly_digest",
    "schedule": crontab(minute=0, hour=7, day_of_week="mon"),
}
# Mentors hear a week ahead that their assignment ends (mentorship/assignments/notifications.py).
CELERY_BEAT_SCHEDULE["assignments-mentor-ending-notices"] = {
    "task": "assignments.mentor_ending_notices",
    "schedule": crontab(minute=30, hour=7),
}

# --- Metrics (/metrics for Prometheus; docs/operations.md, "Metrics") ------------------------------------------
# A scraper shows the bearer token or calls from an allowed address; with neither set /metrics is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# --- Error tracking (Sentry; docs/operations.md, "Sentry"): off unless a DSN is given ------------------------------
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default=DJANGO_ENV)
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)

# --- Logging: no tokens, no pairing codes, no student data -----------------------------------------------------
# JSON lines (request id, user id, Celery task id; docs/operations.md, "Logs") in production, readable text for a
# console otherwise. The redaction filter runs on every record either way.
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
# The proxies (addresses or networks) whose X-Request-ID the portal keeps; from anyone else the id is made here.
REQUEST_ID_TRUSTED_PROXIES = env.list("REQUEST_ID_TRUSTED_PROXIES", default=[])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "mentorship.core.logging.RedactSecretsFilter"}},
    "formatters": {
        "structured": {"()": "mentorship.core.structured_logging.formatter", "json": LOG_FORMAT == "json"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "structured", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
# The worker keeps these handlers instead of installing its own, so its lines are structured too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
