"""Engine, sessions and the unit of work: one transaction per use case.

SQLite is the embedded default and PostgreSQL production. Their locking differs, so
this module evens it out: on SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken up front, so two workers never deadlock
upgrading a read lock), runs in WAL mode with a busy timeout, and enforces foreign
keys. On PostgreSQL, services lock the rows they change (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeDecorator

from rewards_engine.domain.errors import Unavailable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A transaction that lost to another (serialization_failure, deadlock_detected) was
# rolled back whole: running it again is safe and usually succeeds at once.
LOST_SQLSTATES = frozenset({"40001", "40P01"})
# A lock held longer than ``lock_timeout_ms`` (lock_not_available): the holder is slow,
# so the request gets a 503 at once rather than waiting without bound or retrying.
BUSY_SQLSTATES = frozenset({"55P03"})
DEFAULT_LOCK_TIMEOUT_MS = 5_000
CONTENTION_ATTEMPTS = 5
CONTENTION_BASE_DELAY_S = 0.02
P = ParamSpec("P")
T = TypeVar("T")
V = TypeVar("V", bound="DataclassInstance")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite keeps no offset, so values are stored as naive UTC and given back aware;
    a naive value handed in is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass
class UnitOfWork:
    """A session in a transaction, plus the events it publishes.

    Events reach the database's subscribers only once the transaction has
    committed, so that nothing outside the database (the Honor Wall in Redis)
    ever reflects a write that rolled back.
    """

    session: Session
    events: list[object] = field(default_factory=list)
    preparers: Sequence[Callable[[UnitOfWork], None]] = ()

    def publish(self, event: object) -> None:
        self.events.append(event)

    def prepare(self) -> None:
        """Run the database's preparers (``Database.before_commit``) now, before the
        rows the caller is about to update last are locked; the commit runs them again
        for what is published after (a preparer only handles events not yet prepared)."""
        if self.events:
            for prepare in self.preparers:
                prepare(self)


class Database:
    """The engine of one process and the factory of its units of work."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 5,
        lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
        session_info: dict[str, Any] | None = None,
    ) -> None:
        """``session_info`` is handed to every session (``Session.info``): what use cases
        read of the configuration without a round trip (the erasure salts)."""
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        # hide_parameters: a failing statement's error (and so its log line) never holds
        # the values bound to it: an agent's search text, an address, a code.
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
        if self.is_sqlite:
            in_memory = url in ("sqlite://", "sqlite:///:memory:")
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if not in_memory:
                kwargs["poolclass"] = NullPool  # cheap to open; no locks kept by idle pools
        else:
            # No pre-ping (a round trip per checkout): after a server restart the first
            # use of a dead connection fails (a 503 for that request), SQLAlchemy then
            # drops the whole stale pool, and the next requests connect afresh.
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_recycle=3600)
            # JIT compiles mid-size statements on big tables for longer than they run
            # (docs/capacity.md, R3: a fraud statement 522 -> 34 ms without it).
            # lock_timeout: a request waits a bounded time for a row another holds,
            # then answers 503 (is_contention) instead of holding its worker.
            kwargs["connect_args"] = {"options": f"-c jit=off -c lock_timeout={lock_timeout_ms}"}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        info = dict(session_info or {})
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False, info=info)
        self._writer = sessionmaker(
            bind=self.engine.execution_options(write=True), expire_on_commit=False, info=info
        )
        self._subscribers: list[Callable[[list[object]], None]] = []
        self._preparers: list[Callable[[UnitOfWork], None]] = []

    def subscribe(self, handler: Callable[[list[object]], None]) -> None:
        """Call ``handler`` with the events of every committed transaction that had any."""
        self._subscribers.append(handler)

    def before_commit(self, preparer: Callable[[UnitOfWork], None]) -> None:
        """Call ``preparer`` with every transaction that published events, just before it
        commits: it may read in that transaction (what its subscribers will need, as the
        commit will make it) and publish more events. Its failure rolls the transaction
        back, so a preparer only reads."""
        self._preparers.append(preparer)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[UnitOfWork]:
        """One write transaction: commit on success, roll back on any exception.

        ``durable=False`` is for bookkeeping that may be lost in a crash without harm
        (it is redone): on PostgreSQL its commit does not wait for the WAL flush.
        """
        session = self._writer()
        uow = UnitOfWork(session, preparers=self._preparers)
        if not durable and self.is_postgres:
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        try:
            yield uow
            uow.prepare()
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        if uow.events:
            for handler in self._subscribers:
                try:
                    handler(uow.events)
                except Exception:  # a projection failure never undoes a committed write
                    log.exception("event handler failed")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session; it never commits.

        ``close`` (not ``rollback``) ends it, so the objects read stay loaded and can
        be serialised after the session is gone.
        """
        session = self._reader()
        try:
            yield session
        finally:
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def lost_to_another(exc: BaseException) -> bool:
    """A deadlock or a serialization failure: nothing was written; run it again."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in LOST_SQLSTATES


