"""What checking revocation costs a request (issue 24, part 3).

Every API call and console page asks this process's copy of the revocations
(``services/revocations.py:RevocationCache``) whether the token, or its subject, was
revoked. Measured per check, in microseconds, on SQLite and PostgreSQL (when
``BENCH_DATABASE_URL`` or the default server answers), at 0, 1,000 and 10,000 revoked
token ids (plus 100 revoked subjects):

- ``verify_remembered_us``: what a request already paid before issue 24, the verifier's
  remembered-token path (no signature check), for scale;
- ``check_warm_us``: the revocation check from memory (what nearly every request pays);
- ``check_with_version_read_us``: a check that also reads the table's version (one
  ``SELECT max(id)``): paid by one request per process every ``REFRESH_S``;
- ``reload_ms``: reading the whole table after a revocation (once per process per change);
- ``console_resume_us``: a console page's session lookup (one read by key, no write).

    python -m benchmarks.token_revocation [--small]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from benchmarks.common import fresh_database, report
from rewards_engine.clock import SystemClock
from rewards_engine.config import Settings
from rewards_engine.db import Database
from rewards_engine.domain.roles import Role
from rewards_engine.models import TokenRevocation
from rewards_engine.services import staff_sessions
from rewards_engine.services.revocations import RevocationCache
from rewards_engine.tokens import Principal, TokenVerifier, issue_token

SIZES = (0, 1_000, 10_000)
SUBJECTS = 100


def per_call_us(call: Any, count: int) -> float:
    for _ in range(min(count // 10, 1_000)):
        call()
    started = time.perf_counter()
    for _ in range(count):
        call()
    return round((time.perf_counter() - started) / count * 1e6, 3)


def fill(db: Database, jtis: int) -> None:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {"jti": f"revoked-{n}", "subject": f"donor-{n}", "expires_at": now + timedelta(hours=1),
         "created_at": now, "actor_id": "bench"}
        for n in range(jtis)
    ] + [
        {"subject": f"agent-{n}", "not_before": now, "created_at": now, "actor_id": "bench"}
        for n in range(SUBJECTS)
    ]  # fmt: skip
    with db.transaction() as uow:
        for start in range(0, len(rows), 1_000):
            uow.session.execute(insert(TokenRevocation), rows[start : start + 1_000])


def measure(kind: str, url: str, jtis: int, scale: int) -> dict[str, Any]:
    db = Database(url)
    try:
        fill(db, jtis)
        frozen = [0.0]
        cache = RevocationCache(db, monotonic=lambda: frozen[0])
        donor = Principal("donor-x", Role.DONOR, issued_at=time.time(), jti="not-revoked")
        assert cache.refusal(donor) is None  # loads the copy
        warm = per_call_us(lambda: cache.refusal(donor), 200_000 // scale)

        def with_version_read() -> None:
            cache.invalidate()
            cache.refusal(donor)

        versioned = per_call_us(with_version_read, 2_000 // scale)
        reloads = []
        for _ in range(5):
            fresh = RevocationCache(db, monotonic=lambda: frozen[0])
            started = time.perf_counter()
            fresh.refusal(donor)
            reloads.append(time.perf_counter() - started)
        clock = SystemClock()
        principal = Principal("agent-bench", Role.SUPPORT, expires_at=time.time() + 3600)
        session_id, _ = staff_sessions.open_session(db, clock, principal)
        idle = timedelta(minutes=30)

        def resume() -> None:
            assert staff_sessions.resume(
                db,
                clock,
                session_id,
                idle=idle,
                not_before=lambda _: None,
                jti_revoked=lambda _: False,
            )

        console = per_call_us(resume, 2_000 // scale)
        return {
            "database": kind,
            "revoked_jtis": jtis,
            "revoked_subjects": SUBJECTS,
            "check_warm_us": warm,
            "check_with_version_read_us": versioned,
            "reload_ms": round(min(reloads) * 1e3, 2),
            "console_resume_us": console,
        }
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="A tenth of the calls; not saved.")
    args = parser.parse_args()
    scale = 10 if args.small else 1
    load_before = [round(x, 2) for x in os.getloadavg()]  # the cores are shared: say how busy
    settings = Settings(environment="test", jwt_secret="bench-" + "x" * 40)
    verifier = TokenVerifier(settings)
    token = issue_token(settings, "donor-x", Role.DONOR, timedelta(hours=1), datetime.now(UTC))
    remembered = per_call_us(lambda: verifier.verify(token), 200_000 // scale)
    runs = []
    for kind in ("sqlite", "postgres"):
        try:
            for jtis in SIZES:
                with fresh_database(kind) as url:
                    runs.append(measure(kind, url, jtis, scale))
        except Exception as exc:  # no PostgreSQL here: SQLite only, and say so
            print(f"{kind}: skipped ({type(exc).__name__}: {exc})")
    report(
        "token_revocation",
        {
            "refresh_s": RevocationCache.REFRESH_S,
            "load_average_before": list(load_before),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "verify_remembered_us": remembered,
            "runs": runs,
        },
        save=not args.small,
    )


if __name__ == "__main__":
    main()
