"""A run's life from worktree to merge: stages, checks, holdout scenarios, post-merge watch."""
