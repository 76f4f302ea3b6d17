"""Every request's Redis calls share one time budget (``REDIS_BUDGET_MS``).

Opened before the view runs and closed when the request is torn down (the app
factory registers both), so the rate limit, the wall reads and the wall write after
the commit of one request together spend at most the budget on Redis, however Redis
fails (see docs/resilience.md).
"""

from __future__ import annotations

from api import context
from rewards_engine.redis_client import begin_budget, end_budget


def open_budget() -> None:
    begin_budget(context.runtime().settings.redis_budget_ms)


def close_budget(_error: BaseException | None = None) -> None:
    end_budget()
