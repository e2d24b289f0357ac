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

# scrypt parameters: about 50 ms on a laptop core, 16 MiB of memory.
_N, _R, _P = 2**14, 8, 1


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
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got.hex(), digest)
