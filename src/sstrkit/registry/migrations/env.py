"""Alembic environment of the sstrkit registry.

Run through :func:`sstrkit.registry.db.upgrade`, which passes an open connection
(``config.attributes["connection"]``) inside the transaction that holds the
migration lock. For development with the ``alembic`` command line, give the URL
as ``-x url=sqlite:///...`` (e.g. ``alembic -c /dev/null -x url=... revision
--autogenerate``, with ``script_location`` set to this folder).

Imported outside Alembic (documentation tools, test collection), it does nothing.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from sstrkit.registry.schema import Base


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite: ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Migrate the database of the given connection (or of ``-x url=...``)."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the registry URL: alembic -x url=DATABASE_URL ...")
    engine = create_engine(url)
    with engine.connect() as conn:
        _migrate(conn)
        conn.commit()


if getattr(context, "config", None) is not None:
    run()
