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
    && /opt/venv/bin/pip install --no-cache-dir ".[embedded,japanese,chinese,asr]"

FROM python:3.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    POLYTTS_DATA_DIR=/data \
    HF_HOME=/data/huggingface
VOLUME /data
EXPOSE 10200 10201
ENTRYPOINT ["wyoming-polytts", "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data"]

# CUDA variant: docker build --target cuda -t wyoming-polytts:cuda .
# docker run --gpus all -p 10200:10200 -p 10201:10201 -v polytts-data:/data wyoming-polytts:cuda
# Kokoro runs on onnxruntime-gpu (or --kokoro-runtime torch on PyTorch's CUDA build), Whisper
# on CTranslate2's CUDA kernels; --device auto picks the GPU when the runtime sees one.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS cuda
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
       build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY wyoming_polytts ./wyoming_polytts
RUN python3.11 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --upgrade pip setuptools wheel \
    && /opt/venv/bin/pip install --no-cache-dir ".[embedded,japanese,chinese,asr,torch]" \
    && /opt/venv/bin/pip uninstall -y onnxruntime \
    && /opt/venv/bin/pip install --no-cache-dir onnxruntime-gpu
ENV PATH="/opt/venv/bin:${PATH}" \
    POLYTTS_DATA_DIR=/data \
    HF_HOME=/data/huggingface
VOLUME /data
EXPOSE 10200 10201
ENTRYPOINT ["wyoming-polytts", "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data", "--device", "auto"]
