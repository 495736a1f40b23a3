"""Signed webhooks: an office's HTTPS endpoint is sent its audience's feed, one entry per request, in cursor order.

``settings`` (pydantic-settings, ``HARBOUR_WEBHOOK_*``), ``targets`` (which URLs are accepted: https, no internal
address), ``store`` (the SQL of the subscriptions and the delivery log), ``delivery`` (the background workers that
sign with the Standard Webhooks library and send), ``api`` (the office's commands and reads). README "Webhooks".
"""
