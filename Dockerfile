# Production image: the app's wheel and its locked runtime dependencies, no dev tools and
# no source tree. Configure with the same PODPASS_* / DATABASE_URL variables as everywhere
# else; migrations run on start.

# Stage 1: the wheel, built by the locked setuptools. It carries the files the app reads at
# run time (templates, static files, the spoken notices, the OPAWG data: pyproject.toml's
# package-data).
FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/build.txt requirements/
RUN pip install --require-hashes -r requirements/build.txt
COPY pyproject.toml ./
COPY app ./app
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

# Stage 2: what runs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PODPASS_ENV=production PODPASS_AUDIO_DIR=/data/audio
WORKDIR /srv/podpass

# The locked dependencies, hash-checked, in a layer of their own: rebuilt only when the lock
# changes, not at every change to the app.
COPY requirements/runtime.txt requirements/
RUN pip install --require-hashes -r requirements/runtime.txt && rm -r requirements
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-deps /tmp/dist/*.whl && rm -r /tmp/dist \
    && useradd --system --home /srv/podpass podpass \
    && mkdir -p /data/audio && chown podpass /data/audio

# The migrations are not in the wheel: `podpass migrate` finds them through the alembic.ini
# in the working directory (its env.py imports the installed app and reads DATABASE_URL).
COPY alembic.ini ./
COPY migrations ./migrations
USER podpass
VOLUME ["/data"]
EXPOSE 8000

# The slow-client limits are the Makefile's UVICORN_LIMITS. Behind a reverse proxy
# (docs/production.md), set FORWARDED_ALLOW_IPS to its address so client addresses are
# trusted from it.
CMD ["sh", "-c", "podpass migrate && podpass seed && exec uvicorn --factory app.main:create_app --host 0.0.0.0 --port 8000 --proxy-headers --workers ${WEB_CONCURRENCY:-2} --timeout-keep-alive 5 --limit-concurrency 1000 --timeout-graceful-shutdown 30"]
