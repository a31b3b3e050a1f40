"""GUI-free: never imports Qt."""
