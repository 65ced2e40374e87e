"""The one settings object: the YAML config file, validated, plus the environment (read once, here).

    >>> s = Settings.model_validate({"routes": {"fast": {"provider": "echo", "model": "echo"}}})
    >>> s.routes["fast"].provider
    'echo'

Unknown keys are an error that names the key and the file. `GATEWAY_CONFIG` names the file when
`--config` is not given; `GATEWAY_DATABASE_URL` overrides `database_url`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, ValidationError, model_validator

from gateway.errors import ConfigError
from gateway.guards.injection.report import DEFAULT_THRESHOLD
from gateway.limits.config import LimitConfig, Price, UsageConfig, check_limits
from gateway.model import RedactionMode

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gateway.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderConfig(_Strict):
    """An upstream: `openai` (any OpenAI-compatible server), `anthropic`, or `echo` (built-in demo)."""

    kind: Literal["openai", "anthropic", "echo"]
    base_url: str = ""
    api_key_env: str | None = None
    # header that carries the key; default "Authorization: Bearer" (openai) or x-api-key (anthropic); Azure: api-key
    api_key_header: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    internal: bool = False  # run by the organisation itself: the default policy lets PII go to it unredacted
    # openai only: how /v1/responses calls reach it; native: as sent, to {base_url}/responses (hosted tools can run)
    responses: Literal["translate", "native"] = "translate"

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderConfig:
        if self.kind != "echo" and not self.base_url:
            raise ValueError(f"a provider of kind {self.kind!r} needs base_url")
        if self.responses == "native" and self.kind != "openai":
            raise ValueError(f"'responses: native' needs a provider of kind 'openai', not {self.kind!r}")
        return self

    def api_key(self) -> SecretStr | None:
        value = os.environ.get(self.api_key_env) if self.api_key_env else None
        return SecretStr(value) if value else None


class RouteTarget(_Strict):
    provider: str
    model: str


class RouteConfig(RouteTarget):
    """A model alias agents may ask for: a primary target, fallbacks tried in order, and limits."""

    fallbacks: list[RouteTarget] = Field(default_factory=list)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=1, ge=0, le=10)  # extra tries per target on retryable errors
    backoff_s: float = Field(default=0.2, ge=0)  # doubled after each retry

    def targets(self) -> list[RouteTarget]:
        return [RouteTarget(provider=self.provider, model=self.model), *self.fallbacks]


class PolicyConfig(_Strict):
    engine: Literal["embedded", "opa"] = "embedded"
    # embedded engine's runtime: opa-go (OPA's own Go engine in-process), rego-cpp, or auto (opa-go when installed)
    runtime: Literal["auto", "opa-go", "rego-cpp"] = "auto"
    dir: Path = Path("policies")
    opa_url: str = "http://127.0.0.1:8181"
    timeout_ms: float = Field(default=250.0, gt=0)  # time budget of one decision; past it the call is denied
    push: bool = True  # opa engine: push policy.dir to the server at start (false: the server loads a bundle)
    reload: bool = True  # watch policy.dir and swap in a new version when it compiles
    fail_open: bool = False  # only if written here: an engine failure allows (and is audited as fail_open)
    shadow: Path | None = None  # a candidate policy dir evaluated beside this one on live traffic, never enforced


class PiiConfig(_Strict):
    """PII and secret inspection (Presidio, in process) and how each entity type is redacted."""

    enabled: bool = True
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    score_threshold: float = Field(default=0.4, ge=0, le=1)  # findings scoring lower are ignored
    entities: list[str] | None = None  # entity types to look for (None: every supported one)
    phone_regions: list[str] = Field(default_factory=lambda: ["US"])  # national formats; +<country> always
    nlp_model: str | None = None  # an installed spaCy model (e.g. en_core_web_lg): PERSON, LOCATION, ...
    max_chars: int = Field(default=200_000, gt=0)  # inspected per call; beyond it input.pii_truncated is true
    # texts (of 256 characters or more) whose findings are remembered, by digest: an agent resends its whole
    # conversation each turn, and each earlier message is then not analyzed again (0: none)
    cache_entries: int = Field(default=4096, ge=0, le=1_000_000)
    allow_list: list[str] = Field(default_factory=list)  # values never reported or redacted
    deny_list: dict[str, list[str]] = Field(default_factory=dict)  # entity type -> values always reported
    modes: dict[str, RedactionMode] = Field(default_factory=dict)  # entity type -> mode; "default" for the rest
    key_env: str | None = None  # environment variable with the key for hashes and pseudonyms
    key_file: Path | None = None  # else this file (created 0600 if missing; default: beside a SQLite store)

    def mode(self, entity: str) -> RedactionMode:
        return self.modes.get(entity) or self.modes.get("default") or "replace"


class WebhookConfig(_Strict):
    """Where reviewers are told of a new hold: a Slack-compatible JSON body (never the arguments)."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    retries: int = Field(default=5, ge=0, le=20)  # after the first try, with backoff doubling from backoff_s
    backoff_s: float = Field(default=1.0, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)


