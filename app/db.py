"""SQLAlchemy engine and session, usable from Flask requests and from RQ jobs alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use app.core.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Session = scoped_session(sessionmaker(expire_on_commit=False))


_read_only: ContextVar[bool] = ContextVar("incident_desk_read_only", default=False)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class WriteInReadOnlyTransaction(RuntimeError):
    """Something wrote inside `read_only()`: a GET view that writes must say so (`writes`)."""


@contextmanager
def read_only() -> Iterator[None]:
    """Transactions begun inside only read. On SQLite they start with a plain BEGIN,
    which in WAL mode neither waits for nor holds the write lock, so pages read in
    parallel with each other and with jobs. A write inside raises at once: a read
    transaction that later writes would fail with "database is locked" only when
    another writer happened to commit in between, which is worse than failing always."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


@contextmanager
def writing(session) -> Iterator[None]:
    """A write that a read-only request must make (an API token's last use): ends the
    read transaction; a transaction begun inside takes the write lock as usual."""
    session.commit()
    token = _read_only.set(False)
    try:
        yield
    finally:
        _read_only.reset(token)


def make_engine(url: str) -> Engine:
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        event.listen(engine, "begin", _note_read_only)
    event.listen(engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


def _sqlite_pragmas(dbapi_connection, _record):
    # Let SQLAlchemy, not pysqlite, issue BEGIN, so savepoints work (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection):
    """Take the write lock up front unless the transaction only reads: a deferred
    transaction that reads and then writes fails with "database is locked" when another
    writer commits in between."""
    read_only_now = _note_read_only(connection)
    connection.exec_driver_sql("BEGIN" if read_only_now else "BEGIN IMMEDIATE")


def _note_read_only(connection) -> bool:
    connection.info["read_only"] = read_only_now = _read_only.get()
    return read_only_now


def _refuse_writes_when_read_only(connection, _cursor, statement, *_args):
    if connection.info.get("read_only") and \
            statement.lstrip()[:7].upper().startswith(_WRITES):
        raise WriteInReadOnlyTransaction(
            f"A write in a read-only transaction: {statement.split(chr(10))[0][:80]}")


@contextmanager
def transaction(session) -> Iterator[None]:
    """The block's writes commit together at its end, or on any error roll back together
    (and the error goes on): the one shape of a service's transaction."""
    try:
        yield
        session.commit()
    except Exception:
        session.rollback()
        raise


def commit(session) -> None:
    """Commit, or roll back and re-raise: a failed commit leaves no half-done work behind."""
    try:
        session.commit()
    except Exception:
        session.rollback()
        raise


def insert_for(session):
    """`insert` for the session's database, with its ON CONFLICT clauses (SQLite and
    PostgreSQL spell them the same in SQLAlchemy, but they live in each dialect)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def bind(engine: Engine) -> None:
    Session.remove()
    Session.configure(bind=engine)

