# One image for every Streetwatch service in docker-compose.yml: the command picks the service
# (`streetwatch ingest`, `rules`, `api`, `db upgrade`, `simulate`). docs/deploy.md tells how to run it.
# Pinned base: a full version tag of the slim Debian image, not a moving `3.11` or `latest`.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREETWATCH_STATE_DIR=/var/lib/streetwatch

# A system account without a shell; its home is the state dir (the ingester's dead letters), owned
# by it, so a named volume mounted there starts out writable for it.
RUN groupadd --system --gid 10001 streetwatch \
 && useradd --system --uid 10001 --gid streetwatch --home-dir /var/lib/streetwatch \
        --create-home --shell /usr/sbin/nologin streetwatch

# The distribution with its PostgreSQL driver, not the test extra; the sources are not kept.
COPY pyproject.toml README.md /src/
COPY streetwatch /src/streetwatch
COPY ingest /src/ingest
COPY rules /src/rules
COPY api /src/api
COPY dashboards /src/dashboards
COPY simulators /src/simulators
RUN pip install "/src[postgres]" && rm -rf /src

USER streetwatch
WORKDIR /var/lib/streetwatch
EXPOSE 8080 9641 9642
CMD ["streetwatch", "--help"]