def is_contention(exc: BaseException) -> bool:
    """Other transactions were in the way (lost to one, or a lock or SQLite's writer
    lock held past its timeout): nothing was written, and the client should retry."""
    if lost_to_another(exc):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in BUSY_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig) or "database table is locked" in str(exc.orig)


_TRANSIENT = (
    "database is locked", "could not connect", "connection", "server closed",
    "terminating", "timeout", "shutting down", "starting up", "too many clients",
)  # fmt: skip


def database_failure(exc: BaseException) -> str | None:
    """What a database error means for a caller: ``"busy"`` (other transactions were in
    the way: retry at once), ``"unavailable"`` (an outage or overload: retry later), or
    None (not the database's state but a bug, e.g. a missing column, or not a database
    error at all)."""
    if not isinstance(exc, DBAPIError):
        return None
    if is_contention(exc):
        return "busy"
    if exc.connection_invalidated:
        return "unavailable"
    if isinstance(exc, OperationalError) and any(
        marker in str(exc.orig).lower() for marker in _TRANSIENT
    ):
        return "unavailable"
    return None


def retry_on_contention(use_case: Callable[P, T]) -> Callable[P, T]:
    """Run a use case again, with its whole transaction, when it lost to another one
    (a deadlock or a serialization failure).

    Bounded: after ``CONTENTION_ATTEMPTS`` tries the caller gets :class:`Unavailable`
    (HTTP 503 with ``Retry-After``), never the driver's error. Jittered exponential
    delays keep the losers of one collision from colliding again. Only for use cases
    that do nothing but database work inside their transactions, and whose retries
    are made safe by their idempotency keys.
    """

    @functools.wraps(use_case)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, CONTENTION_ATTEMPTS + 1):
            try:
                return use_case(*args, **kwargs)
            except DBAPIError as exc:
                if not lost_to_another(exc):
                    raise  # a bug, an outage or a long-held lock: no retry helps now
                fields = {"use_case": use_case.__name__, "attempt": attempt,
                          "error": type(exc.orig).__name__}  # fmt: skip
                if attempt == CONTENTION_ATTEMPTS:
                    log.warning("contention: giving up", extra={"fields": fields})
                    raise Unavailable(
                        "the database is busy with other requests; retry",
                        code="database_busy",
                        retry_after=1,
                    ) from exc
                log.info("contention: retrying", extra={"fields": fields})
                time.sleep(random.uniform(0, CONTENTION_BASE_DELAY_S * 2**attempt))  # noqa: S311
        raise AssertionError("unreachable")

    return run


def lock_keys(session: Session, namespace: str, keys: Iterable[str]) -> None:
    """Take transaction-scoped locks on named things that have no row of their own
    (a camera's cap in a campaign), in one global order so that two transactions
    never wait on each other in a cycle. PostgreSQL: advisory locks on a 64-bit hash
    of each name (a collision only makes two names share a lock). SQLite needs none:
    its writers run one at a time (``BEGIN IMMEDIATE``)."""
    if dialect_of(session) != "postgresql":
        return
    ids = sorted(
        {
            int.from_bytes(hashlib.blake2b(f"{namespace}\0{key}".encode(), digest_size=8).digest(),
                           "big", signed=True)
            for key in keys
        }
    )  # fmt: skip
    if ids:
        # unnest yields the array's elements in order: the locks are taken in that order.
        session.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k"),
            {"ids": ids},
        ).all()


