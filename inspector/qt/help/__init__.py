"""Help ▸ …: the display filter reference, the keyboard shortcuts and the first-run tour."""
