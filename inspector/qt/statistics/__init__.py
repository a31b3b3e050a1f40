"""Statistics ▸ …: windows of their own with the capture's figures (per trigger, latency histograms)."""
