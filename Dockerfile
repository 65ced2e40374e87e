FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY connectors ./connectors
RUN pip install --no-cache-dir .
COPY policies ./policies
COPY deploy/gateway.yaml ./gateway.yaml
EXPOSE 8080
CMD ["gateway", "serve", "--config", "/app/gateway.yaml", "--host", "0.0.0.0", "--port", "8080"]
