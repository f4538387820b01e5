# One image for web, worker and beat (docker-compose.yml picks the command). The fake Canvas uses it too.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_LINK_MODE=copy \
    PATH="/opt/venv/bin:$PATH"

RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --create-home --uid 10001 mentorlink

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
RUN DJANGO_ENV=development python manage.py collectstatic --noinput \
 && mkdir -p /app/var && chown -R mentorlink /app/var

USER mentorlink
EXPOSE 8000
CMD ["gunicorn", "mentorship.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]
