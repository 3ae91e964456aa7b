# API image for docker-compose.yml (production layout). Same install as `make install`.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make install PYTHON=python3
ENV BROKERKG_DATA_DIR=/data BROKERKG_HOST=0.0.0.0
EXPOSE 8000
CMD [".venv/bin/brokerkg", "serve"]
