"""Accounts (admin only): list, create, disable, enable, set a password.

The same operations exist on the command line (``sstrkit users add NAME --role ...``).
Accounts are never deleted: the audit trail keeps pointing at them. Disabling an
account or setting its password ends its sessions.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from sstrkit.registry.accounts import UserRecord
from sstrkit.web.auth import require

__all__ = ["router"]

router = APIRouter(prefix="/api/users", tags=["accounts"])
_ADMIN = Depends(require("admin"))


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["physicist", "physician", "admin"]
    password: str = Field(min_length=1, repr=False)


class PasswordIn(BaseModel):
    password: str = Field(min_length=1, repr=False)


def _accounts(request: Request) -> Any:
    return request.app.state.accounts


@router.get("", summary="All accounts")
def users(request: Request, _user: UserRecord = _ADMIN) -> list[Any]:
    return [u.to_dict() for u in _accounts(request).users()]


@router.post("", status_code=201, summary="Create an account")
def add_user(request: Request, body: UserIn, user: UserRecord = _ADMIN) -> dict[str, Any]:
    """Name (letters, digits, ``._@-``), role, password (at least 10 characters)."""
    rec = _accounts(request).add_user(body.name, body.role, body.password, created_by=user.name)
    out: dict[str, Any] = rec.to_dict()
    return out


def _switch(request: Request, name: str, user: UserRecord, disabled: bool) -> dict[str, Any]:
    if disabled and name == user.name:
        raise HTTPException(400, "an admin cannot disable their own account")
    if _accounts(request).user(name) is None:
        raise HTTPException(404, f"no account {name!r}")
    out: dict[str, Any] = _accounts(request).set_disabled(name, disabled).to_dict()
    return out


@router.post("/{name}/disable", summary="Disable an account (ends its sessions)")
def disable(request: Request, name: str, user: UserRecord = _ADMIN) -> dict[str, Any]:
    return _switch(request, name, user, True)


@router.post("/{name}/enable", summary="Enable an account")
def enable(request: Request, name: str, user: UserRecord = _ADMIN) -> dict[str, Any]:
    return _switch(request, name, user, False)


@router.post("/{name}/password", summary="Set an account's password (ends its sessions)")
def set_password(
    request: Request, name: str, body: PasswordIn, _user: UserRecord = _ADMIN
) -> dict[str, Any]:
    if _accounts(request).user(name) is None:
        raise HTTPException(404, f"no account {name!r}")
    out: dict[str, Any] = _accounts(request).set_password(name, body.password).to_dict()
    return out
