# Worker image for the cloud work pools (ECS, Cloud Run, Azure Container Instances) and the services
# (MLflow server, dashboard): the project and its pinned dependencies, CPU torch, run as a non-root user.
# Build: docker build -t torchtrader:$(git rev-parse --short HEAD) .
# GPU workers: build with --build-arg TORCH_SPEC="torch==2.13.0" --build-arg TORCH_INDEX=<CUDA index>.

FROM python:3.11.14-slim-bookworm AS build
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX="https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first (the CPU wheel unless TORCH_* say otherwise), then the project with its pinned
# dependencies, and psycopg for the Postgres state store and MLflow backend.
RUN pip install --index-url "$TORCH_INDEX" "$TORCH_SPEC"
COPY pyproject.toml constraints.txt README.md ./
COPY torchtrader ./torchtrader
COPY tasks ./tasks
COPY flows ./flows
RUN pip install -c constraints.txt . "psycopg[binary]>=3.2"

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="torchtrader" \
      org.opencontainers.image.source="https://github.com/torchtrader/torchtrader" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 torchtrader \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin torchtrader
COPY --from=build /opt/venv /opt/venv
COPY deployments /app/deployments
COPY flows /app/flows
COPY tasks /app/tasks
WORKDIR /app
# Read-only root filesystems in the cloud: every tool's home and cache points at /tmp (a scratch volume).
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    PREFECT_HOME=/tmp/prefect \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=true \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    RAY_USAGE_STATS_ENABLED=0 \
    MLFLOW_ENABLE_TELEMETRY=false \
    GX_ANALYTICS_ENABLED=false
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=10s --retries=3 CMD ["python", "-c", "import torchtrader"]
ENTRYPOINT []
CMD ["torchtrader", "--help"]
