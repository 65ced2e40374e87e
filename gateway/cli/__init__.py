"""The `gateway` command (also `python -m gateway`): one module per command group.

gateway serve            serve.py
gateway keys ...         keys.py
gateway policy ...       policy.py
gateway audit ...        audit.py
gateway approvals ...    approvals.py
gateway reviewers ...    reviewers.py
gateway tools ...        tools.py
gateway usage ...        usage.py
"""

from __future__ import annotations

import typer

from gateway.cli import approvals, audit, keys, policy, reviewers, serve, tools, usage

app = typer.Typer(
    help="Agent Governance Gateway: policy, routing and audit for AI agent calls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve.serve)
app.add_typer(keys.app, name="keys")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(approvals.app, name="approvals")
app.add_typer(reviewers.app, name="reviewers")
app.add_typer(tools.app, name="tools")
app.add_typer(usage.app, name="usage")


def main() -> None:
    app()
