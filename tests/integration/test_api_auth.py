"""REST: POST /auth/login, bearer tokens and the session cookie, who may do what."""

from __future__ import annotations

import pytest

from hall.auth import COOKIE
from tests.conftest import PASSWORD
from tests.helpers import API, anonymous, assert_error, take

LOGIN = "/api/v1/auth/login"


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post(LOGIN, json={"username": username, "password": password})


def list_tickets(client, headers: dict[str, str] | None = None):
    return client.get(f"{API}/tickets", headers=headers or {})


@pytest.mark.parametrize(
    ("user", "role"),
    [("clerk01", "clerk"), ("duty01", "duty_officer"), ("fac01", "facility"), ("manager01", "manager"),
     ("admin01", "admin")],
)
def test_login_answers_a_token_and_the_role(client, user, role):
    r = sign_in(client, user)
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == role
    assert isinstance(body["token"], str) and len(body["token"]) >= 32


def test_login_sets_an_http_only_session_cookie(client):
    r = sign_in(client, "clerk01")
    assert r.cookies.get(COOKIE) == r.json()["token"]
    set_cookie = r.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "path=/" in set_cookie


def test_the_cookie_alone_authenticates_a_later_request(client):
    sign_in(client, "clerk01")
    assert list_tickets(client).status_code == 200  # no Authorization header: the cookie
    assert list_tickets(anonymous(client)).status_code == 401


def test_the_bearer_token_alone_authenticates(client):
    token = sign_in(client, "clerk01").json()["token"]
    anonymous(client)
    assert list_tickets(client, {"Authorization": f"Bearer {token}"}).status_code == 200


def test_every_login_is_a_new_token(client):
    first = sign_in(client, "clerk01").json()["token"]
    second = sign_in(client, "clerk01").json()["token"]
    assert first != second
    anonymous(client)
    assert list_tickets(client, {"Authorization": f"Bearer {first}"}).status_code == 200


def test_wrong_password_is_401(client):
    body = assert_error(sign_in(client, "clerk01", "wrong-password-1"), 401, "bad_login")
    assert "token" not in body


def test_unknown_user_is_401(client):
    assert_error(sign_in(client, "nobody", PASSWORD), 401, "bad_login")


def test_failed_login_sets_no_cookie(client):
    r = sign_in(client, "clerk01", "wrong-password-1")
    assert COOKIE not in r.cookies
    assert list_tickets(client).status_code == 401


@pytest.mark.parametrize(
    "body", [{}, {"username": "clerk01"}, {"password": PASSWORD}, {"username": 1, "password": PASSWORD}, []],
)
def test_malformed_login_is_400(client, body):
    assert_error(client.post(LOGIN, json=body), 400)


def test_non_json_login_is_400(client):
    r = client.post(LOGIN, content=b"username=clerk01&password=x",
                    headers={"Content-Type": "application/json"})
    assert_error(r, 400)


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Bearer ", "Basic Y2xlcmswMTp4"])
def test_bad_credentials_are_401(client, authorization):
    assert_error(list_tickets(anonymous(client), {"Authorization": authorization}), 401)


def test_forged_cookie_is_401(client):
    anonymous(client).cookies.set(COOKIE, "forged-session")
    assert_error(list_tickets(client), 401)


def test_session_ends_after_twelve_hours(client, clock):
    token = sign_in(client, "clerk01").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    clock.advance(hours=11, minutes=59)
    assert list_tickets(client, auth).status_code == 200
    clock.advance(minutes=2)
    assert_error(list_tickets(client, auth), 401)


def test_no_login_needed_for_services_tickets_and_windows(client):
    anonymous(client)
    tid = take(client, "SB")["id"]
    for path in ("/services", f"/tickets/{tid}", "/windows"):
        assert client.get(f"{API}{path}").status_code == 200


def test_password_is_not_echoed(client):
    r = sign_in(client, "clerk01")
    assert PASSWORD not in r.text


def test_repeated_wrong_passwords_lock_the_sign_in_out(client, clock, hall) -> None:
    from sqlalchemy import select

    from hall.db.models import login_guard_t

    for _ in range(10):
        assert client.post("/api/v1/auth/login", json={"username": "duty01", "password": "wrong-guess"}).status_code == 401
    # Counted in the database (every server process sees it), under keys that name no one.
    rows = hall.server.db.read_sync(lambda conn: conn.execute(select(login_guard_t)).all())
    assert len(rows) == 2 and all(r.failures == 10 and "duty01" not in r.key_hash for r in rows)
    body = assert_error(client.post("/api/v1/auth/login", json={"username": "duty01", "password": PASSWORD}), 429,
                        "login_locked")
    assert 0 < body["retry_after_s"] <= 600
    clock.advance(601)
    assert client.post("/api/v1/auth/login", json={"username": "duty01", "password": PASSWORD}).status_code == 200


def test_a_session_expires_after_its_hours(client, clock) -> None:
    from hall.auth import SESSION_HOURS

    headers = {"Authorization": f"Bearer {sign_in(client, 'duty01').json()['token']}"}
    anonymous(client)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    clock.advance(SESSION_HOURS * 3600 - 60)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    clock.advance(61)
    assert_error(client.get("/api/v1/auth/me", headers=headers), 401)
