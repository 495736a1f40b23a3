"""Harbour's shared runtime: the event store, relay, inbox, timers, personal-data vault, telemetry and access."""

__version__ = "0.1.0"
