"""Replay: plans (what will be sent where), the runner that sends and records, and its reports."""