class OidcConfig(_Strict):
    """Single sign-on for reviewers: ID tokens from this issuer, checked against its published keys."""

    issuer: str
    audience: str
    jwks_url: str | None = None  # default: the issuer's /.well-known/openid-configuration jwks_uri
    groups_claim: str = "groups"  # the claim that lists the reviewer's groups
    name_claim: str = "preferred_username"


class ApprovalsConfig(_Strict):
    """The approval queue: where held calls wait for a reviewer."""

    enabled: bool = True
    timeout_s: float = Field(default=300.0, gt=0)  # how long a held call waits before it is denied (expires)
    receipt_ttl_s: float = Field(default=3600.0, gt=0)  # how long an approval can be redeemed once given
    max_extend_s: float = Field(default=86_400.0, gt=0)  # the furthest a reviewer can push a deadline, per extension
    required: int = Field(default=1, ge=1, le=5)  # different reviewers who must approve (2: four eyes)
    keepalive_s: float = Field(default=15.0, gt=0)  # SSE comment interval while a streamed call waits
    poll_s: float = Field(default=1.0, gt=0)  # how often other replicas' changes are looked for (no NOTIFY)
    public_url: str | None = None  # the gateway's URL as reviewers and agents reach it (links, status URLs)
    reject_reasons: list[str] = Field(
        default_factory=lambda: ["Not authorised", "Amount too high", "Wrong recipient", "Needs more context"]
    )
    reveal_pii_groups: list[str] = Field(default_factory=list)  # reviewers in these groups see PII unmasked
    key_env: str | None = None  # environment variable with the key for held payloads at rest and sessions
    key_file: Path | None = None  # else this file (created 0600 if missing; default: beside a SQLite store)
    webhook: WebhookConfig | None = None
    oidc: OidcConfig | None = None
    # failed sign-ins per user and address per minute (10x per address), and bad admin API tokens per address
    login_attempts: int = Field(default=5, ge=1)


class WitnessConfig(_Strict):
    """A C2SP tlog-witness that cosigns the log's checkpoints (`gateway audit witness` is one)."""

    url: str = Field(pattern=r"^https?://")  # its base URL: checkpoints go to {url}/add-checkpoint
    key: str | None = None  # its cosignature verifier key: cosignatures that do not verify are not kept


class AnchorsConfig(_Strict):
    """Where signed checkpoints are kept outside the database, as they are signed: a verify given them finds
    a tail deleted with its checkpoints. Failures are retried, counted in /metrics, and never block a call."""

    dir: Path | None = None  # an append-only file per log here (another volume, a mounted object store)
    witnesses: list[WitnessConfig] = Field(default_factory=list)
    every_s: float = Field(default=5.0, gt=0)  # how often the newest checkpoint is anchored, if new


class AuditConfig(_Strict):
    """The audit log's Merkle tree checkpoints, their signing key, and how long events are kept."""

    origin: str = "agent-governance-gateway/audit"  # the log's name in checkpoints (and the key's name)
    checkpoint_every: int = Field(default=1000, ge=1)  # a signed checkpoint after this many new events
    checkpoint_interval_s: float = Field(default=60.0, gt=0)  # and at least this often while events arrive
    signing_key_env: str | None = None  # environment variable with the Ed25519 key (base64 32-byte seed or PEM)
    signing_key_file: Path | None = None  # else this file (created 0600 if missing; default: beside a SQLite store)
    retention_days: int | None = Field(default=None, ge=1)  # `gateway audit prune` archives, then deletes, older
    anchors: AnchorsConfig = Field(default_factory=AnchorsConfig)
    # reviewer groups that may read and export the log (`/admin/api/audit/export`); none: only the CLI reads it
    readers: list[str] = Field(default_factory=list)
    # each decision's policy input, kept with it for replay: summary (PII values the inspection found, in tool
    # arguments and names, replaced by their type), or full (exactly as the policy saw it)
    keep_input: Literal["summary", "full"] = "summary"


