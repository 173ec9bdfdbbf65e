"""Where a factory lives: its home folder, database path and andon.toml."""
