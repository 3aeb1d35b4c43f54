"""``sstrkit serve`` (the web review) and ``sstrkit users ...`` (its accounts).

``serve [--registry URL] [--host 127.0.0.1] [--port 8000]`` starts the FastAPI
application of :mod:`sstrkit.web` with uvicorn. It binds to the loopback address by
default: only this machine can connect. Give ``--host 0.0.0.0`` (or an address) to serve
a department, behind an HTTPS proxy (then ``--secure-cookie``). The access log goes to
stderr and, with ``--access-log FILE``, to that file.

``users add NAME --role physicist|physician|admin`` reads the password from stdin (asked
twice on a terminal, else the first line), hashes it with Argon2id and stores the
account in the registry; ``users list``, ``users disable NAME``, ``users enable NAME``
and ``users password NAME`` (a new password on stdin) manage them. See docs/web.md.
"""

from __future__ import annotations

import getpass
import ipaddress
import sys
from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, table, warn
from sstrkit.cli.registry import REGISTRY_HELP

users_app = typer.Typer(
    help="Accounts of the web review (sstrkit serve): add, list, disable, enable, password.",
    no_args_is_help=True,
)
_JSON = typer.Option(False, "--json", help="Print one JSON document.")
_REGISTRY = typer.Option(None, "--registry", help=REGISTRY_HELP)


def _accounts(url: str | None) -> Any:
    from sstrkit.registry import open_registry
    from sstrkit.registry.accounts import Accounts

    return Accounts(open_registry(url))


def _read_password() -> str:
    """The new password: twice on a terminal, else the first line of stdin."""
    from sstrkit.errors import InvalidInputError

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidInputError("password", expected="the same twice", actual="different")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


@users_app.command("add")
@guarded
def add(
    name: str = typer.Argument(..., help="Account name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="physicist, physician or admin."),
    registry: str | None = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """Create an account; the password is read from stdin (at least 10 characters)."""
    from sstrkit.registry.accounts import valid_name, valid_role

    valid_name(name)
    valid_role(role)
    accounts = _accounts(registry)
    try:
        rec = accounts.add_user(name, role, _read_password(), created_by="sstrkit users add")
    finally:
        accounts.registry.close()
    emit(
        rec.to_dict(),
        as_json,
        lambda d: console.print(f"account {d['name']} ({d['role']}) created", markup=False),
    )


@users_app.command("list")
@guarded
def list_users(registry: str | None = _REGISTRY, as_json: bool = _JSON) -> None:
    """All accounts: name, role, created, state."""
    accounts = _accounts(registry)
    try:
        rows = [u.to_dict() for u in accounts.users()]
    finally:
        accounts.registry.close()

    def render(users: list[dict[str, Any]]) -> None:
        console.print(
            table(
                "Accounts",
                ("name", "role", "created (UTC)", "by", "state"),
                [
                    (u["name"], u["role"], u["created_at"][:16].replace("T", " "),
                     u["created_by"], "disabled" if u["disabled"] else "active")
                    for u in users
                ],
            )
        )  # fmt: skip

    emit(rows, as_json, render)


def _switch(name: str, registry: str | None, as_json: bool, disabled: bool) -> None:
    accounts = _accounts(registry)
    try:
        rec = accounts.set_disabled(name, disabled)
    finally:
        accounts.registry.close()
    what = "disabled (its sessions ended)" if disabled else "enabled"
    emit(rec.to_dict(), as_json, lambda d: console.print(f"account {d['name']} {what}"))


@users_app.command("disable")
@guarded
def disable(
    name: str = typer.Argument(...), registry: str | None = _REGISTRY, as_json: bool = _JSON
) -> None:
    """Disable an account (it can no longer log in; its sessions end)."""
    _switch(name, registry, as_json, True)


@users_app.command("enable")
@guarded
def enable(
    name: str = typer.Argument(...), registry: str | None = _REGISTRY, as_json: bool = _JSON
) -> None:
    """Enable a disabled account."""
    _switch(name, registry, as_json, False)


@users_app.command("password")
@guarded
def password(
    name: str = typer.Argument(...), registry: str | None = _REGISTRY, as_json: bool = _JSON
) -> None:
    """Set an account's password (read from stdin); its sessions end."""
    accounts = _accounts(registry)
    try:
        rec = accounts.set_password(name, _read_password())
    finally:
        accounts.registry.close()
    emit(rec.to_dict(), as_json, lambda d: console.print(f"password of {d['name']} set"))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@guarded
def serve(
    registry: str | None = _REGISTRY,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (default: this machine only)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="NIfTI conversions and DVHs (default ~/.cache/sstrkit/web)."
    ),
    access_log: Path | None = typer.Option(
        None, "--access-log", help="Also append the access log to this file."
    ),
    secure_cookie: bool = typer.Option(
        False, "--secure-cookie", help="Mark cookies Secure (served over HTTPS)."
    ),
    session_hours: float = typer.Option(12.0, "--session-hours", min=0.1, help="Login lifetime."),
) -> None:
    """Serve the web review of the registry (patients, viewer, approvals) with uvicorn."""
    import logging

    import uvicorn

    from sstrkit.web import WebSettings, create_app
    from sstrkit.web.app import ACCESS_LOGGER
    from sstrkit.web.settings import default_cache_dir

    settings = WebSettings(
        registry=registry,
        cache_dir=cache_dir or default_cache_dir(),
        access_log=access_log,
        secure_cookie=secure_cookie,
        session_hours=session_hours,
    )
    if not _loopback(host):
        warn(
            f"serving on {host}: other machines can connect; put sstrkit serve behind an "
            "HTTPS proxy and give --secure-cookie"
        )
    app = create_app(settings)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger(ACCESS_LOGGER).addHandler(stderr)
    n_users = len(app.state.accounts.users())
    console.print(
        f"sstrkit serve: registry {app.state.registry.url}, http://{host}:{port}/ "
        f"({n_users} accounts{'; add one with sstrkit users add' if not n_users else ''})",
        markup=False,
        soft_wrap=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``users`` group to ``app``."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
