"""MQTT credentials: Mosquitto's ``$7$`` hashes, the ACL both brokers enforce, the device registry."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess

import pytest
from sqlalchemy import select

from hall.db.database import Database
from hall.db.models import device_t, slot_t
from hall.errors import BadRequest
from hall.iot.credentials import (
    SERVER_USERNAME,
    Acl,
    AclRule,
    CredentialStore,
    device_rules,
    filter_within,
    hash_password,
    parse_password_file,
    register_device,
    topic_matches,
    verify_password,
)

HASH = re.compile(r"^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")


def test_hash_has_mosquittos_format_and_verifies():
    h = hash_password("s3cret")
    assert HASH.match(h), h
    assert verify_password("s3cret", h)
    assert not verify_password("s3cret ", h)
    assert hash_password("s3cret") != h  # salted
    for bad in ("", "$6$abc$def", "$7$x$y$z", "$7$101$!!$!!", "$7$0$AAAA$AAAA", "plain"):
        assert not verify_password("s3cret", bad)


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd")
def test_verifies_what_mosquitto_passwd_writes(tmp_path):
    f = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(f), "dev", "pa:ss wörd"], check=True, capture_output=True)
    users = parse_password_file(f.read_text())
    assert verify_password("pa:ss wörd", users["dev"])
    assert not verify_password("pass word", users["dev"])


@pytest.mark.parametrize(("pattern", "topic", "ok"), [
    ("hall/#", "hall/a/device/b/status", True),
    ("hall/#", "hall", True),
    ("hall/a/device/b/cmd", "hall/a/device/b/cmd", True),
    ("hall/a/device/b/cmd", "hall/a/device/b/cmd/ack", False),
    ("hall/a/window/+/display", "hall/a/window/3/display", True),
    ("hall/a/window/+/display", "hall/a/window/3/4/display", False),
    ("hall/a/window/+/display", "hall/b/window/3/display", False),
    ("#", "$SYS/broker/uptime", False),
    ("+/x", "$s/x", False),
])
def test_topic_matches(pattern, topic, ok):
    assert topic_matches(pattern, topic) is ok


@pytest.mark.parametrize(("sub", "pattern", "ok"), [
    ("hall/#", "hall/#", True),
    ("hall/a/#", "hall/#", True),
    ("hall/#", "hall/a/#", False),
    ("#", "hall/#", False),
    ("hall/a/window/+/display", "hall/a/window/+/display", True),
    ("hall/a/window/3/display", "hall/a/window/+/display", True),
    ("hall/a/window/+/display", "hall/a/window/3/display", False),
    ("hall/a/window/#", "hall/a/window/+/display", False),
    ("hall/a/device/b/cmd", "hall/a/device/b/cmd", True),
    ("hall/a/device/+/cmd", "hall/a/device/b/cmd", False),
])
def test_filter_within(sub, pattern, ok):
    assert filter_within(sub, pattern) is ok


def test_acl_rules_per_kind_and_round_trip():
    acl = Acl({SERVER_USERNAME: [AclRule("readwrite", "hall/#")],
               "h.kiosk-1": device_rules("h", "kiosk-1", "kiosk"),
               "h.screen-1": device_rules("h", "screen-1", "screen")})
    again = Acl.parse(acl.render())
    assert again == acl
    assert "user h.kiosk-1\ntopic write hall/h/device/kiosk-1/status\n" in acl.render()
    # the device: its own four leaves, its command topic
    for leaf in ("status", "telemetry", "event", "cmd/ack"):
        assert acl.may_publish("h.kiosk-1", f"hall/h/device/kiosk-1/{leaf}")
    assert not acl.may_publish("h.kiosk-1", "hall/h/device/kiosk-1/cmd")
    assert not acl.may_publish("h.kiosk-1", "hall/h/device/kiosk-1/other")
    assert not acl.may_publish("h.kiosk-1", "hall/h/device/kiosk-2/status")
    assert acl.may_subscribe("h.kiosk-1", "hall/h/device/kiosk-1/cmd")
    assert not acl.may_subscribe("h.kiosk-1", "hall/#")
    assert not acl.may_receive("h.kiosk-1", "hall/h/window/1/display")
    # screens also read the window displays
    assert acl.may_subscribe("h.screen-1", "hall/h/window/+/display")
    assert acl.may_receive("h.screen-1", "hall/h/window/1/display")
    assert not acl.may_receive("h.screen-1", "hall/other/window/1/display")
    # the server: everything under hall/, also as a shared subscription
    assert acl.may_subscribe(SERVER_USERNAME, "$share/ingest/hall/#")
    assert acl.may_publish(SERVER_USERNAME, "hall/h/device/kiosk-1/cmd")
    assert not acl.may_publish(SERVER_USERNAME, "other/x")
    # unknown and anonymous users get nothing
    assert not acl.may_publish(None, "hall/h/device/kiosk-1/status")
    assert not acl.may_subscribe("nobody", "hall/#")


def test_acl_parses_mosquitto_forms():
    acl = Acl.parse("# c\ntopic read anon/#\nuser a\ntopic x/#\ntopic deny x/y\npattern read %u/#\ntopic read y\n")
    assert acl.users == {"a": [AclRule("readwrite", "x/#"), AclRule("read", "y")]}


def test_store_provisions_rotates_and_keeps_others(tmp_path):
    store = CredentialStore.for_data_dir(tmp_path)
    a = store.add_device("hn-tja", "kiosk-01", "kiosk")
    b = store.add_device("hn-tja", "screen-01", "screen")
    assert (a.username, a.topic_prefix) == ("hn-tja.kiosk-01", "hall/hn-tja/device/kiosk-01/")
    assert a.as_dict().keys() == {"device", "hall", "kind", "username", "password", "topic_prefix"}
    assert a.password not in repr(a)
    server = store.server_credentials()
    assert server == store.server_credentials()  # stable across calls
    users = store.users()
    assert set(users) == {SERVER_USERNAME, a.username, b.username}
    assert verify_password(server[1], users[SERVER_USERNAME]) and verify_password(a.password, users[a.username])
    assert a.password not in store.password_file.read_text() and a.password not in store.acl_file.read_text()

    store.password_file.chmod(0o644)  # e.g. an operator's choice: rewrites keep it
    a2 = store.add_device("hn-tja", "kiosk-01", "kiosk")
    users = store.users()
    assert a2.password != a.password and verify_password(a2.password, users[a.username])
    assert not verify_password(a.password, users[a.username])
    assert verify_password(b.password, users[b.username])
    assert stat.S_IMODE(store.password_file.stat().st_mode) == 0o644
    assert stat.S_IMODE(store.server_secret_file.stat().st_mode) == 0o600
    assert list(store.acl().users) == [SERVER_USERNAME, a.username, b.username]
    assert store.remove_device("hn-tja", "screen-01") and b.username not in store.users()
    assert b.username not in store.acl().users


@pytest.mark.parametrize(("hall", "device", "kind"), [
    ("hn-tja", "Kiosk-01", "kiosk"), ("hn-tja", "k", "kiosk"), ("hn.tja", "kiosk-01", "kiosk"),
    ("hn-tja", "-kiosk", "kiosk"), ("hn-tja", "kiosk-01", "toaster"), ("hn-tja", "a" * 65, "kiosk"),
])
def test_store_refuses_bad_ids(tmp_path, hall, device, kind):
    with pytest.raises(BadRequest):
        CredentialStore(tmp_path).add_device(hall, device, kind)


def test_register_device_inserts_then_updates(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hall.db'}")
    try:
        db.migrate()
        r = db.write_sync(register_device, "hn-tja", "locker-01", "locker", "一楼", None, 1_000, 3)
        assert r == {"hall": "hn-tja", "device": "locker-01", "kind": "locker", "created": True}
        r = db.write_sync(register_device, "hn-tja", "locker-01", "locker", None, "5", 2_000, 5)
        assert r["created"] is False
        with db.engine.connect() as c:
            row = c.execute(select(device_t)).one()
            slots = c.execute(select(slot_t.c.slot)).scalars().all()
        assert (row.location, row.window, row.origin, row.created_ms, row.metrics) == ("一楼", "5", "api", 1_000, "{}")
        assert sorted(slots) == [1, 2, 3, 4, 5]
        with pytest.raises(BadRequest):
            db.write_sync(register_device, "hn-tja", "x", "kiosk")
    finally:
        db.close()
