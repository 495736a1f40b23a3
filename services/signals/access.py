"""Who may call what: everyone, without a token. The signals service is the public's way in; asking a member of
the public for a token would be asking who they are. Each route is marked with ``harbour.access.public`` so the
OpenAPI document states it, and it never reads or returns case data (it holds none)."""

from __future__ import annotations

from collections.abc import Callable

from harbour import access

# Every action of the service, one per endpoint: all public.
PUBLIC_ACTIONS = ("tip.submit",)


def public(action: str) -> Callable[[], None]:
    return access.public(action, declared=PUBLIC_ACTIONS)
