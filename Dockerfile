# One image for web, worker, beat and the one-shot `migrate` service (docker-compose.yml picks the command), and for
# the trial's fake Canvas. Built from the repository root; .dockerignore keeps the developer's .venv, .git, var/
# (SQLite, demo mail with pairing codes) and any .env out of it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_LINK_MODE=copy \
    PATH="/opt/venv/bin:$PATH"

RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --system --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin mentorlink

WORKDIR /app
COPY pyproject.toml uv.lock ./
# The fake Canvas's server libraries (dependency group "fake") only for an image that runs the trial's fake Canvas.
ARG WITH_FAKE_CANVAS=0
RUN if [ "$WITH_FAKE_CANVAS" = "1" ]; then uv sync --frozen --no-dev --group fake --no-install-project; \
    else uv sync --frozen --no-dev --no-install-project; fi

COPY . .
# The production static files (hashed names, manifest, compressed copies) by the same script the tests use. It
# reads no secret: the settings' required values get build-only placeholders inside the script's own process.
RUN python scripts/build_assets.py --static-root /app/staticfiles

# Nothing in /app is writable by the portal; the embedded default's var/ folder is not used in production, and the
# compose file mounts a volume for beat's schedule.
ENV STATIC_ROOT=/app/staticfiles \
    VAR_DIR=/var/lib/mentorlink
RUN mkdir -p /var/lib/mentorlink /var/lib/mentorlink-audit \
    && chown 10001:10001 /var/lib/mentorlink /var/lib/mentorlink-audit
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "mentorship.wsgi:application"]
