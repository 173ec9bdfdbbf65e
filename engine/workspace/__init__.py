"""A run's workspace: git, worktrees, merging, the sandbox and the agent's environment."""
