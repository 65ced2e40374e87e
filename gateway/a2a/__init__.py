"""Other agents behind the gateway (`agents:`), at `/a2a/{agent}`: A2A agents (JSON-RPC, their cards served
with the gateway's URL) and plain HTTP JSON agents. Every call is a `kind: agent` call through the pipeline."""
