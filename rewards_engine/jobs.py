"""The scheduled jobs of the engine. Each is also ``rewards-engine jobs run NAME``.

Every job is idempotent: running it twice, or on two schedulers after a failover,
changes nothing the first run did not.
"""

from __future__ import annotations

from rewards_engine.runtime import Runtime
from rewards_engine.scheduler import JobResult, JobSpec
from rewards_engine.services import (
    approvals,
    fraud,
    gift_card_orders,
    gift_card_products,
    idempotency,
    medals,
    notifications,
    payouts,
    privacy,
    push,
    revocations,
    staff_sessions,
    uploads,
    verification,
    vesting,
    wall,
)
from rewards_engine.services.audit import checks as audit_checks


def vest_earnings(runtime: Runtime) -> JobResult:
    return vesting.vest_due(runtime.db, runtime.clock).as_dict()


def expire_approvals(runtime: Runtime) -> JobResult:
    return {"expired": approvals.expire_pending(runtime.db, runtime.clock)}


def purge_revocations(runtime: Runtime) -> JobResult:
    return {
        "revoked_tokens_deleted": revocations.purge_expired(runtime.db, runtime.clock),
        "staff_sessions_deleted": staff_sessions.purge(runtime.db, runtime.clock),
    }


def purge_idempotency_keys(runtime: Runtime) -> JobResult:
    return {"deleted": idempotency.purge_expired(runtime.db, runtime.clock.now())}


def wall_drain(runtime: Runtime) -> JobResult:
    rebuilt = wall.ensure_built(runtime)
    report = wall.drain(runtime).as_dict()
    return {**report, "rebuilt": int(rebuilt), "purged": wall.purge_outbox(runtime)}


def wall_rebuild(runtime: Runtime) -> JobResult:
    # Nightly, the tallies are recounted from the clips too: the one automatic check
    # that they have not drifted (ensure_built, for a lost Redis, skips it).
    return wall.rebuild_live(runtime, recount=True)


def wall_rollover(runtime: Runtime) -> JobResult:
    return wall.rollover(runtime)


def medals_evaluate(runtime: Runtime) -> JobResult:
    return medals.evaluate_scheduled(runtime.db, runtime.clock).as_dict()


def medal_rarity(runtime: Runtime) -> JobResult:
    return medals.refresh_rarity(runtime.db, runtime.clock)


def payout_batch(runtime: Runtime) -> JobResult:
    created = payouts.create_batches(runtime).as_dict()
    sent = payouts.submit_pending(runtime).as_dict()
    return {**created, **{f"sent_{key}": value for key, value in sent.items()}}


def payout_reconcile(runtime: Runtime) -> JobResult:
    return payouts.reconcile(runtime).as_dict()


def gift_card_reconcile(runtime: Runtime) -> JobResult:
    return gift_card_orders.reconcile(
        runtime.db,
        runtime.clock,
        runtime.gift_card_orders,
        runtime.vault,
        runtime.settings.tremendous,
        auto_fulfil=runtime.settings.gift_cards_auto_fulfil,
    ).as_dict()


def gift_card_products_sync(runtime: Runtime) -> JobResult:
    return gift_card_products.sync_from_provider(runtime)


def fraud_scan(runtime: Runtime) -> JobResult:
    return fraud.scan(runtime, full=False).as_dict()


def fraud_scan_full(runtime: Runtime) -> JobResult:
    return fraud.scan(runtime, full=True).as_dict()


def erase_donors(runtime: Runtime) -> JobResult:
    return privacy.run_erasures(runtime)


def apply_retention(runtime: Runtime) -> JobResult:
    return privacy.apply_retention(runtime)


def notify_donors(runtime: Runtime) -> JobResult:
    fanned = notifications.fan_out(runtime.db, runtime.clock)
    keep = runtime.settings.notification_retention_days
    return {**fanned, "purged": notifications.purge_old(runtime.db, runtime.clock, keep)}


def push_notifications(runtime: Runtime) -> JobResult:
    return push.run(runtime).as_dict()


def tell_standings(runtime: Runtime) -> JobResult:
    return notifications.tell_standings(runtime)


def verify_uploads(runtime: Runtime) -> JobResult:
    return verification.verify_uploads(runtime).as_dict()


def expire_claims(runtime: Runtime) -> JobResult:
    return vars(uploads.expire_claims(runtime))


def audit_verify(runtime: Runtime) -> JobResult:
    return audit_checks.run(runtime)


