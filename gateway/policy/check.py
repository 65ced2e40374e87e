"""Load-time checks: find builtins the embedded engine cannot evaluate, before any request does.

regopy compiles a policy that calls an unknown builtin and fails (or silently yields undefined) only when
the rule runs; this scan names the builtin, the file and the line at load time instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.policy.cpp_rego import new_interpreter
from gateway.policy.source import PolicySource

_CALL = re.compile(r"(?<![\w.\"])([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*\(")
_DEFINED = re.compile(r"^\s*([A-Za-z_]\w*)\s*\(", re.M)
_IMPORT = re.compile(r"^\s*import\s+(?:data|input|future|rego)\.[\w.]*?(?:\s+as\s+(\w+))?\s*$", re.M)
_IMPORT_LAST = re.compile(r"^\s*import\s+data\.([\w.]+)", re.M)
_KEYWORDS = {"if", "not", "some", "every", "with", "as", "in", "contains", "else", "default", "package", "import"}


@dataclass(frozen=True)
class UnsupportedBuiltin:
    name: str
    file: str
    line: int

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: builtin '{self.name}' is not supported by the embedded engine "
            "(regopy); use policy.engine: opa, which supports it"
        )


def _strip(text: str) -> str:
    """Blank out comments and string literals, keeping line numbers."""
    text = re.sub(r"`[^`]*`", lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', lambda m: " " * len(m.group()), text)
    return re.sub(r"#[^\n]*", "", text)


def _local_names(source: PolicySource) -> set[str]:
    names: set[str] = set()
    for text in source.modules.values():
        names.update(_DEFINED.findall(_strip(text)))
        names.update(alias for alias in _IMPORT.findall(text) if alias)
        names.update(path.split(".")[-1] for path in _IMPORT_LAST.findall(text))
    return names


def unsupported_builtins(source: PolicySource, modules: dict[str, str] | None = None) -> list[UnsupportedBuiltin]:
    interpreter = new_interpreter()
    local = _local_names(source)
    found = []
    for name, text in (modules if modules is not None else source.modules).items():
        for lineno, line in enumerate(_strip(text).splitlines(), start=1):
            for call in _CALL.findall(line):
                head = call.split(".")[0]
                if head in local or head in _KEYWORDS or head in ("data", "input") or interpreter.is_builtin(call):
                    continue
                found.append(UnsupportedBuiltin(call, str(source.root / name), lineno))
    return found


def require_supported(source: PolicySource, modules: dict[str, str] | None = None) -> None:
    problems = unsupported_builtins(source, modules)
    if problems:
        raise ConfigError(
            "policy uses builtins the embedded engine cannot evaluate:\n" + "\n".join(str(p) for p in problems)
        )
