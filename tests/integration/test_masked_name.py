"""The clerk sees who is at the window as a masked name (张*三); nobody else sees a name at all."""

from datetime import date

from hall.queue.idcard import make_resident_id
from tests.conftest import login

API = "/api/v1/halls/hn-tja"


def test_masked_name_for_staff_only(client, hall):
    code = hall.standin.issue("张小三", make_resident_id("341181", date(1979, 6, 1), 8))
    t = client.post(f"{API}/tickets", json={"service": "SB", "channel": "ankang", "credential": code}).json()
    public = client.get(f"{API}/tickets/{t['id']}").text
    assert "张" not in public and "小三" not in public
    rows = client.get(f"{API}/tickets", headers=login(client, "clerk01")).json()
    assert [r["masked_name"] for r in rows if r["id"] == t["id"]] == ["张*三"]
    assert "张小三" not in client.get(f"{API}/tickets", headers=login(client, "clerk01")).text
