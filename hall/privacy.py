"""Personal data on the floor: masked names for screens, salted hashes for storage.

Pure functions, no I/O. Screens show at most a masked name (张*三); ID numbers are stored only as
``person_hash`` and shown to staff, rarely, as ``mask_id``.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["keyed_hash", "mask_id", "mask_name", "normalise_id", "person_hash"]


def mask_name(name: str) -> str:
    """Mask a name for public display: 张三→张*, 张小三→张*三, 欧阳小明→欧**明, 张→*.

    For two or more characters the full name is never returned: the first character is kept
    and, from three characters on, the last one too.
    """
    name = name.strip()
    n = len(name)
    if n == 0:
        return ""
    if n == 1:
        return "*"
    if n == 2:
        return name[0] + "*"
    return name[0] + "*" * (n - 2) + name[-1]


def normalise_id(id_number: str) -> str:
    """The canonical form of an ID number: outer whitespace removed, check char ``x`` upper-cased."""
    return id_number.strip().upper()


def keyed_hash(secret: bytes, *parts: str) -> str:
    """HMAC-SHA256 (hex) of ``parts`` joined by ``|`` under the deployment's secret. The first part
    names the purpose (``pickup``, ``login``, ``client``), so one value never hashes alike for two."""
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def person_hash(secret: bytes, id_number: str) -> str:
    """HMAC-SHA256 (hex) of the normalised ID number under the hall's secret.

    A keyed hash, not a plain one: the ID number space is small enough to enumerate, so an
    unkeyed hash would be as good as storing the number in clear.
    """
    if not secret:
        raise ValueError("person_hash needs a non-empty secret")
    return hmac.new(secret, normalise_id(id_number).encode("utf-8"), hashlib.sha256).hexdigest()


def mask_id(id_number: str) -> str:
    """Keep the first 3 and last 2 characters, ``*`` for the rest: 34010219900101123X → 340*************3X.

    Strings of 5 characters or fewer are masked entirely, so nothing short is ever shown whole.
    """
    s = normalise_id(id_number)
    if len(s) <= 5:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 5) + s[-2:]
