"""A run's record: its status (the one owner of it), the queue, its control (pause,
stop), and its step log."""
