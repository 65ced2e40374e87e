"""The neutral chat format every surface and connector speaks, and the connector protocol.

Surfaces parse a wire format (OpenAI, Anthropic) into a `ChatRequest`; connectors render it into a
provider's wire format and parse the answer back into a `ChatResponse` (or a stream of `StreamEvent`).
Translating OpenAI <-> Anthropic is therefore two independent halves that meet here.

    >>> req = ChatRequest(model="gpt-4o-mini", messages=[Message(role="user", content="hi")])
    >>> req.messages[0].text()
    'hi'
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]
StopReason = Literal["stop", "length", "tool_calls", "content_filter"]


class ToolCall(BaseModel):
    """A function call the model asks the agent to make; `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str = "{}"


class ToolSpec(BaseModel):
    """A tool the agent offers to the model (JSON Schema parameters). `strict` asks the provider to enforce the
    schema (None: the agent did not say); `extras` keeps what a wire format sends beside (e.g. Anthropic's
    `cache_control`), by format, for a connector of that same format."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    extras: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hosted: bool = False  # run by the provider itself (Anthropic server tools): only its own format can send it
    # run by the agent, but only a provider of the OpenAI formats takes it (a custom free-form tool, no schema)
    native_only: bool = False


class Image(BaseModel):
    """An image in a user message: a URL, or base64 `data` with its `media_type`."""

    url: str | None = None
    media_type: str | None = None
    data: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Image:
        """An http(s) URL, or a `data:<media type>;base64,<data>` URL."""
        if url.startswith("data:") and ";base64," in url:
            media_type, _, data = url[5:].partition(";base64,")
            return cls(media_type=media_type, data=data)
        return cls(url=url)

    def as_url(self) -> str:
        return self.url or f"data:{self.media_type};base64,{self.data}"


class Message(BaseModel):
    role: Role
    content: str | None = None
    # the texts of the message's text blocks (content parts) when it was sent as several, in order: `content` is
    # their concatenation. Inspected and redacted one by one (no words fused), rebuilt block by block.
    parts: list[str] | None = None
    # the order of a content list's parts, `t` a text and `i` an image ("tit"): rebuilt in that order
    layout: str | None = None
    images: list[Image] = Field(default_factory=list)  # user messages: images that go with the text
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None  # role == "tool": which call this is the result of
    name: str | None = None

    def text(self) -> str:
        return self.content or ""


class ChatRequest(BaseModel):
    model: str
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: Literal["auto", "none", "required"] | str | None = None  # str: one named tool
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = Field(default_factory=list)
    stream: bool = False
    user: str | None = None
    # fields this format does not model, by the wire format they came in (e.g. {"openai": {"seed": 7}}):
    # a connector speaking that same format sends them on unchanged; another format cannot and leaves them
    passthrough: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # headers the agent sent for its provider (e.g. {"anthropic": {"anthropic-beta": "..."}}), for a same-format one
    headers: dict[str, dict[str, str]] = Field(default_factory=dict)


class EmbeddingRequest(BaseModel):
    """Texts to embed; or, as OpenAI also takes (LangChain's default), token ids: `token_input` holds them as the
    agent sent them (one array, or an array per input), for an OpenAI-format provider, and `inputs` is empty."""

    model: str
    inputs: list[str]
    token_input: list[int] | list[list[int]] | None = None
    user: str | None = None  # the end user, as the agent named it (`user`)
    passthrough: dict[str, dict[str, Any]] = Field(default_factory=dict)  # dimensions, encoding_format, ...

    @property
    def count(self) -> int:
        """How many inputs are embedded."""
        if self.token_input is None:
            return len(self.inputs)
        return 1 if self.token_input and isinstance(self.token_input[0], int) else len(self.token_input)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class ChatResponse(BaseModel):
    id: str
    model: str
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    stop_reason: StopReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    # what the provider's format returns beside the neutral fields, by format (e.g. {"openai": {"logprobs": ...}}),
    # with the `content` it goes with: rendered to an agent of that format only while the content is unchanged
    extras: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # the provider's own objects that hold text beside the answer (a native Responses answer), for the response
    # stages to scrub and a surface of that format to render from
    carried: list[Carried] = Field(default_factory=list)

    def extras_for(self, fmt: str) -> dict[str, Any]:
        """The extras of `fmt`, if the text they describe reached the agent as the provider wrote it (a redaction
        would otherwise leak through them)."""
        kept = self.extras.get(fmt) or {}
        return {k: v for k, v in kept.items() if k != "content"} if kept.get("content") == self.content else {}


class TextDelta(BaseModel):
    """A piece of the answer's text. `logprobs` is what an OpenAI-format provider sent with it (the chunk's
    `choices[].logprobs`), for an agent of that same format; whoever changes the text must drop or re-align it."""

    kind: Literal["text"] = "text"
    text: str
    logprobs: dict[str, Any] | None = None


class ToolCallDelta(BaseModel):
    """A piece of tool call `index`; `id` and `name` arrive with the first piece."""

    kind: Literal["tool_call"] = "tool_call"
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StreamStart(BaseModel):
    kind: Literal["start"] = "start"
    id: str
    model: str


class CarriedText(NamedTuple):
    """A text a `Carried` event holds. `key` names the text it belongs to (the pieces of one streamed text share
    it); `streamed`: a piece of a text still coming (scrubbed through a look-behind), else a whole text."""

    key: str
    text: str
    streamed: bool
    where: str  # what the text is, for the findings: "reasoning", "tool_result"


class Carried(StreamStart):
    """A provider's event or object with no neutral equivalent (a Responses reasoning item, a hosted tool's
    result, the lifecycle of items), carried in its place for a surface of the same format. Response stages
    pass it on, but the text it holds beside the answer is theirs to inspect and scrub: `texts` lists it,
    `with_texts` puts the scrubbed texts back (same order), `piece` makes an event that carries more of a
    streamed text (what a look-behind still held when its whole text arrived)."""

    def texts(self) -> list[CarriedText]:
        return []

    def with_texts(self, texts: list[str]) -> Carried:
        return self

    def piece(self, key: str, text: str) -> Carried | None:
        return None


class StreamEnd(BaseModel):
    kind: Literal["end"] = "end"
    stop_reason: StopReason = "stop"
    usage: Usage = Field(default_factory=Usage)


class Thinking(BaseModel):
    """A whole Anthropic `thinking` (with its signature) or `redacted_thinking` block of a stream, as the provider
    sent it, for an Anthropic agent only. It is never edited: its signature covers its text, so a block whose text
    must change is dropped instead.

        >>> Thinking(block={"type": "thinking", "thinking": "hm", "signature": "s"}).text()
        'hm'
    """

    kind: Literal["thinking"] = "thinking"
    block: dict[str, Any]

    def text(self) -> str:
        """The readable thinking ('' for a redacted_thinking block, which is encrypted)."""
        return str(self.block.get("thinking") or "")


StreamEvent = StreamStart | TextDelta | ToolCallDelta | Thinking | StreamEnd


class EmbeddingResponse(BaseModel):
    model: str
    embeddings: list[list[float] | str]  # a str is base64 float32, when the agent asked for encoding_format=base64
    usage: Usage = Field(default_factory=Usage)


class Connector(Protocol):
    """One upstream kind. Raise `connectors.errors.UpstreamError` subclasses, nothing else."""

    async def complete(self, request: ChatRequest, *, timeout: float) -> ChatResponse: ...

    def stream(self, request: ChatRequest, *, timeout: float) -> AsyncGenerator[StreamEvent, None]: ...


@runtime_checkable
class EmbeddingConnector(Protocol):
    """A connector whose upstream also offers embeddings."""

    async def embed(self, request: EmbeddingRequest, *, timeout: float) -> EmbeddingResponse: ...
