# Production image: no dev dependencies. Configure with the same PODPASS_* / DATABASE_URL
# variables as everywhere else; migrations run on start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PODPASS_ENV=production PODPASS_AUDIO_DIR=/data/audio
WORKDIR /srv/podpass

COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install -e . && useradd --system --home /srv/podpass podpass \
    && mkdir -p /data/audio && chown podpass /data/audio
USER podpass
VOLUME ["/data"]
EXPOSE 8000

# The slow-client limits are the Makefile's UVICORN_LIMITS. Behind a reverse proxy (README,
# "Production"), set FORWARDED_ALLOW_IPS to its address so client addresses are trusted from it.
CMD ["sh", "-c", "podpass migrate && podpass seed && exec uvicorn --factory app.main:create_app --host 0.0.0.0 --port 8000 --proxy-headers --workers ${WEB_CONCURRENCY:-2} --timeout-keep-alive 5 --limit-concurrency 1000 --timeout-graceful-shutdown 30"]
