"""What one run of the ``push`` job did: the job's log line and the CLI's summary.

A module of its own because the job (``delivery``) and the sending loop (``sending``)
both fill it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class PushReport:
    off: bool = False
    queued: int = 0
    taken: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # sent, retry, gone, failed...
    deferred: int = 0  # in quiet hours: sent when they end
    lost: int = 0  # another run took it over (this one outlived its lease)
    purged: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "off": int(self.off),
            "queued": self.queued,
            "taken": self.taken,
            **dict(sorted(self.outcomes.items())),
            "deferred": self.deferred,
            "lost": self.lost,
            "purged": self.purged,
        }
