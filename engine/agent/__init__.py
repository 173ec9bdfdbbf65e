"""The agent: its tool loop, tools, prompt, budget, checkpoints and loop guard."""
