"""Plan signing: a planner signs what it publishes; enactors configured with the key refuse
unsigned or wrongly signed plans, from a file or from the plan store (rollback, repair, resume).

The signature covers the zone, the generation and the content checksum, so neither a plan's
body nor its number can be changed without the key. `Signer` is the seam: `HmacSigner`
(HMAC-SHA256, key from a file or an environment variable) ships here; a KMS signer implements
the same three members (`key_id`, `sign`, `verify`) around `kms.sign`/`kms.verify`.

Format of `Plan.signature`: ``ALGORITHM:KEY-ID:SIGNATURE`` (``hmac-sha256:<key id>:<hex>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from .errors import InvalidInput, PlanIntegrityError
from .plan import Plan

ENV_KEY = "DNSSG_SIGNING_KEY"
_MIN_KEY_BYTES = 16


@runtime_checkable
class Signer(Protocol):
    """Signs and verifies the bytes that identify a plan."""

    algorithm: str
    key_id: str

    def sign(self, message: bytes) -> str: ...

    def verify(self, message: bytes, signature: str) -> bool: ...


class HmacSigner:
    """HMAC-SHA256 with a shared secret (at least 16 bytes)."""

    algorithm = "hmac-sha256"

    def __init__(self, key: bytes, *, key_id: str = "default") -> None:
        if len(key) < _MIN_KEY_BYTES:
            raise InvalidInput(f"signing key {key_id!r}: at least {_MIN_KEY_BYTES} bytes are needed, got {len(key)}")
        self._key = key
        self.key_id = key_id

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, key_id: str | None = None) -> HmacSigner:
        """The key is the file's content (surrounding whitespace stripped)."""
        p = Path(path)
        try:
            key = p.read_bytes().strip()
        except OSError as exc:
            raise InvalidInput(f"signing key file {p}: {exc.strerror or exc}") from exc
        return cls(key, key_id=key_id or p.stem)

    @classmethod
    def from_env(cls, var: str = ENV_KEY, *, key_id: str = "env") -> HmacSigner | None:
        """The key from environment variable `var`, or None when it is not set."""
        value = os.environ.get(var)
        return None if not value else cls(value.encode(), key_id=key_id)

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def verify(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def message(plan: Plan) -> bytes:
    """What a signature covers: zone, generation and content checksum."""
    return f"dns-safeguards plan v1\n{plan.zone}\n{plan.generation}\n{plan.checksum}\n".encode()


def sign_plan(plan: Plan, signer: Signer) -> Plan:
    """`plan` with its signature (its content and checksum unchanged)."""
    return dataclasses.replace(plan, signature=f"{signer.algorithm}:{signer.key_id}:{signer.sign(message(plan))}")


def verify_plan(plan: Plan, signer: Signer, *, where: str = "plan") -> None:
    """PlanIntegrityError unless `plan` carries a valid signature by `signer`'s key."""
    label = f"{plan.zone} generation {plan.generation} ({where})"
    if not plan.signature:
        raise PlanIntegrityError(f"{label}: not signed, and this enactor only applies signed plans")
    algorithm, _, rest = plan.signature.partition(":")
    key_id, _, sig = rest.rpartition(":")
    if algorithm != signer.algorithm or key_id != signer.key_id:
        raise PlanIntegrityError(
            f"{label}: signed with {algorithm}:{key_id}, this enactor trusts {signer.algorithm}:{signer.key_id}"
        )
    if not signer.verify(message(plan), sig):
        raise PlanIntegrityError(f"{label}: the signature does not match its zone, generation and content")
