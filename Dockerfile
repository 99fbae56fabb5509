# Multi-stage: build the venv (llama-cpp-python compiles) with a toolchain, ship it without one.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
# llama.cpp for any x86-64 CPU with AVX2, not for the build machine's (see the Makefile)
ENV PATH=/opt/venv/bin:$PATH \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rag rag
COPY service service
COPY eval eval
COPY prompts prompts
RUN pip install --no-cache-dir torch==2.13.0 && pip install --no-cache-dir .

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* && useradd --uid 10001 --create-home rag
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False \
    RAG_HOST=0.0.0.0 RAG_STORE_DIR=/tmp/rag
WORKDIR /app
COPY data data
USER rag
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fs http://127.0.0.1:8000/health || exit 1
CMD ["rag", "serve"]
