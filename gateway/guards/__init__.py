"""Guards: detectors that score untrusted content before it reaches an agent.

injection/    prompt-injection detector for tool results, MCP results, A2A answers and retrieved documents
"""
