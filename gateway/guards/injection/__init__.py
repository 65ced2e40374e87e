"""Prompt-injection detector for untrusted content that flows back into agents.

Tool results, MCP tool results, A2A answers and retrieved documents are scanned in process (no download, no
GPU) by heuristics and a small logistic-regression model; policies read the result as `input.injection`:

    detector = InjectionDetector()
    report = detector.scan([("mcp.result", text), ("messages[3].content", other)])
    report.document()   # {"score": 0.0..1.0, "where": ["mcp.result"], "signals": ["instruction", "model"]}

Signals (`SIGNALS`), named when they fire on any span, whatever its score:

- `instruction`: text aimed at the assistant rather than at a person: overriding earlier instructions,
  addressing the AI ("Dear assistant:", "if you are an AI"), shaping its reply ("in your response"), hiding
  things from the user, asking for its system prompt.
- `role_spoof`: imitations of the conversation's frame: chat-template tokens (`<|im_start|>`, `[INST]`,
  `<<SYS>>`), fake tags (`<system>`, `</tool>`, `</function_results>`), role labels at a line's start
  (`System:`, `### Instruction:`), a fake `Human:`/`Assistant:` exchange.
- `hidden_unicode`: Unicode tag characters (U+E0000-U+E007F) outside an emoji flag, runs of zero-width or
  bidirectional control characters, runs of variation selectors.
- `exfiltration`: markdown/HTML images or links whose URL carries a placeholder (`?q={conversation}`) or a
  long data-like query string, and text asking to send the conversation or system prompt somewhere.
- `encoded_payload`: base64, hex or percent-encoded runs that decode to text which reads as an instruction.
- `model`: the model alone gives a sentence or line a probability of at least 0.5.

Modules: detector.py (the scan), report.py (the result), segments.py (sentence spans), instructions.py,
hidden.py, exfiltration.py, encoded.py (heuristics), model.py (features and scoring), corpus.py and
training.py (data split and fitting, used by scripts/train-injection and bench/injection.py only).
"""

from .detector import InjectionDetector
from .report import DEFAULT_THRESHOLD, EMPTY, InjectionReport, Passage

SIGNALS: tuple[str, ...] = ("instruction", "role_spoof", "hidden_unicode", "exfiltration", "encoded_payload", "model")

__all__ = ["DEFAULT_THRESHOLD", "EMPTY", "SIGNALS", "InjectionDetector", "InjectionReport", "Passage"]