class ResponsesConfig(_Strict):
    """The Responses API (`/v1/responses`): the responses the gateway keeps for `previous_response_id`."""

    store: bool = True  # false: keep nothing, whatever the agent asks (previous_response_id then fails)
    retention_s: float = Field(default=30 * 86_400.0, gt=0)  # how long a kept response can be read or continued


class SessionsConfig(_Strict):
    """Per-session memory (`input.session`): what the gateway saw earlier in a session, bounded and expiring."""

    enabled: bool = True  # false: no summary is kept or read (input.session is always null)
    ttl_s: float = Field(default=3600.0, gt=0)  # a session idle this long is forgotten (sliding)
    max_entries: int = Field(default=50, ge=1, le=1000)  # distinct PII (type, source) and target entries kept each


UntrustedSource = Literal["tool_results", "documents", "mcp_results", "agent_answers"]
UNTRUSTED_SOURCES: tuple[UntrustedSource, ...] = ("tool_results", "documents", "mcp_results", "agent_answers")


class InjectionGuardConfig(_Strict):
    """Prompt-injection signals on the untrusted content agents read (`input.injection`, docs/injection.md)."""

    enabled: bool = True  # false: nothing is scanned, input.injection is null
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)  # a part at or above it is flagged
    # where it looks: tool results in a model call's messages, the text documents and search results it passes
    # (Anthropic `document` and `search_result` blocks), MCP tool results, other agents' answers (A2A)
    where: list[UntrustedSource] = Field(default_factory=lambda: list(UNTRUSTED_SOURCES))
    max_chars: int = Field(default=200_000, ge=1, le=10_000_000)  # of one call's untrusted text; the rest is not read


class GuardsConfig(_Strict):
    """Guardrails beyond PII."""

    injection: InjectionGuardConfig = Field(default_factory=InjectionGuardConfig)


class McpServerConfig(_Strict):
    """One MCP server behind the gateway, proxied at `/mcp/{name}`: a streamable HTTP upstream (`url`) or a
    stdio server the gateway launches, supervises and restarts (`command`). Credentials stay server-side."""

    url: str | None = None  # streamable HTTP endpoint of the upstream server
    headers: dict[str, str] = Field(default_factory=dict)  # extra headers sent upstream
    headers_env: dict[str, str] = Field(default_factory=dict)  # header -> environment variable holding its value
    command: list[str] | None = Field(default=None, min_length=1)  # a stdio server: argv the gateway runs
    env: dict[str, str] = Field(default_factory=dict)  # extra environment for the stdio server
    cwd: Path | None = None  # its working directory
    pin: Literal["auto", "manual"] = "manual"  # auto: pin each tool's definition on first sight
    timeout_s: float = Field(default=60.0, gt=0)  # per upstream request
    restart_backoff_s: float = Field(default=0.5, gt=0)  # first wait before reconnecting (doubles, up to 30 s)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("an MCP server needs exactly one of 'url' (streamable HTTP) or 'command' (stdio)")
        return self

    def resolved_headers(self) -> dict[str, str]:
        """The headers sent upstream, credentials read from the environment now (never logged)."""
        out = dict(self.headers)
        out.update({name: os.environ[var] for name, var in self.headers_env.items() if var in os.environ})
        return out


