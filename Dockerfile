# syntax=docker/dockerfile:1
# Insight images, built by docker-compose.yml:
#   runtime  the API (also the one-shot `train` and `llm-model` jobs): the project's dependencies at the
#            versions of requirements.lock, run as the unprivileged user `insight`
#   mlflow   the MLflow tracking server (mlflow from requirements.lock + the Postgres driver)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtual environment with the project and its locked dependencies ----------------------------
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies before code, so their layer (and llama.cpp's compile) is reused while only the code changes.
# The project's runtime dependencies (not the dev tools the lock also pins) at exactly the locked versions.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt \
    && CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --constraint requirements.lock -r runtime-requirements.txt
COPY README.md ./
COPY src/ src/
RUN pip install --no-deps .

# ---- runtime: the API --------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# libgomp1: OpenMP for llama.cpp (provider=local)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 insight \
    && useradd --system --uid 10001 --gid insight --home-dir /app --shell /usr/sbin/nologin insight
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY prompts/ prompts/
COPY configs/ configs/
COPY eval/ eval/
# Mount points for the named volumes: a fresh volume takes this ownership, so the user can write to it.
# The int8 query copy of the embedding model, derived from the installed one now rather than at first start.
RUN mkdir -p var/predictor var/models/llm var/auth var/eval var/mlflow var/chroma vectorstore \
    && /opt/venv/bin/python -m insight.rag.query_model var/models/embeddings \
    && chown -R insight:insight var vectorstore
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    ANONYMIZED_TELEMETRY=False \
    INSIGHT_PROMPTS_DIR=/app/prompts \
    INSIGHT_API__HOST=0.0.0.0 \
    INSIGHT_API__PORT=8000 \
    INSIGHT_LOG_FORMAT=json
USER insight
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["insight", "serve"]

# ---- mlflow: the tracking server ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS mlflow
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock /tmp/requirements.lock
RUN pip install --constraint /tmp/requirements.lock "mlflow==3.17.2" "psycopg2-binary==2.9.13" \
    && groupadd --system --gid 10002 mlflow \
    && useradd --system --uid 10002 --gid mlflow --home-dir /mlflow --shell /usr/sbin/nologin mlflow \
    && mkdir -p /mlflow/artifacts && chown -R mlflow:mlflow /mlflow
ENV MLFLOW_DISABLE_TELEMETRY=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
USER mlflow
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