def table_of(model: type[Any]) -> Table:
    """A table model's Core ``Table`` (for bulk statements and column lists)."""
    table = model.__table__  # set on every table=True class; SQLModel's types omit it
    assert isinstance(table, Table)
    return table


def row_view(view: type[V], row: object) -> V:
    """A use case's frozen result type filled from an ORM row, field by field name, inside
    the transaction: what the API gets instead of the row itself."""
    return view(**{spec.name: getattr(row, spec.name) for spec in fields(view)})


def changed_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed."""
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def delete_older(
    db: Database, model: Any, created_at: Any, before: datetime, chunk: int = 5_000
) -> int:
    """Delete ``model``'s rows created before ``before``, a chunk of ids per transaction
    (a purge of millions never holds one long transaction); how many went."""
    deleted = 0
    while True:
        with db.transaction() as uow:
            ids = list(
                uow.session.scalars(select(model.id).where(created_at < before).limit(chunk))
            )
            if ids:
                uow.session.execute(delete(model).where(model.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < chunk:
            return deleted


def insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` on both backends."""
    return insert_of(dialect_of(session), table)


def insert_of(dialect: str, table: Any) -> Any:
    """``insert`` for a statement built once per dialect (``functools.cache``)."""
    return (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)


@functools.cache
def upsert_adding(
    dialect: str, table: Table, keys: tuple[str, ...], added: str, taken: tuple[str, ...] = ()
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE``: the new row's ``added`` is added to the
    stored one and its ``taken`` columns replace the stored ones. Built once per dialect
    and shape, and run as an executemany (compiled once; a multi-row VALUES never is):
    the counters and tallies every submission moves."""
    statement = insert_of(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={
            added: table.c[added] + statement.excluded[added],
            **{name: statement.excluded[name] for name in taken},
        },
    )


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows, all with the same columns, in one statement, in their order.

    On PostgreSQL the rows are streamed by ``COPY ... FROM STDIN``: psycopg writes the
    copy format in C, where the ``INSERT ... SELECT FROM unnest(arrays)`` it replaced
    spent most of a 500-clip insert quoting each array element in Python
    (docs/performance.md). SQLite, in process, takes the executemany.
    """
    if not rows:
        return
    if dialect_of(session) == "postgresql" and all(row.keys() == rows[0].keys() for row in rows):
        constants = _constant_defaults(table, list(rows[0]))
        if constants is not None:
            _copy_rows(session, table, [row | constants for row in rows] if constants else rows)
            return
    session.execute(table.insert(), list(rows))


def _constant_defaults(table: Table, names: list[str]) -> dict[str, Any] | None:
    """The Python defaults of the columns not in ``names`` (an INSERT fills them in; a
    COPY does not), or None if one is computed (SQLAlchemy's INSERT must then run)."""
    constants = {}
    for column in table.c:
        default = column.default
        if column.name in names or default is None:
            continue
        if not isinstance(default, ScalarElementColumnDefault):
            return None
        constants[column.name] = default.arg
    return constants


def _copy_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY`` the rows into ``table`` in the session's transaction. SQLAlchemy does not
    speak COPY, so its part is done here (the caller adds the columns' Python defaults):
    each column type's bind processing for the dialect (UTC datetimes: a naive one is
    refused), and a driver error raised as SQLAlchemy's (an ``IntegrityError``, a lock
    timeout, a lost connection, which is invalidated), as from an ``INSERT``. The
    engine's cursor events do not see it."""
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    processed = [
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
    ]
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    driver_error = dialect.loaded_dbapi.Error
    raw = connection.connection
    cursor = raw.cursor()
    try:
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[n] if p is None else p(row[n]) for n, p in processed])
    except driver_error as exc:
        lost = dialect.is_disconnect(exc, raw.dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            None,
            exc,
            driver_error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc
    finally:
        cursor.close()


def allocate_ids(session: Session, table: Any, count: int) -> list[int]:
    """Reserve ``count`` primary keys of ``table`` before inserting its rows.

    With the ids known up front, a bulk insert needs no RETURNING, and the drivers
    take their fast executemany path (psycopg pipelines it). PostgreSQL draws them
    from the column's sequence; SQLite, where the caller holds the write lock
    (``BEGIN IMMEDIATE``), continues after the largest id.
    """
    if count == 0:
        return []
    name = table.name
    if dialect_of(session) == "postgresql":
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": name, "count": count},
        )
        return [int(value) for (value,) in rows]
    start = session.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{name}"')).scalar_one()  # noqa: S608
    return list(range(start + 1, start + 1 + count))


