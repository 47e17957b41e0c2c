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
