"""audit chain: the audit log becomes insert-only and hash-chained (issue 24, part 4)

Why this shape (the values stay in ``audit_log``, not in a table of their own):

- Every record gets ``seq`` (1, 2, 3 ... unique, no gap), ``prev_hash`` and
  ``record_hash`` (``rewards_engine.domain.audit_chain``): one chain for the whole log,
  not one per day. Staff actions are a few thousand a day at most, so one writer at a
  time (``services.audit`` takes the chain's lock at commit, for milliseconds) costs
  nothing, and one chain is verified with one walk and no per-day bookkeeping.
- The erasable values (before, after, reason) are not hashed into the chain
  themselves: each gets a random nonce (``*_nonce``) and an HMAC-SHA256 digest keyed by
  it (``*_digest``), and the chain covers the digests. Erasure sets a value and its nonce
  to NULL; the digest stays, the chain still verifies, and nobody can confirm a guess of
  an erased short value against its digest without the nonce.
- Keeping the values in the same row (rather than moving them to an ``audit_values``
  table) keeps every reader unchanged (API, console, ``list_records``, the tests that
  read ``AuditRecord.before``) and the triggers do the same job: a DELETE is refused,
  and an UPDATE is refused unless all it does is set values, each with its nonce, to NULL.
  Facts, digests, links and hashes can never change.

Existing rows are chained in id order (their created_at order as written), with nonces
and digests computed for their values as they are now.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import rewards_engine.db
from rewards_engine.domain import audit_chain as chain

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASHES = ("prev_hash", "record_hash")
NONCES = tuple(f"{name}_nonce" for name in chain.VALUE_FIELDS)
DIGESTS = tuple(f"{name}_digest" for name in chain.VALUE_FIELDS)
# Whatever an UPDATE does, these stay as they were.
FIXED = ("id", "created_at", *chain.FACT_FIELDS, "seq", *HASHES, *DIGESTS)
BACKFILL_CHUNK = 5_000


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        for name in HASHES + DIGESTS:
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
            )
        for name in NONCES:
            batch_op.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
            )
    _chain_existing_rows()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for name in ("seq", *HASHES):
            batch_op.alter_column(name, nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])
    make_audit_log_insert_only()


def _chain_existing_rows() -> None:
    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("id", sa.BigInteger()),
        sa.column("created_at", rewards_engine.db.UTCDateTime(timezone=True)),
        *(sa.column(name, sa.String()) for name in chain.FACT_FIELDS),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
        sa.column("reason", sa.String()),
        sa.column("seq", sa.BigInteger()),
        *(sa.column(name, sa.String()) for name in HASHES + NONCES + DIGESTS),
    )
    seq, prev, last_id = 0, chain.GENESIS, -1
    while True:
        rows = bind.execute(
            sa.select(log).where(log.c.id > last_id).order_by(log.c.id).limit(BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        changes: list[dict[str, Any]] = []
        for row in rows:
            seq += 1
            change: dict[str, Any] = {"row_id": row.id, "seq": seq, "prev_hash": prev}
            digests: dict[str, str | None] = {}
            for name in chain.VALUE_FIELDS:
                value = getattr(row, name)
                nonce = None if value is None else chain.new_nonce()
                digests[name] = None if nonce is None else chain.value_digest(nonce, value)
                change[f"{name}_nonce"], change[f"{name}_digest"] = nonce, digests[name]
            prev = change["record_hash"] = chain.record_hash(
                seq=seq,
                prev_hash=change["prev_hash"],
                created_at=row.created_at,
                facts={name: getattr(row, name) for name in chain.FACT_FIELDS},
                digests=digests,
            )
            changes.append(change)
        bind.execute(
            log.update()
            .where(log.c.id == sa.bindparam("row_id"))
            .values({name: sa.bindparam(name) for name in ("seq", *HASHES, *NONCES, *DIGESTS)}),
            changes,
        )
        last_id = rows[-1].id


def _erasable(dialect: str, name: str) -> str:
    """SQL that is true when an UPDATE leaves value ``name`` and its nonce as they were,
    or erases both (a JSON null counts as erased: it reads back as None)."""
    if dialect == "postgresql":
        same = (
            f"NEW.{name}::text IS NOT DISTINCT FROM OLD.{name}::text "
            f"AND NEW.{name}_nonce IS NOT DISTINCT FROM OLD.{name}_nonce"
        )
        erased = f"(NEW.{name} IS NULL OR NEW.{name}::text = 'null') AND NEW.{name}_nonce IS NULL"
    else:
        same = f"NEW.{name} IS OLD.{name} AND NEW.{name}_nonce IS OLD.{name}_nonce"
        erased = f"(NEW.{name} IS NULL OR NEW.{name} = 'null') AND NEW.{name}_nonce IS NULL"
    return f"(({same}) OR ({erased}))"


def make_audit_log_insert_only() -> None:
    """The database itself refuses to delete an audit record or change anything in it
    but the erasure of values (with their nonces)."""
    dialect = op.get_bind().dialect.name
    allowed = " AND ".join(_erasable(dialect, name) for name in chain.VALUE_FIELDS)
    if dialect == "postgresql":
        new = ", ".join(f"NEW.{name}" for name in FIXED)
        old = ", ".join(f"OLD.{name}" for name in FIXED)
        op.execute(
            f"""
            CREATE FUNCTION audit_log_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'the audit log is insert-only: DELETE refused';
              END IF;
              IF ({new}) IS DISTINCT FROM ({old}) OR NOT ({allowed}) THEN
                RAISE EXCEPTION 'the audit log is insert-only: an UPDATE may only erase values';
              END IF;
              RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_insert_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_insert_only()"
        )
        return
    changed = " OR ".join(f"NEW.{name} IS NOT OLD.{name}" for name in FIXED)
    op.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is insert-only: DELETE refused'); END"
    )
    op.execute(
        f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        f"WHEN {changed} OR NOT ({allowed}) "
        f"BEGIN SELECT RAISE(ABORT, 'the audit log is insert-only: an UPDATE may only erase "
        f"values'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_insert_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_insert_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        for name in ("seq", *HASHES, *NONCES, *DIGESTS):
            batch_op.drop_column(name)