def one_of(session: Session, column: Any, values: Any) -> Any:
    """``column IN values``, as ``column = ANY(:array)`` on PostgreSQL.

    One array parameter instead of hundreds of placeholders: the query text stays
    short and the same for any number of values, so the driver and the server can
    cache it.
    """
    values = list(values)
    if dialect_of(session) == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def one_of_bound(dialect: str, column: Any, name: str) -> Any:
    """``one_of`` for a statement built once (per dialect) and bound at each execution:
    the values are passed as parameter ``name``, a list."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def one_of_words(dialect: str, column: Any, name: str) -> Any:
    """``one_of_bound`` for values that hold no comma (hex digests): on PostgreSQL they
    travel as one text, split by the server, instead of an array whose every element
    psycopg quotes in Python (a 500-clip call probes 1,000 hashes). Bind ``name`` with
    ``words(dialect, values)``."""
    if dialect == "postgresql":
        return column == any_(func.string_to_array(bindparam(name, type_=String), ","))
    return one_of_bound(dialect, column, name)


def words(dialect: str, values: Iterable[str]) -> str | list[str]:
    """The values of a ``one_of_words`` parameter for the dialect."""
    values = list(values)
    if dialect != "postgresql":
        return values
    if any("," in value for value in values):
        raise ValueError("one_of_words takes values without commas")
    return ",".join(values)


def point_lookups(session: Session) -> None:
    """Tell PostgreSQL that the rest of this transaction's statements are index probes,
    whatever its statistics say: a table filled in a burst (a new installation, a large
    import) has none yet, and the planner would scan it whole for a few hundred keys.

    For transactions made of point lookups (deciding clips): a statement that has no
    index to use still scans. Set once per transaction (``SET LOCAL`` ends with it).
    """
    if dialect_of(session) == "postgresql" and not session.info.get(_PROBES):
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.info[_PROBES] = True


_PROBES = "point_lookups"


# What a nightly job's transaction may sort or hash in memory on PostgreSQL, per sort
# or hash and per process, instead of the server's default (4 MB): the full fraud scan's
# aggregates over every clip spilled hundreds of MB to disk (docs/capacity.md, R8).
NIGHTLY_WORK_MEM = "256MB"


def nightly_work_mem(session: Session, size: str = NIGHTLY_WORK_MEM) -> None:
    """Give the session's current transaction ``size`` of ``work_mem`` (PostgreSQL;
    SQLite has no such setting). ``SET LOCAL``: it ends with the transaction."""
    if dialect_of(session) == "postgresql":
        if not re.fullmatch(r"\d+[kMG]B", size):
            raise ValueError(f"not a memory size: {size!r}")
        session.execute(text(f"SET LOCAL work_mem = '{size}'"))


def utc_bucket(session: Session, column: Any, unit: str) -> Any:
    """The UTC hour (``2025-01-15 13``), day (``2025-01-15``) or quarter (``2025-Q1``) of
    a timestamp column, as text, the same on both backends (for GROUP BY)."""
    if dialect_of(session) == "postgresql":
        pattern = {"hour": "YYYY-MM-DD HH24", "day": "YYYY-MM-DD", "quarter": 'YYYY-"Q"Q'}[unit]
        return func.to_char(func.timezone("UTC", column), pattern)
    if unit == "quarter":
        month = cast(func.strftime("%m", column), Integer)
        return func.strftime("%Y", column) + "-Q" + cast((month + 2) // 3, String)
    return func.substr(column, 1, {"hour": 13, "day": 10}[unit])


def seconds_between(session: Session, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as a SQL expression."""
    if dialect_of(session) == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0
