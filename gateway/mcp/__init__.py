"""MCP: agents reach tool servers through the gateway at /mcp/{server}, under the same policy, PII,
approval and audit stages as model calls (surface, hub of upstreams, tool pinning, listing)."""
