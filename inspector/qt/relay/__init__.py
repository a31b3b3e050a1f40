"""The relay in the window: the Breakpoints panel."""
