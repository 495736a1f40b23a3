"""Kafka plumbing: the topic table, the relay, the inbox consumers.

Topics are never auto-created by a client's metadata request: a broker that restarted empty (the embedded
one keeps nothing) would otherwise recreate them on the first client's request with its own partition count,
and consumers would then commit to partitions that do not exist. aiokafka asks for auto-creation by default
and has no setting for it, so its metadata requests are built here with ``allow_auto_topic_creation=False``;
topics come only from the topic table (``ensure_topics``). Production brokers also set
``auto.create.topics.enable=false``.
"""

from __future__ import annotations

import functools

import aiokafka.client
from aiokafka.protocol.metadata import MetadataRequest

if not isinstance(aiokafka.client.MetadataRequest, functools.partial):
    aiokafka.client.MetadataRequest = functools.partial(MetadataRequest, allow_auto_topic_creation=False)
