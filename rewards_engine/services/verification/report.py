"""What one run of verify-uploads did: the job's log line and the CLI's summary.

Its own module because the run (``runs``) and each batch's decision (``decisions``)
both fill it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class VerificationReport:
    taken: int = 0
    decided: Counter[str] = field(default_factory=Counter)  # the clips' statuses
    rejected: Counter[str] = field(default_factory=Counter)  # claims refused, by reason
    lost: int = 0  # another run took the claim over (this one outlived its lease)
    released: int = 0  # given up, attempt refunded: the store failed reading or sealing
    failed: int = 0  # the check itself failed; the claim is taken again after its lease
    objects_deleted: int = 0
    deletions_failed: int = 0  # done again once the claim's URLs are dead

    def as_dict(self) -> dict[str, object]:
        return {
            "taken": self.taken,
            **{f"clips_{status}": n for status, n in sorted(self.decided.items())},
            **{f"rejected_{reason}": n for reason, n in sorted(self.rejected.items())},
            "lost": self.lost,
            "released": self.released,
            "failed": self.failed,
            "objects_deleted": self.objects_deleted,
            "deletions_failed": self.deletions_failed,
        }
