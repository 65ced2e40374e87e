"""A policy directory read from disk: Rego modules, data documents, and the version (content hash).

Data files (`*.json`, `*.yaml`, `*.yml`) are merged into `data` at the path of their folder, as OPA does
with bundles: `policies/gateway/data.json` holding `{"risky_tools": [...]}` becomes
`data.gateway.risky_tools`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError

DATA_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class PolicySource:
    """One version of the policies: what both engines load."""

    root: Path
    modules: dict[str, str]  # path relative to root -> Rego text
    data: dict[str, Any] = field(default_factory=dict)
    version: str = ""

    def policy_modules(self) -> dict[str, str]:
        """The modules without the `*_test.rego` files (those only run under `gateway policy test`)."""
        return {name: text for name, text in self.modules.items() if not name.endswith("_test.rego")}


def _merge(target: dict[str, Any], prefix: tuple[str, ...], value: Any, origin: str) -> None:
    node = target
    for part in prefix:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: data path {'.'.join(prefix)} collides with a non-object value")
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: a data file must hold an object")
    for key, item in value.items():
        if key in node and isinstance(node[key], dict) and isinstance(item, dict):
            _merge(node, (key,), item, origin)
        else:
            node[key] = item


def _load_data(path: Path) -> Any:
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot load policy data: {exc}") from exc


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.parts[-1:]))


def load_source(root: Path) -> PolicySource:
    """Read every `.rego` and data file below `root`; the version hashes all of them."""
    if not root.is_dir():
        raise ConfigError(f"policy directory {root} does not exist")
    digest = hashlib.sha256()
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".rego":
            modules[rel] = path.read_text()
        elif path.suffix in DATA_SUFFIXES:
            _merge(data, path.relative_to(root).parent.parts, _load_data(path), str(path))
        else:
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    if not modules:
        raise ConfigError(f"policy directory {root} holds no .rego files")
    return PolicySource(root=root, modules=modules, data=data, version=digest.hexdigest()[:12])
