"""The upstream agents behind the gateway in these tests: an A2A agent built with the `a2a-sdk` server (it
answers `echo: <the text it got>`, so a test sees what reached it), and a plain HTTP JSON agent."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from a2a.helpers.proto_helpers import get_message_text, new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET_NOTE = "the customer's address is jane.roe@example.com"  # an answer carrying PII


class EchoExecutor(AgentExecutor):
    """Answers with one message: `echo: <text>`; asked for `/leak`, an answer with an email address. Asked for
    `/slow` (or `/slow-ssn`), a task in steps: it starts working at once, then waits for `gate` (up to 10 s)
    before its artifact (with an email address; or an SSN) and its completion."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.gate = threading.Event()
        self.gate_opened: list[bool] = []  # per slow task: whether the gate opened (False: it timed out)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        text = get_message_text(context.message)
        self.seen.append(text)
        if text.strip() in ("/slow", "/slow-ssn"):
            await self._slow(context, event_queue, text.strip() == "/slow-ssn")
            return
        answer = SECRET_NOTE if text.strip() == "/leak" else f"echo: {text}"
        await event_queue.enqueue_event(new_text_message(answer, context_id=context.context_id))

    async def _slow(self, context: RequestContext, event_queue: EventQueue, ssn: bool) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work(new_text_message("working on it", context_id=task.context_id, task_id=task.id))
        self.gate_opened.append(await asyncio.to_thread(self.gate.wait, 10))
        result = "ssn 536-22-8456" if ssn else f"done: {SECRET_NOTE}"
        await updater.add_artifact([new_text_part(result)], name="result")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        return None


def card(url: str) -> AgentCard:
    return AgentCard(
        name="planner",
        description="plans things",
        version="1.0.0",
        documentation_url=f"{url}/docs",
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="plan", name="plan", description="makes a plan", tags=["planning"])],
    )


class A2AAgent:
    """An ASGI app (for `ServerThread`) whose card names its own URL once it is known (`bind`)."""

    def __init__(self) -> None:
        self.executor = EchoExecutor()
        self.app: Any = None
        self.url = ""
        self.disconnected = threading.Event()  # a client (the gateway) closed a request's connection early

    def bind(self, url: str) -> Starlette:
        self.url = url
        agent_card = card(url)
        handler = DefaultRequestHandler(self.executor, InMemoryTaskStore(), agent_card)
        routes = [*create_agent_card_routes(agent_card), *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True)]
        self.app = Starlette(routes=routes)
        return self.app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.executor.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})

        async def watched() -> Any:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
            return message

        await self.app(scope, watched, send)


def http_agent() -> tuple[Starlette, list[Any]]:
    """A plain HTTP agent: POST JSON `{"input": ...}`, answers `{"output": "done: <input>"}`."""
    seen: list[Any] = []

    async def run(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        if body.get("input") == "/leak":
            return JSONResponse({"output": SECRET_NOTE})
        return JSONResponse({"output": f"done: {body.get('input')}"})

    return Starlette(routes=[Route("/run", run, methods=["POST"])]), seen
