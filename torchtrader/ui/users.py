"""Dashboard users in the state DB (table ``ui_users``, Alembic revision 0003) with argon2 hashes.

Passwords are never stored or logged; only the argon2id hash is kept. ``token_version`` is bumped
when a user's password or role changes, which retires every refresh token issued before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from torchtrader.bots.store import StateStore, utcnow
from torchtrader.bots.store.models import UTCDateTime
from torchtrader.errors import ConfigError

ROLES = ("viewer", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing of a failed login the same.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class _Base(DeclarativeBase):
    pass


class UserRow(_Base):
    __tablename__ = "ui_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class User:
    name: str
    role: str
    token_version: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role}


def check_new_user(name: str, role: str, password: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"user name {name!r}: use 1-64 letters, digits or . _ @ - (starting with one)")
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"password for {name!r} is shorter than {MIN_PASSWORD} characters: choose a longer one"
        )


def add_user(store: StateStore, name: str, role: str, password: str, *, replace: bool = False) -> User:
    """Create (or with ``replace`` re-key) a user; the password is hashed with argon2id."""
    check_new_user(name, role, password)
    hashed = _HASHER.hash(password)
    now = utcnow()
    with store.session() as s:
        row = s.get(UserRow, name)
        if row is not None and not replace:
            raise ConfigError(f"user {name!r} exists: pass --replace to set a new password or role")
        if row is None:
            row = UserRow(
                name=name, role=role, password_hash=hashed, token_version=0, created_at=now, updated_at=now
            )
            s.add(row)
        else:
            row.role, row.password_hash, row.updated_at = role, hashed, now
            row.token_version += 1
        s.flush()
        return User(row.name, row.role, row.token_version)


def get_user(store: StateStore, name: str) -> User | None:
    with store.session() as s:
        row = s.get(UserRow, name)
        return None if row is None else User(row.name, row.role, row.token_version)


def list_users(store: StateStore) -> list[User]:
    with store.session() as s:
        return [
            User(r.name, r.role, r.token_version) for r in s.scalars(select(UserRow).order_by(UserRow.name))
        ]


def authenticate(store: StateStore, name: str, password: str) -> User | None:
    """The user when ``password`` matches, else None (same work whether or not the user exists)."""
    with store.session() as s:
        row = s.get(UserRow, name)
        stored = row.password_hash if row is not None else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _HASHER.check_needs_rehash(stored):
            row.password_hash = _HASHER.hash(password)
        return User(row.name, row.role, row.token_version)
