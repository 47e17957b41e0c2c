"""The 安康码 verifier adapter.

A kiosk scanner reads a 安康码 string; the provincial API verifies it online and answers with
the holder's name, ID number and the code's status. ``HttpAnkangVerifier`` is the client of that
API; ``hall.queue.ankang_standin`` is a local service of the same shape for demos and tests.

API shape: ``POST {url}`` with JSON ``{"code": ...}`` and header ``X-Api-Key``; ``200`` answers
``{"name", "id_number", "status"}`` with status ``valid``, ``expired``, ``revoked`` or ``invalid``.

Nothing here logs the code, the name or the ID number: only statuses and error kinds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from hall.errors import Forbidden, Unavailable

__all__ = [
    "AnkangIdentity",
    "AnkangRefused",
    "AnkangUnavailable",
    "AnkangVerifier",
    "HttpAnkangVerifier",
]

log = logging.getLogger(__name__)

RefusalReason = Literal["expired", "invalid", "revoked"]
_REFUSED_STATUSES: frozenset[str] = frozenset({"expired", "invalid", "revoked"})
_REFUSED_HTTP: frozenset[int] = frozenset({400, 404, 410, 422})
_AUTH_HTTP: frozenset[int] = frozenset({401, 403})


@dataclass(frozen=True)
class AnkangIdentity:
    name: str
    id_number: str
    status: str


class AnkangRefused(Forbidden):
    """The code was read and checked, and it does not identify anyone now."""

    code = "credential_refused"

    def __init__(self, reason: RefusalReason) -> None:
        self.reason = reason
        super().__init__(
            "安康码无效或已过期，请重新出示或改用身份证",
            "安康码 is invalid or has expired; please show it again or use your ID card",
            extra={"reason": reason},
        )


class AnkangUnavailable(Unavailable):
    """The verifier could not give an answer; the kiosk should offer the ID card instead."""

    code = "verifier_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "安康码核验服务暂时不可用，请改用身份证取号",
            "安康码 verification is unavailable; please use your ID card",
            extra={"fallback": "id_card"},
        )


class AnkangVerifier(Protocol):
    async def verify(self, code: str) -> AnkangIdentity:
        """Return the holder of a valid code; raise ``AnkangRefused`` or ``AnkangUnavailable``."""
        ...


class HttpAnkangVerifier:
    """Client of the provincial 安康码 API (and of the local stand-in, which speaks the same).

    One ``httpx.AsyncClient`` per verifier, created on first use and bound to the event loop
    that first uses it; call ``aclose()`` (or use ``async with``) when done.

    Mapping: ``200`` + status ``valid`` → identity; ``200`` + any other status → ``AnkangRefused``
    (unknown statuses count as ``invalid``: only ``valid`` ever passes); ``400/404/410/422`` →
    ``AnkangRefused("invalid")``; ``401/403`` (our key is refused: a configuration fault, logged
    as a warning), other statuses, transport errors, timeouts and malformed answers →
    ``AnkangUnavailable``.
    """

    def __init__(self, url: str, api_key: str, *, timeout: float = 3.0) -> None:
        self.url = url
        self._api_key = api_key
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:  # keeps the key out of reprs and tracebacks
        return f"HttpAnkangVerifier(url={self.url!r}, timeout={self.timeout!r})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                headers={"X-Api-Key": self._api_key},
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> HttpAnkangVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def verify(self, code: str) -> AnkangIdentity:
        code = code.strip()
        if not code:
            raise AnkangRefused("invalid")
        try:
            response = await self._http().post(self.url, json={"code": code})
        except httpx.TimeoutException as exc:
            log.warning("安康码 verifier timed out after %.1fs (%s)", self.timeout, type(exc).__name__)
            raise AnkangUnavailable() from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.warning("安康码 verifier unreachable (%s)", type(exc).__name__)
            raise AnkangUnavailable() from exc

        status_code = response.status_code
        if status_code in _REFUSED_HTTP:
            raise AnkangRefused("invalid")
        if status_code in _AUTH_HTTP:
            log.warning(
                "安康码 verifier refused our API key (HTTP %d): check the verifier configuration",
                status_code,
            )
            raise AnkangUnavailable()
        if status_code != 200:
            log.warning("安康码 verifier answered HTTP %d", status_code)
            raise AnkangUnavailable()

        return _identity_from(response)


def _identity_from(response: httpx.Response) -> AnkangIdentity:
    """Judge a 200 answer. A refusal needs only a status; a pass needs name and ID number too.

    Anything not of the documented shape is the verifier's fault (``AnkangUnavailable``).
    """
    try:
        body = response.json()
    except ValueError as exc:
        log.warning("安康码 verifier answered malformed JSON")
        raise AnkangUnavailable() from exc
    if not isinstance(body, dict):
        log.warning("安康码 verifier answered JSON that is not an object")
        raise AnkangUnavailable()
    status = body.get("status")
    if not isinstance(status, str) or not status:
        log.warning("安康码 verifier answer lacks a status")
        raise AnkangUnavailable()
    if status in _REFUSED_STATUSES:
        raise AnkangRefused(status)  # type: ignore[arg-type]
    if status != "valid":
        log.warning("安康码 verifier answered an unknown status %r; refusing the code", status[:32])
        raise AnkangRefused("invalid")
    name, id_number = body.get("name"), body.get("id_number")
    if (
        not isinstance(name, str)
        or not name.strip()
        or not isinstance(id_number, str)
        or not id_number.strip()
    ):
        log.warning("安康码 verifier passed a code but its answer lacks the name or ID number")
        raise AnkangUnavailable()
    return AnkangIdentity(name=name.strip(), id_number=id_number.strip(), status=status)
