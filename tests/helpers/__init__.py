"""What several test modules share (no test module imports another): captures, sandbox clients, processes."""
