"""Where the registry lives and how it is opened: URL, engine, migrations.

* **URL**: ``--registry URL`` / ``open_registry(url)``, else the environment
  variable ``SSTRKIT_REGISTRY``, else the SQLite file
  ``$XDG_DATA_HOME/sstrkit/registry.sqlite`` (``~/.local/share/sstrkit/registry.sqlite``
  without ``XDG_DATA_HOME``). A plain file path is taken as a SQLite file; a
  department's PostgreSQL is ``postgresql+psycopg://user:password@host:5432/dbname``.
* **SQLite**: foreign keys on, a 60 s busy timeout, and every write transaction
  begins with ``BEGIN IMMEDIATE`` (the write lock is taken at the start, so two
  processes never both read and then fail to upgrade to writing).
* **Migrations**: :func:`upgrade` runs the Alembic scripts shipped in
  ``sstrkit/registry/migrations`` (no ``alembic.ini`` needed) up to head, in one
  transaction that holds the write lock (SQLite) or an advisory lock
  (PostgreSQL), so that two processes opening a new registry at once do not both
  create it.

Examples
--------
>>> resolve_url("/data/prrt/registry.sqlite")
'sqlite:////data/prrt/registry.sqlite'
>>> resolve_url("postgresql+psycopg://prrt@db.example.org/registry")
'postgresql+psycopg://prrt@db.example.org/registry'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from sstrkit.errors import FileSystemError, InvalidInputError

__all__ = [
    "ENV_VAR",
    "MIGRATIONS",
    "WRITE",
    "current_revision",
    "default_url",
    "head_revision",
    "make_engine",
    "resolve_url",
    "upgrade",
]

#: Environment variable naming the registry URL.
ENV_VAR: Final = "SSTRKIT_REGISTRY"
#: Folder of the Alembic environment and its versions.
MIGRATIONS: Final = Path(__file__).with_name("migrations")
#: Execution option that makes a SQLite transaction begin with ``BEGIN IMMEDIATE``.
WRITE: Final = "sstrkit_write"
#: Advisory-lock key that serialises migrations on PostgreSQL ("sstrkit" in ASCII).
_PG_LOCK_KEY: Final = 0x737374726B6974
_URL_HELP: Final = (
    "a database URL such as sqlite:////path/registry.sqlite or "
    "postgresql+psycopg://user@host:5432/dbname, or a file path (SQLite)"
)


def default_url() -> str:
    """The SQLite file under the user's data folder (``$XDG_DATA_HOME`` or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'sstrkit' / 'registry.sqlite'}"


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """The registry URL: ``url``, else ``$SSTRKIT_REGISTRY``, else :func:`default_url`.

    A value without ``://`` is a path to a SQLite file (made absolute).
    """
    value = os.fspath(url) if url is not None else os.environ.get(ENV_VAR, "")
    value = value.strip()
    if not value:
        return default_url()
    if "://" not in value:
        return f"sqlite:///{Path(value).expanduser().resolve()}"
    return value


def _sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (SQLite: the folder is created, pragmas and locking set)."""
    try:
        u = make_url(url)
    except ArgumentError:
        raise InvalidInputError("--registry", expected=_URL_HELP, actual=repr(url)) from None
    path = _sqlite_file(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileSystemError.from_os_error(exc, "--registry") from None
    kwargs: dict[str, Any] = {}
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 60.0}
    try:
        engine = create_engine(u, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise InvalidInputError(
            "--registry", expected=_URL_HELP, actual=f"{url!r} ({exc})"
        ) from None
    if engine.dialect.name == "sqlite":
        _sqlite_locking(engine)
    return engine


def _sqlite_locking(engine: Engine) -> None:
    """pysqlite's own transaction handling off; BEGIN (IMMEDIATE for writes) by us."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this sstrkit."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at (None: an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (no-op when it is there already).

    Raises :class:`~sstrkit.errors.InvalidInputError` when the database cannot be
    reached or is newer than this sstrkit (a migration it does not know).
    """
    from alembic import command
    from alembic.util import CommandError

    target = head_revision() if revision == "head" else revision
    try:
        with engine.connect() as conn:
            if current_revision(conn) == target:
                return
            conn.rollback()
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                command.upgrade(_alembic_config(conn), revision)
    except CommandError as exc:
        raise InvalidInputError(
            f"registry {engine.url.render_as_string(hide_password=True)}",
            expected=f"a registry at a migration this sstrkit knows (head {target})",
            actual=str(exc),
            fix="update sstrkit to the version that wrote this registry",
        ) from None
    except SQLAlchemyError as exc:
        raise unreachable(engine, exc) from None


def unreachable(engine: Engine, exc: BaseException) -> InvalidInputError:
    """The typed error for a database that cannot be opened or used."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    where = engine.url.render_as_string(hide_password=True)
    return InvalidInputError(
        f"registry {where}",
        expected="a database sstrkit can open and write",
        actual=reason[:300],
        fix="check the URL (--registry or $SSTRKIT_REGISTRY), that the server runs and that "
        "you may write the database",
    )
