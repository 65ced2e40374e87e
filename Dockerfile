FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY connectors ./connectors
RUN pip install --no-cache-dir . \
 && pip install --no-cache-dir --ignore-requires-python --no-deps opa-golib-python-bindings==0.4.4
COPY policies ./policies
COPY deploy/gateway.yaml ./gateway.yaml
EXPOSE 8080
CMD ["gateway", "serve", "--config", "/app/gateway.yaml", "--host", "0.0.0.0", "--port", "8080"]
