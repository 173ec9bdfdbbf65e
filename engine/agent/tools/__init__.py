"""The agent's tools: the editor and the sandboxed shell."""
