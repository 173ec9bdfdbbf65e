"""The unattended engine: runner, scheduler, inbox, recovery, notifications, lock, cord, daemon."""
