# API image for docker-compose.yml (production layout): the runtime dependencies only.
# EXTRAS=st adds sentence-transformers; install the torch build for your hardware first
# (TORCH_SPEC, e.g. "torch==2.13.0" for CPU, or a CUDA build from its index).
FROM python:3.11-slim
ARG EXTRAS=""
ARG TORCH_SPEC=""
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir ./vendor/en_core_web_sm \
 && if [ -n "$TORCH_SPEC" ]; then pip install --no-cache-dir "$TORCH_SPEC"; fi \
 && pip install --no-cache-dir -c constraints.txt ".${EXTRAS:+[$EXTRAS]}" \
 && cd / && python -m index.embedders.engine
# ^ the embedding engine, built into the installed package (not /app's copy)
ENV BROKERKG_DATA_DIR=/data BROKERKG_HOST=0.0.0.0 BROKERKG_LOG_FORMAT=json
EXPOSE 8000
CMD ["brokerkg", "serve"]
