"""Who may do what. Enforced here, in core, not only hidden in the GUI.

Passwords (optional, per project) are stored only as a salted scrypt hash.

>>> h = hash_password("s3cret")
>>> verify_password("s3cret", h), verify_password("guess", h)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from .errors import PermissionDenied
from .model import Role

#: action -> roles allowed to do it
PERMISSIONS: dict[str, set[Role]] = {
    "annotate": {Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN},
    "review": {Role.REVIEWER, Role.ADMIN},
    "admin": {Role.ADMIN},  # users, settings, training, promoting models
}

# scrypt parameters: N=2^17, r=8, p=1 is OWASP's recommended minimum for scrypt (2025); it needs
# 128 MiB of memory per hash and takes about 0.3-0.5 s on one laptop core, which is what makes a
# stolen hash expensive to guess. Hashes made with a lower cost (Proofdesk <= 0.1 used N=2^14)
# still verify and are re-hashed at this cost at the next successful sign-in (needs_rehash).
_N, _R, _P = 2**17, 8, 1
# hashlib's default memory cap (32 MiB) is below what N=2^17 needs (128 * N * r bytes).
_MAXMEM = 256 * 1024 * 1024


def require(role: Role | str, action: str) -> None:
    """Raise PermissionDenied unless ``role`` may do ``action``."""
    role = Role(role)
    if role not in PERMISSIONS[action]:
        raise PermissionDenied(f"{_a(role.value)} cannot {action}; ask {_a(_who(action))}")


def _who(action: str) -> str:
    return " or ".join(sorted(r.value for r in PERMISSIONS[action]))


def _a(noun: str) -> str:
    """``annotator`` -> ``an annotator``."""
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32, maxmem=_MAXMEM)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _parse(stored: str) -> tuple[int, int, int, bytes, str] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        n_, r_, p_ = int(n), int(r), int(p)
        # A tampered hash must not make verifying cost gigabytes or hours: bound what we accept.
        if not (2 <= n_ <= 2**20 and n_ & (n_ - 1) == 0 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return None
        return n_, r_, p_, bytes.fromhex(salt), digest
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    mem = max(_MAXMEM, 128 * n * r * p + 1024 * 1024)
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=mem)
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with a lower cost than today's (or is not ours at all)."""
    parsed = _parse(stored)
    return parsed is None or (parsed[0], parsed[1], parsed[2]) < (_N, _R, _P)
