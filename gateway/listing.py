"""What an agent may call, as the policy sees it: `GET /v1/models` lists the routes whose request-phase
decision allows the agent (asked per route; a listing, so not audited).

The listing follows the policy's `allow`, not what this gateway can enforce: a route the policy would
hold for approval, or allow with redactions, is listed, since the agent may call it.
"""

from __future__ import annotations

from pydantic import SecretStr

from connectors.base import ChatRequest
from gateway.model import Call, ModelPayload, Origin
from gateway.policy.input import build_input
from gateway.services import Services
from gateway.stages.authenticate import identify
from gateway.stages.decide import evaluate


async def allowed_routes(services: Services, api_key: SecretStr | None, origin: Origin) -> list[str]:
    principal = await identify(api_key, origin, services.keys)
    routes = list(services.settings.routes)
    allowed = []
    for alias in routes:
        payload = ModelPayload(request=ChatRequest(model=alias, messages=[]))
        probe = Call(surface=origin.surface, principal=principal, request_id=origin.request_id, payload=payload)
        input_doc = build_input(probe, "request", routes, [])
        decision = await evaluate(services.policy, input_doc, services.settings.policy, services.metrics)
        if decision.allow:
            allowed.append(alias)
    return allowed
