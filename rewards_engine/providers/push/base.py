"""What a push provider is given and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rewards_engine.domain.push import Answer


@dataclass(frozen=True)
class PushMessage:
    token: str = field(repr=False)  # never in a log line or a repr
    title: str
    body: str
    data: dict[str, str]
    collapse_key: str
    expires_at: datetime  # the provider drops it after this (stale is useless)


class PushSender(Protocol):
    def send(self, message: PushMessage) -> Answer:
        """Send one message. Raises only where no answer came (a timeout, a refused
        connection): the caller retries later, as for a 5xx."""
        ...  # pragma: no cover

    def close(self) -> None: ...  # pragma: no cover
