"""PII and secrets: found with Presidio in process (no NLP model needed), redacted before anything leaves.

analyzer.py     the Inspector: Presidio's analyzer with the configured recognizers, findings per text
nlp.py          the NLP engine: a blank spaCy pipeline by default, an installed model when configured
recognizers/    the gateway's own recognizers (secrets), in Presidio's YAML form
segments.py     the texts of a call (by where they are) and how to write redacted ones back
redactor.py     the redaction modes: mask, replace, hash, pseudonymize (and restoring pseudonyms)
stream.py       a bounded look-behind for streamed text
keys.py         the key for keyed hashes and pseudonyms
"""
