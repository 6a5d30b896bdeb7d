# Wyoming text-to-speech server with Kokoro-82M voices; the embedded offline model included.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY wyoming_polytts ./wyoming_polytts
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade pip setuptools wheel \
    && /opt/venv/bin/pip install --no-cache-dir ".[embedded,japanese,asr]"

FROM python:3.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    POLYTTS_DATA_DIR=/data \
    HF_HOME=/data/huggingface
VOLUME /data
EXPOSE 10200 10201
ENTRYPOINT ["wyoming-polytts", "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data"]
