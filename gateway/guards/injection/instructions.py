"""Heuristics for text aimed at the assistant rather than at a person: `instruction` and `role_spoof`.

An instruction to a person ("Please send me the invoice by Friday", "Ignore my last email") has no
marker of an AI reader; these rules look for the markers: overriding earlier instructions, addressing the
model, shaping its reply, hiding things from the user, revealing its prompt. Role spoofing is text that
imitates the frame around the conversation: chat-template tokens, fake system/tool tags, role labels.

Every rule is a bounded pattern (fixed gaps, no nested repetition) so a 1 MB text scans in linear time.
Strengths are on the same 0..1 scale as the model; a rule alone at 0.5 or above flags its span.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .hits import Cues, Hit, Rule, pattern_hits

_I = re.IGNORECASE
_GAP = r"[^.!?\n]{0,40}?"

_INSTRUCTION = (
    Rule(
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip|abandon|drop)\b" + _GAP + r"\b(?:previous|prior|"
            r"above|earlier|preceding|former|original|all|any|your|the|these|those|other)\b" + _GAP + r"\b(?:"
            r"instructions?|prompts?|rules|directions|guidelines|directives?|guardrails|restrictions|programming|"
            r"system\s+message|safety\s+policy|policies)\b",
            _I,
        ),
        0.95,
        ("ignore", "disregard", "forget", "override", "bypass", "skip", "abandon", "drop"),
    ),
    Rule(
        re.compile(
            r"\b(?:new|updated|real|actual|true|hidden|secret|additional|override)\s+(?:system\s+)?"
            r"(?:instructions?|task|directive|orders)\s*:",
            _I,
        ),
        0.8,
        ("instruction", "instructions", "task", "directive", "orders"),
    ),
    Rule(
        re.compile(
            r"\b(?:dear|attention|note\s+to|hey|hi|hello|message\s+for|instructions?\s+for|to)\s+(?:the\s+)?"
            r"(?:ai|a\.i\.|ai\s+assistant|ai\s+agent|assistant|llm|large\s+language\s+model|language\s+model|"
            r"chat\s?bot|gpt|chatgpt|claude|gemini|copilot)\b\s*[:,!]",
            _I,
        ),
        0.85,
        ("ai", "a.i.", "assistant", "llm", "model", "chatbot", "bot", "gpt", "chatgpt", "claude", "gemini", "copilot"),
    ),
    Rule(
        re.compile(
            r"\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|a\.i\.|llm|large\s+language\s+model|language\s+model|"
            r"assistant|ai\s+assistant|chat\s?bot|gpt|claude|automated\s+agent|bot)\b",
            _I,
        ),
        0.9,
        ("ai", "a.i.", "llm", "model", "assistant", "chatbot", "bot", "gpt", "claude", "agent"),
    ),
    Rule(
        re.compile(
            r"\byou\s+are\s+now\s+(?:in\s+)?(?:dan\b|developer\s+mode|jailbroken|unrestricted|unfiltered|free\s+"
            r"from|no\s+longer\s+bound|an?\s+(?:ai|assistant|model|language\s+model)\b)|\bdo\s+anything\s+now\b|"
            r"\b(?:act|behave|respond)\s+as\s+(?:if\s+you\s+(?:are|were)\s+)?(?:an?\s+)?(?:unrestricted|"
            r"unfiltered|jailbroken|evil|uncensored)\b",
            _I,
        ),
        0.9,
        ("now", "act", "behave", "respond"),
    ),
    Rule(
        re.compile(
            r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this|it)\s+to|reveal\s+(?:this|it)\s+to|"
            r"alert|notify|warn)\s+(?:the\s+)?(?:user|human|customer|operator)\b|\bwithout\s+(?:telling|"
            r"informing|asking|notifying|alerting)\s+the\s+(?:user|human)\b",
            _I,
        ),
        0.85,
        ("user", "human", "customer", "operator"),
    ),
    Rule(
        re.compile(
            r"\b(?:reveal|print|output|repeat|show|leak|disclose|display)\s+(?:me\s+)?(?:your|the)\s+(?:full\s+|"
            r"entire\s+)?(?:system\s+prompt|initial\s+(?:prompt|instructions)|hidden\s+instructions|original\s+"
            r"instructions|instructions\s+above)\b",
            _I,
        ),
        0.9,
        ("prompt", "instructions"),
    ),
    Rule(
        re.compile(
            r"\b(?:in|to|into|within|throughout|of|with|from)\s+your\s+(?:responses?|repl(?:y|ies)|answers?|"
            r"outputs?|completions?|final\s+answer|generated\s+text)\b",
            _I,
        ),
        0.45,
        (
            "response",
            "responses",
            "reply",
            "replies",
            "answer",
            "answers",
            "output",
            "outputs",
            "completion",
            "completions",
            "final",
            "generated",
        ),
    ),
    Rule(
        re.compile(r"\b(?:when|before|after|while)\s+(?:responding|answering|replying)\b", _I),
        0.35,
        ("responding", "answering", "replying"),
    ),
    Rule(
        re.compile(
            r"\b(?:the|your)\s+user\s+(?:has\s+)?(?:asked|wants|requested|instructed|authori[sz]ed)\s+you\b", _I
        ),
        0.6,
        ("user",),
    ),
)

_ROLE_SPOOF = (
    Rule(
        re.compile(
            r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|"
            r"begin_of_text|end)\|>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>|<\|?(?:bos|eos)\|?>",
            _I,
        ),
        0.9,
        ("<|", "inst]", "<<sys", "<</sys", "_of_turn>", "<bos", "<eos"),
    ),
    Rule(
        re.compile(
            r"</?(?:system|system[_-]?(?:prompt|message)|tool|tool[_-]?(?:call|result|response|output)s?|"
            r"function[_-]?(?:call|result)s?|assistant|user[_-]?(?:message|query)|instructions?|"
            r"developer)(?:\s[^<>\n]{0,80})?>",
            _I,
        ),
        0.75,
        ("system", "tool", "tools", "function", "assistant", "user", "instruction", "instructions", "developer"),
    ),
    Rule(
        re.compile(
            r"^[ \t>#*]{0,6}\[?(?:system|developer|assistant)(?:\s+(?:message|prompt|override|note|instruction))?"
            r"\]?\s*:|^\s*\[(?:system|developer)(?:\s+(?:message|prompt|override|note))?\]|"
            r"^#{1,4}\s*(?:system|instruction|instructions|response)\s*:?\s*$",
            _I | re.MULTILINE,
        ),
        0.45,
        ("system", "developer", "assistant", "instruction", "instructions", "response"),
    ),
    Rule(
        re.compile(r"(?:^|\n\n)(?:human|user)\s*:[^\n]{0,400}\n+\s*(?:assistant|ai)\s*:", _I),
        0.6,
        ("assistant", "ai"),
    ),
)

# Mentions of what a conversation holds, next to a verb that moves data somewhere.
_EXFILTRATION_TEXT = (
    Rule(
        re.compile(
            r"\b(?:send|forward|post|upload|email|transmit|exfiltrate|leak|append|attach|encode|embed)\b"
            + _GAP
            + r"\b(?:(?:the|this|our|entire|whole|full)\s+)?(?:conversation|chat\s+(?:history|log)|"
            r"message\s+history|previous\s+messages|system\s+prompt|context\s+window)\b",
            _I,
        ),
        0.7,
        ("conversation", "chat", "history", "messages", "prompt", "context"),
    ),
)


def instruction_hits(text: str, cues: Cues) -> Iterator[Hit]:
    yield from pattern_hits(text, cues, _INSTRUCTION, "instruction")
    yield from pattern_hits(text, cues, _EXFILTRATION_TEXT, "exfiltration")


def role_spoof_hits(text: str, cues: Cues) -> Iterator[Hit]:
    yield from pattern_hits(text, cues, _ROLE_SPOOF, "role_spoof")
