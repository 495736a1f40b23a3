"""Tracks service: the 2–3-year guidance a centre gives one person (plan, sessions, transfer, closure).

Contracts live in ``schemas/tracks.py``; the aggregate and its pure deadline functions in ``domain.py``.
"""