JOBS: list[JobSpec] = [
    JobSpec(
        "verify-uploads",
        verify_uploads,
        {"trigger": "interval", "seconds": 20},
        "check uploaded videos (hash, decoding, duration, perceptual hash), then decide "
        "and pay their clips",
    ),
    JobSpec(
        "expire-claims",
        expire_claims,
        {"trigger": "interval", "minutes": 10},
        "expire claims whose video did not arrive in time and remove partial uploads",
    ),
    JobSpec(
        "notifications",
        notify_donors,
        {"trigger": "interval", "minutes": 1},
        "notify every donor of broadcasts (a new campaign, a new consent text), a chunk "
        "at a time; delete notifications older than NOTIFICATION_RETENTION_DAYS",
    ),
    JobSpec(
        "push",
        push_notifications,
        {"trigger": "interval", "seconds": 15},
        "send new notifications to the donors' phones (FCM, APNs) and retry the due ones; "
        "off when neither is configured",
    ),
    JobSpec(
        "standings",
        tell_standings,
        {"trigger": "interval", "minutes": 15},
        "tell donors who passed someone, or were passed, on a board they follow",
    ),
    JobSpec(
        "erase-donors",
        erase_donors,
        {"trigger": "interval", "minutes": 1},
        "carry out the erasure requests received",
    ),
    JobSpec(
        "retention",
        apply_retention,
        {"trigger": "cron", "hour": 4, "minute": 10},
        "delete clip metadata past its campaign's retention period (counts recorded)",
    ),
    JobSpec(
        "fraud-scan",
        fraud_scan,
        {"trigger": "interval", "minutes": 5},
        "run the fraud rules over the clips since the last scan; hold high-severity flags",
    ),
    JobSpec(
        "fraud-scan-full",
        fraud_scan_full,
        {"trigger": "cron", "hour": 1, "minute": 40},
        "run every fraud rule over all clips (and the ones only a full scan runs)",
    ),
    JobSpec(
        "payout-batch",
        payout_batch,
        {"trigger": "cron", "day_of_week": "mon", "hour": 6, "minute": 0},
        "pay this week's available cash: build, commit, then submit the batches",
    ),
    JobSpec(
        "payout-reconcile",
        payout_reconcile,
        {"trigger": "interval", "minutes": 15},
        "resubmit batches without a clear answer; poll submitted ones until final",
    ),
    JobSpec(
        "gift-card-orders",
        gift_card_reconcile,
        {"trigger": "interval", "minutes": 2},
        "move provider gift-card orders forward: read open orders, look unanswered ones "
        "up by external id, order again (same id) only when none is found",
    ),
    JobSpec(
        "gift-card-products",
        gift_card_products_sync,
        {"trigger": "cron", "hour": 3, "minute": 25},
        "sync Tremendous's products (countries, currencies): the catalog offers a "
        "provider card only where its product serves the donor",
    ),
    JobSpec(
        "medals-evaluate",
        medals_evaluate,
        {"trigger": "cron", "minute": 20},
        "streaks, placements of closed periods, campaign goals, provisional awards",
    ),
    JobSpec(
        "medal-rarity",
        medal_rarity,
        {"trigger": "cron", "minute": 35},
        "count the share of active donors holding each medal (the medal screen's rarity)",
    ),
    JobSpec(
        "wall-drain",
        wall_drain,
        {"trigger": "interval", "seconds": 5},
        "apply pending Honor Wall changes to Redis (after an outage, or a lost server)",
    ),
    JobSpec(
        "wall-rollover",
        wall_rollover,
        {"trigger": "cron", "minute": 5},
        "archive closed week and month boards and let their Redis keys expire",
    ),
    JobSpec(
        "wall-rebuild",
        wall_rebuild,
        {"trigger": "cron", "hour": 2, "minute": 30},
        "recount every live board's tallies from the clips (correcting any that drifted), "
        "then rebuild the board from them",
    ),
    JobSpec(
        "vest-earnings",
        vest_earnings,
        {"trigger": "interval", "minutes": 10},
        "move earnings past their review window from pending to available",
    ),
    JobSpec(
        "expire-approvals",
        expire_approvals,
        {"trigger": "interval", "minutes": 10},
        "close four-eyes approval requests nobody decided before they expired (audited)",
    ),
    JobSpec(
        "audit-verify",
        audit_verify,
        {"trigger": "cron", "hour": 5, "minute": 40},
        "walk the audit log's hash chain; log audit.chain_broken at ERROR and show it in "
        "/metrics if any record was edited, deleted or inserted",
    ),
    JobSpec(
        "purge-revocations",
        purge_revocations,
        {"trigger": "cron", "hour": 3, "minute": 27},
        "forget revoked token ids past their token's exp, and console sessions that "
        "ended more than 7 days ago",
    ),
    JobSpec(
        "purge-idempotency-keys",
        purge_idempotency_keys,
        {"trigger": "cron", "hour": 3, "minute": 17},
        "forget idempotency keys older than 7 days",
    ),
]


def find_job(name: str) -> JobSpec | None:
    return next((spec for spec in JOBS if spec.name == name), None)
