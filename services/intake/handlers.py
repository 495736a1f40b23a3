"""Reactions of intake to other services' events.

Intake is where a case starts, so it follows nobody yet: no service publishes anything intake must act on
(erasure starts here and travels out as ``PersonErased``; the others erase in their own vaults). A case
transferred between centres (tracks' ``TransferAccepted``) is the first candidate: the receiving centre must then
read the person's identity here. Subscriptions go in ``SUBSCRIPTIONS``, wired by ``app.DEFINITION``.
"""

from __future__ import annotations

from harbour.kafka.consumer import Subscription

SUBSCRIPTIONS: tuple[Subscription, ...] = ()
