"""The factory's engine: turns queued specs into merged, checked changes under policies.

Sub-packages, lowest first (a lower one never imports a higher one): factory, spec, run,
workspace, llm, gates, agent, pipeline, service, ops. docs/HACKING.md draws the map.
"""
