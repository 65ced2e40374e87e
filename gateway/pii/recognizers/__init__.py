"""The gateway's own recognizers: secrets in `secrets.yaml` (Presidio's YAML form), and classes where a
pattern needs a check in code."""
