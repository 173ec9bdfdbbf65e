"""A run's record: the queue, its control (pause, stop), and its step log."""
