"""The server speaks a call-out (espeak-ng, Mandarin) for screens whose browser has no Chinese voice."""

import shutil

import pytest

API = "/api/v1/halls/hn-tja"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_announcement_as_wav(client):
    r = client.get(f"{API}/announce.wav", params={"text": "请A001号到1号窗口办理"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content[:4] == b"RIFF" and len(r.content) > 20_000  # about a second or more of speech


def test_announcement_text_is_bounded(client):
    r = client.get(f"{API}/announce.wav", params={"text": "号" * 81})
    assert r.status_code == 400 and r.json()["error"] == "bad_text"
    assert client.get("/api/v1/halls/nowhere/announce.wav", params={"text": "请"}).status_code == 404


def test_announcement_text_with_a_control_character_is_refused(client):
    """Found by schemathesis: a NUL in the text reached espeak-ng's command line and the server answered 500."""
    for text in ("请A001\x00号", "请\x07A001号"):
        r = client.get(f"{API}/announce.wav", params={"text": text})
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] == "bad_text" and "控制字符" in body["detail"] and "control" in body["detail"]
