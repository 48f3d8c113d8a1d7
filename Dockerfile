# syntax=docker/dockerfile:1
# One image for both services: `slolab serve tasks` or `slolab serve predictor`.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: resolve and install every dependency into a virtualenv -----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY slolab ./slolab
COPY services ./services
# constraints.txt pins every dependency (`make lock` refreshes it), and the build
# backend is pinned here (pyproject.toml only asks setuptools>=77; pip would fetch the
# newest into an isolated build environment): builds are repeatable.
ARG SETUPTOOLS_VERSION=84.2.1
RUN /opt/venv/bin/pip install "setuptools==${SETUPTOOLS_VERSION}" \
 && /opt/venv/bin/pip install --no-build-isolation -c constraints.txt . \
 && /opt/venv/bin/python -m compileall -q /opt/venv

# --- runtime: the virtualenv only, no compiler, no pip cache, not root --------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 slolab \
 && useradd --system --uid 10001 --gid slolab --no-create-home --shell /usr/sbin/nologin slolab
COPY --from=builder /opt/venv /opt/venv
COPY --chmod=0755 docker/slolab-healthcheck /usr/local/bin/slolab-healthcheck
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TASKS_HOST=0.0.0.0 \
    PREDICTOR_HOST=0.0.0.0 \
    # Fault state and multiprocess metrics: mount a tmpfs here (root stays read-only).
    SLOLAB_STATE_DIR=/tmp/slolab \
    # gunicorn's control socket goes to $XDG_RUNTIME_DIR, else $HOME (read-only here).
    XDG_RUNTIME_DIR=/tmp \
    HEALTHCHECK_URL=http://127.0.0.1:8081/healthz
WORKDIR /tmp
USER 10001:10001
EXPOSE 8081 8082
# No curl or wget in a slim image; bash's /dev/tcp costs less than starting Python.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["slolab-healthcheck"]
ENTRYPOINT ["slolab"]
CMD ["serve", "tasks"]
