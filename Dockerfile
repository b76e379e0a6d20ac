# Holdspace production image.
#
#   podman build --format docker -t holdspace .        (see .ci/container.sh for this machine's flags)
#   podman run -e HOLDSPACE_SECRET_KEY=... -v holdspace-data:/data -p 8000:8000 holdspace
#   podman run -v holdspace-demo:/data -p 8000:8000 holdspace demo
#
# Debian's own Python 3.11 (python3, python3-venv), no python:* base. Stage one builds the wheel
# and every dependency's wheel; the final stage installs them into a virtual environment with
# pip's network turned off, and keeps no compiler, no build tools, no wheel cache and no secret.

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/build && /opt/build/bin/pip install --no-cache-dir --quiet build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# The package's wheel (built from an sdist, so only what the package declares goes in), then the
# wheels of everything it needs in production (PostgreSQL driver included).
RUN /opt/build/bin/python -m build --wheel --outdir /wheels . \
 && /opt/build/bin/pip wheel --no-cache-dir --quiet --wheel-dir /wheels "$(ls /wheels/holdspace-*.whl)[postgres]"

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Like Debian's own slim images: no manuals, translations or docs (licences kept).
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' > /etc/dpkg/dpkg.cfg.d/slim \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv tzdata \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
# The wheels are mounted from the build stage for this one step, never copied into a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/holdspace \
 && /opt/holdspace/bin/pip install --no-cache-dir --no-index --find-links /wheels --quiet "holdspace[postgres]" \
 && /opt/holdspace/bin/pip uninstall --quiet --yes pip setuptools
RUN groupadd --gid 10001 holdspace \
 && useradd --no-log-init --uid 10001 --gid holdspace --home-dir /data --no-create-home --shell /usr/sbin/nologin holdspace \
 && mkdir -p /data && chown holdspace:holdspace /data

# Configuration comes from the environment. HOLDSPACE_SECRET_KEY has no default on purpose:
# `serve` refuses to start without one (the demo makes its own).
ENV PATH=/opt/holdspace/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOLDSPACE_DATABASE_URL=sqlite:////data/holdspace.db \
    HOLDSPACE_HOST=0.0.0.0 \
    HOLDSPACE_PORT=8000 \
    HOLDSPACE_WORKERS=1 \
    TZ=UTC
VOLUME ["/data"]
WORKDIR /data
USER holdspace:holdspace
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python3 -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HOLDSPACE_PORT', '8000'), timeout=4)" || exit 1
ENTRYPOINT ["holdspace"]
CMD ["serve"]
