"""Per-session memory: what the gateway saw earlier in an agent's session, for policies (`input.session`).

A session is named by the agent (`X-Gateway-Session`) or by its protocol (the MCP session, the A2A
`contextId`, a Responses API conversation), always within the calling agent: one agent can neither read
nor add to another's. Per session the gateway keeps a bounded summary (`summary`): PII types seen and where
they came from, the targets called, the number of calls, first and last seen, whether a call was denied or
held; never a value. It lives in the store (`store`), so it survives restarts and is shared by replicas,
and expires `sessions.ttl_s` after the session's last call. The `recall` stage reads it before the decision
and adds the request; `remember` adds the answer and the outcome when the call ends.
"""
