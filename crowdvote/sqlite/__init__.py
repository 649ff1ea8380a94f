"""SQLite for the embedded setup, with write transactions queued fairly inside the process."""
