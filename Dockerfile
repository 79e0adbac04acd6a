# klachtradar service image. One image, several roles (listen / process / index / serve),
# chosen by the command in docker-compose.yml.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    KLACHTRADAR_HOME=/app
WORKDIR /app
RUN useradd --create-home --uid 10001 klachtradar
COPY pyproject.toml README.md ./
COPY src ./src
COPY configs ./configs
COPY models ./models
COPY data/demo ./data/demo
# The default image has no torch. For the transformer backend build with
# --build-arg EXTRAS=all --build-arg TORCH_INDEX=<your CPU wheel index>: without a CPU
# index, pip takes a multi-GB CUDA build of torch.
ARG EXTRAS=kafka,es,web,listen
ARG TORCH_INDEX=""
RUN if [ -n "$TORCH_INDEX" ]; then pip install --index-url "$TORCH_INDEX" "torch==2.13.0"; fi \
 && pip install ".[${EXTRAS}]"
# var/ (stores, checkpoints) and models/ (the registry: train, promote, hot swap) are
# written at run time. docker-compose.yml mounts a named volume on each; a new named
# volume is seeded from the image, ownership included, so both stay writable.
RUN mkdir -p /app/var && chown -R klachtradar /app/var /app/models
USER klachtradar
VOLUME ["/app/var"]
# Healthchecks are per role in docker-compose.yml (/ready on the metrics port, /healthz
# for serve), with python's urllib: the slim image has no curl.
ENTRYPOINT ["klachtradar"]
CMD ["demo", "--fast"]