class AgentConfig(_Strict):
    """Another agent behind the gateway, reached at `/a2a/{name}`: an A2A agent (JSON-RPC; `url` is where its
    card is, `/.well-known/agent-card.json` under it) or a plain HTTP agent (`url` takes a POSTed JSON body).
    Credentials for the upstream stay server-side; callers never learn its address."""

    url: str  # A2A: the agent's base URL (its card is under it); http: the endpoint JSON bodies are POSTed to
    protocol: Literal["a2a", "http"] = "a2a"
    headers: dict[str, str] = Field(default_factory=dict)  # extra headers sent upstream
    headers_env: dict[str, str] = Field(default_factory=dict)  # header -> environment variable holding its value
    timeout_s: float = Field(default=60.0, gt=0)  # per upstream request (a stream: for all of it)
    # A2A: other origins (`https://host[:port]`, nothing more) the card may name as the JSON-RPC endpoint, which gets
    # the messages and headers; by default only url's origin
    endpoints: list[
        Annotated[str, Field(pattern=r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?$")]
    ] = Field(default_factory=list)

    def resolved_headers(self) -> dict[str, str]:
        """The headers sent upstream, credentials read from the environment now (never logged)."""
        out = dict(self.headers)
        out.update({name: os.environ[var] for name, var in self.headers_env.items() if var in os.environ})
        return out


def _default_providers() -> dict[str, ProviderConfig]:
    return {"echo": ProviderConfig(kind="echo")}


def _default_routes() -> dict[str, RouteConfig]:
    return {"echo": RouteConfig(provider="echo", model="echo")}


class Settings(_Strict):
    database_url: str = DEFAULT_DATABASE_URL
    # bound on each PostgreSQL operation (connect, statement, the wait for a pooled connection): a store that stops
    # answering (a silent partition) fails calls with 503 store_unavailable within it, instead of hanging them
    database_timeout_s: float = Field(default=5.0, gt=0, le=300)
    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)  # larger agent request bodies get a 413
    # on SIGTERM: open connections get this long to finish, then closing the services gets as long again
    shutdown_timeout_s: float = Field(default=20.0, gt=0, le=3600)
    # reverse proxies (CIDR networks) whose X-Forwarded-For/-Proto (or Forwarded) name the client and the scheme;
    # none by default: the peer's address is the client's (`gateway.proxies`)
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    proxy_headers: Literal["x-forwarded", "forwarded"] = "x-forwarded"  # which headers those proxies write
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    responses: ResponsesConfig = Field(default_factory=ResponsesConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    routes: dict[str, RouteConfig] = Field(default_factory=_default_routes)
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict)  # tools, at /mcp/{name}
    agents: dict[str, AgentConfig] = Field(default_factory=dict)  # other agents, at /a2a/{name}
    prices: dict[str, Price] = Field(default_factory=dict)  # US dollars per million tokens, by route alias or model
    limits: list[LimitConfig] = Field(default_factory=list)  # requests, tokens, money, calls in flight (gateway.limits)
    usage: UsageConfig = Field(default_factory=UsageConfig)  # how calls are metered against `limits`
    config_file: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _limits_named_once(self) -> Settings:
        check_limits(self.limits)
        return self

    @model_validator(mode="after")
    def _routes_name_providers(self) -> Settings:
        for alias, route in self.routes.items():
            for target in route.targets():
                if target.provider not in self.providers:
                    raise ValueError(f"route {alias!r} names provider {target.provider!r}, which is not configured")
        return self

    def internal_route(self, alias: str) -> bool:
        """Whether every target of the route `alias` (fallbacks too) is a provider marked `internal`."""
        route = self.routes.get(alias)
        return route is not None and all(self.providers[t.provider].internal for t in route.targets())

    @property
    def is_demo(self) -> bool:
        return self.config_file is None


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{where}'")
        else:
            lines.append(f"{source}: {where + ': ' if where else ''}{err['msg']}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config file must be a mapping of keys")
    return raw


def load_settings(config: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the config file (or the embedded defaults) and apply the environment overrides."""
    env = dict(os.environ if env is None else env)
    path = Path(config) if config else (Path(env["GATEWAY_CONFIG"]) if env.get("GATEWAY_CONFIG") else None)
    raw = _read_yaml(path) if path else {}
    if env.get("GATEWAY_DATABASE_URL"):
        raw["database_url"] = env["GATEWAY_DATABASE_URL"]
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path) if path else "settings")) from exc
    if path is not None:
        settings.config_file = path
        if not settings.policy.dir.is_absolute():
            settings.policy.dir = path.parent / settings.policy.dir
        if settings.policy.shadow is not None and not settings.policy.shadow.is_absolute():
            settings.policy.shadow = path.parent / settings.policy.shadow
        for section in (settings.pii, settings.approvals):
            if section.key_file is not None and not section.key_file.is_absolute():
                section.key_file = path.parent / section.key_file
        audit = settings.audit
        if audit.signing_key_file is not None and not audit.signing_key_file.is_absolute():
            audit.signing_key_file = path.parent / audit.signing_key_file
    return settings
