FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY connectors ./connectors
RUN pip install --no-cache-dir . \
 && pip install --no-cache-dir --ignore-requires-python --no-deps opa-golib-python-bindings==0.4.4
# Names, places and organisations (PERSON, LOCATION, ORGANIZATION) need a spaCy model; the pattern types need
# none, so by default the image has none. `docker build --build-arg SPACY_MODEL=en_core_web_lg .` installs one
# (the builder fetches it from spaCy's releases on GitHub) after spaCy, so `spacy download` picks the version
# that matches the installed spaCy, and names it as pii.nlp_model in the image's config.
ARG SPACY_MODEL=""
RUN if [ -n "$SPACY_MODEL" ]; then python -m spacy download "$SPACY_MODEL" --no-cache-dir; fi
COPY policies ./policies
COPY deploy/gateway.yaml ./gateway.yaml
# pii.nlp_model in the image's config, then the gateway's own loader must load the model or the build fails
# (a config mounted over /app/gateway.yaml must set pii.nlp_model itself)
RUN if [ -n "$SPACY_MODEL" ]; then python -c "import pathlib, sys, yaml; \
      from gateway.pii.nlp import build_nlp_engine; from gateway.settings import load_settings; \
      path = pathlib.Path(sys.argv[1]); config = yaml.safe_load(path.read_text()); \
      config.setdefault('pii', {})['nlp_model'] = sys.argv[2]; \
      path.write_text(yaml.safe_dump(config, sort_keys=False)); \
      pii = load_settings(path, env={}).pii; build_nlp_engine(pii.languages, pii.nlp_model)" \
      /app/gateway.yaml "$SPACY_MODEL"; fi
EXPOSE 8080
CMD ["gateway", "serve", "--config", "/app/gateway.yaml", "--host", "0.0.0.0", "--port", "8080"]
