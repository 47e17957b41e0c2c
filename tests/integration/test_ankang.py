"""The 安康码 verifier adapter against a real stand-in server (and real misbehaving HTTP servers)."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from hall.queue.ankang import AnkangIdentity, AnkangRefused, AnkangUnavailable, HttpAnkangVerifier
from hall.queue.ankang_standin import StandinServer, new_code
from hall.queue.idcard import make_resident_id

NAME = "张小三"
ID_NUMBER = make_resident_id("340102", date(1990, 1, 1), 123)


class Clock:
    """A clock the test moves by hand (Unix seconds)."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinServer]:
    with StandinServer() as server:
        yield server


@pytest.fixture
async def verifier(standin: StandinServer) -> AsyncIterator[HttpAnkangVerifier]:
    async with HttpAnkangVerifier(standin.url, standin.api_key, timeout=2.0) as v:
        yield v


def assert_nothing_personal_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for secret in (NAME, ID_NUMBER, *secrets):
        assert secret not in caplog.text


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_valid_code_verifies_to_the_identity(
    standin: StandinServer, verifier: HttpAnkangVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = standin.issue(NAME, ID_NUMBER)
    assert re.fullmatch(r"AHAKM[A-Z2-7]{20}", code)
    identity = await verifier.verify(code)
    assert identity == AnkangIdentity(name=NAME, id_number=ID_NUMBER, status="valid")
    # a code stays valid until it expires; scanning twice is fine
    assert await verifier.verify(f"  {code}\n") == identity
    assert_nothing_personal_logged(caplog, code)


async def test_code_with_zero_ttl_is_expired(standin: StandinServer, verifier: HttpAnkangVerifier) -> None:
    code = standin.issue(NAME, ID_NUMBER, ttl_s=0)
    with pytest.raises(AnkangRefused) as info:
        await verifier.verify(code)
    assert info.value.extra == {"reason": "expired"}
    assert info.value.status == 403
    assert info.value.code == "credential_refused"


async def test_code_expires_when_its_ttl_has_passed() -> None:
    clock = Clock()
    with StandinServer(clock=clock) as server:
        async with HttpAnkangVerifier(server.url, server.api_key, timeout=2.0) as verifier:
            code = server.issue(NAME, ID_NUMBER, ttl_s=60)
            clock.now += 59
            assert (await verifier.verify(code)).status == "valid"
            clock.now += 1
            with pytest.raises(AnkangRefused) as info:
                await verifier.verify(code)
            assert info.value.reason == "expired"


async def test_revoked_code_is_refused(standin: StandinServer, verifier: HttpAnkangVerifier) -> None:
    code = standin.issue(NAME, ID_NUMBER, status="revoked")
    with pytest.raises(AnkangRefused) as info:
        await verifier.verify(code)
    assert info.value.reason == "revoked"


@pytest.mark.parametrize("code", [new_code(), "not-a-code", "   "])
async def test_unknown_or_empty_code_is_refused(verifier: HttpAnkangVerifier, code: str) -> None:
    with pytest.raises(AnkangRefused) as info:
        await verifier.verify(code)
    assert info.value.reason == "invalid"
    assert info.value.body()["error"] == "credential_refused"


async def test_wrong_api_key_is_a_configuration_fault(
    standin: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    code = standin.issue(NAME, ID_NUMBER)
    caplog.set_level(logging.WARNING, logger="hall.queue.ankang")
    async with HttpAnkangVerifier(standin.url, "not-the-key", timeout=2.0) as verifier:
        with pytest.raises(AnkangUnavailable) as info:
            await verifier.verify(code)
    assert info.value.status == 503
    assert info.value.body()["fallback"] == "id_card"
    assert any(r.levelno == logging.WARNING and "API key" in r.getMessage() for r in caplog.records)
    assert_nothing_personal_logged(caplog, code, "not-the-key")


async def test_closed_port_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    async with HttpAnkangVerifier(f"http://127.0.0.1:{closed_port()}/verify", "k", timeout=2.0) as verifier:
        with pytest.raises(AnkangUnavailable) as info:
            await verifier.verify(new_code())
    assert info.value.body() == {
        "error": "verifier_unavailable",
        "detail": "安康码核验服务暂时不可用，请改用身份证取号 / 安康码 verification is unavailable; please use your ID card",
        "fallback": "id_card",
    }
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_stopped_standin_is_unavailable_and_serves_again_after_restart() -> None:
    with StandinServer() as server:
        code = server.issue(NAME, ID_NUMBER)
        async with HttpAnkangVerifier(server.url, server.api_key, timeout=2.0) as verifier:
            assert (await verifier.verify(code)).status == "valid"
            server.stop()
            assert not server.running
            with pytest.raises(AnkangUnavailable):
                await verifier.verify(code)
            url = server.url
            server.start()
            assert server.url == url
            assert (await verifier.verify(code)).status == "valid"
    assert not server.running


async def test_silent_verifier_times_out_as_unavailable() -> None:
    # A socket that listens but never accepts: the connection is queued, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        async with HttpAnkangVerifier(f"http://127.0.0.1:{port}/verify", "k", timeout=0.3) as verifier:
            with pytest.raises(AnkangUnavailable) as info:
                await verifier.verify(new_code())
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


# --- a real HTTP server that answers whatever the test scripts -------------------------------


class _Scripted(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (200, b"{}")
    seen: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length", "0"))
        _Scripted.seen.append(
            {"key": self.headers.get("X-Api-Key"), "body": json.loads(self.rfile.read(length))}
        )
        status, body = _Scripted.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/verify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _json(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "answer",
    [
        (500, b'{"error": "boom"}'),
        (502, b""),
        (503, b"{}"),
        (429, b"{}"),
        (200, b"<html>not json</html>"),
        (200, b'["valid"]'),
        (200, _json({"name": NAME, "id_number": ID_NUMBER})),
        (200, _json({"name": NAME, "status": "valid"})),
        (200, _json({"name": "", "id_number": ID_NUMBER, "status": "valid"})),
        (200, _json({"name": NAME, "id_number": 340102, "status": "valid"})),
    ],
)
async def test_misbehaving_verifier_is_unavailable(
    scripted: str, answer: tuple[int, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    _Scripted.answer = answer
    caplog.set_level(logging.DEBUG)
    async with HttpAnkangVerifier(scripted, "k", timeout=2.0) as verifier:
        with pytest.raises(AnkangUnavailable):
            await verifier.verify("AHAKMSECRETCODE")
    assert_nothing_personal_logged(caplog, "AHAKMSECRETCODE")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((400, b"{}"), "invalid"),
        ((404, b""), "invalid"),
        ((410, b"{}"), "invalid"),
        ((422, b"{}"), "invalid"),
        ((200, _json({"status": "invalid"})), "invalid"),
        ((200, _json({"status": "expired"})), "expired"),  # a refusal needs no identity
        ((200, _json({"name": NAME, "id_number": ID_NUMBER, "status": "frozen"})), "invalid"),
    ],
)
async def test_refusals_from_the_verifier(scripted: str, answer: tuple[int, bytes], reason: str) -> None:
    _Scripted.answer = answer
    async with HttpAnkangVerifier(scripted, "k", timeout=2.0) as verifier:
        with pytest.raises(AnkangRefused) as info:
            await verifier.verify("AHAKMSECRETCODE")
    assert info.value.reason == reason


async def test_request_shape(scripted: str) -> None:
    _Scripted.answer = (200, _json({"name": NAME, "id_number": ID_NUMBER, "status": "valid"}))
    _Scripted.seen.clear()
    async with HttpAnkangVerifier(scripted, "the-key", timeout=2.0) as verifier:
        assert await verifier.verify(" AHAKMSECRETCODE ") == AnkangIdentity(NAME, ID_NUMBER, "valid")
    assert _Scripted.seen == [{"key": "the-key", "body": {"code": "AHAKMSECRETCODE"}}]


async def test_verifier_repr_hides_the_key() -> None:
    verifier = HttpAnkangVerifier("http://127.0.0.1:1/verify", "the-key")
    assert "the-key" not in repr(verifier)
    await verifier.aclose()  # never used: nothing to close, and no error


# --- the stand-in's own API --------------------------------------------------------------------


def test_standin_requires_the_key_for_both_calls(standin: StandinServer) -> None:
    with httpx.Client(base_url=standin.base_url, timeout=5.0) as client:
        issued = client.post("/codes", json={"name": NAME, "id_number": ID_NUMBER})
        assert issued.status_code == 401
        code = standin.issue(NAME, ID_NUMBER)
        for headers in ({}, {"X-Api-Key": "wrong"}):
            assert client.post("/verify", json={"code": code}, headers=headers).status_code == 401
        ok = client.post("/verify", json={"code": code}, headers={"X-Api-Key": standin.api_key})
        assert ok.status_code == 200
        assert ok.json() == {"name": NAME, "id_number": ID_NUMBER, "status": "valid"}


def test_standin_issue_answers_code_and_expiry(standin: StandinServer) -> None:
    with httpx.Client(base_url=standin.base_url, headers={"X-Api-Key": standin.api_key}) as client:
        answer = client.post("/codes", json={"name": NAME, "id_number": ID_NUMBER, "ttl_s": 120})
        assert answer.status_code == 201
        body = answer.json()
        assert set(body) == {"code", "expires_at"}
        assert re.fullmatch(r"AHAKM[A-Z2-7]{20}", body["code"])
        assert body["expires_at"].endswith("+08:00")
        for bad in (
            {"name": NAME},
            {"name": "", "id_number": ID_NUMBER},
            {"name": NAME, "id_number": ID_NUMBER, "ttl_s": -1},
            {"name": NAME, "id_number": ID_NUMBER, "status": "expired"},
        ):
            assert client.post("/codes", json=bad).status_code == 400
        assert client.post("/verify", json={}).status_code == 400


def test_codes_are_distinct(standin: StandinServer) -> None:
    codes = {standin.issue(NAME, ID_NUMBER) for _ in range(20)}
    assert len(codes) == 20


def test_a_started_standin_cannot_start_twice(standin: StandinServer) -> None:
    with pytest.raises(RuntimeError):
        standin.start()
