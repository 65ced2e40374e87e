"""The `gateway` command (also `python -m gateway`): one module per command group.

gateway serve            serve.py
gateway keys ...         keys.py
gateway policy ...       policy.py
gateway audit ...        audit.py
"""

from __future__ import annotations

import typer

from gateway.cli import audit, keys, policy, serve

app = typer.Typer(
    help="Agent Governance Gateway: policy, routing and audit for AI agent calls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve.serve)
app.add_typer(keys.app, name="keys")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")


def main() -> None:
    app()
