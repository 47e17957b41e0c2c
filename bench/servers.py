"""The servers the benchmarks measure, each run as its own process by bench/run.py.

    python bench/servers.py hall       the real hall server (hall.bootstrap.build + uvicorn), with a
                                       clerk per window (clerk01..clerkNN, password BENCH_PASSWORD)
    python bench/servers.py hall --mqtt [--devices FILE]
                                       the same with its MQTT client (build(mqtt=True): HALL_MQTT_URL,
                                       else the embedded broker), after registering the devices of
                                       FILE (a JSON list of {"device", "kind"[, "hall"]}) in its halls
    python bench/servers.py hall --reuse-port [--port N]
                                       SO_REUSEPORT on the listening socket: a second process started
                                       with --port <the first one's> shares the port (issue #8)
    python bench/servers.py hall --config FILE --config FILE2
                                       other hall files than the bundled hn-tja
    python bench/servers.py bare-http  the floor for ticket issuing: a bare Litestar app (bare_app.py) whose
                                       POST /api/v1/halls/{hall}/tickets decodes the same body and
                                       answers a constant 201 JSON, on the same uvicorn settings
    python bench/servers.py bare-ws    the floor for call-outs: a bare ``websockets`` server that
                                       broadcasts a call-out-sized message to every screen when a
                                       trigger connection sends it an id
    python bench/servers.py bare-ws --redis URL --channel C
                                       the floor of the Redis fan-out: the trigger's message goes
                                       through Redis pub/sub, and every such process broadcasts it
                                       to its own screens

Each binds 127.0.0.1 on a free port itself (port 0, unless --port), then prints ``PORT <n>`` on stdout.
The hall reads its settings from the environment (HALL_DATA_DIR, HALL_CLOCK, HALL_SECRET, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys

BENCH_PASSWORD = "bench-pass-2026"


def _bind(host: str, port: int = 0, reuse_port: bool = False) -> socket.socket:
    """The listening socket, made as ``hall serve`` makes it. With ``reuse_port`` (SO_REUSEPORT)
    several processes listen on the same port (the first takes a free one, the others ``--port``
    it) and the kernel spreads new connections over them."""
    from hall.serving import listen

    return listen(host, port, reuse_port=reuse_port)


def _announce(sock: socket.socket) -> None:
    print(f"PORT {sock.getsockname()[1]}", flush=True)


def _uvicorn(app: object, sock: socket.socket) -> None:
    """uvicorn exactly as ``hall serve`` runs it (hall.serving.run: same settings, same GC tuning).
    With uvicorn[standard] that is uvloop, httptools and the websockets (sans-I/O) protocol."""
    from hall.serving import run

    _announce(sock)
    run(app, sock=sock)


def _register_devices(tx: object, hall_id: str, devices: list[dict[str, str]]) -> None:
    from hall.iot.credentials import register_device

    for d in devices:
        if d.get("hall", hall_id) != hall_id:  # a device file may name each device's hall
            continue
        register_device(tx, hall_id, d["device"], d["kind"], None, None, None, 0)


def run_hall(host: str, windows_with_clerks: bool = True, mqtt: bool = False,
             devices_file: str | None = None, port: int = 0, reuse_port: bool = False,
             config: list[str] | None = None) -> None:
    import time
    from pathlib import Path

    from hall.auth import add_user
    from hall.bootstrap import build
    from hall.errors import Conflict
    from hall.iot import repo
    from hall.settings import get_settings

    hall = build(config or None, settings=get_settings(), mqtt=mqtt)
    try:
        if devices_file:
            # As `hall device add` would, but in one transaction; then the twins are loaded again
            # (as IotService.prepare does at start-up: nothing has been received yet).
            devices = json.loads(Path(devices_file).read_text(encoding="utf-8"))
            iot = hall.server.iot
            assert iot is not None
            for hid in hall.server.halls:
                hall.server.db.write_sync(_register_devices, hid, devices)
            iot.ingest.load(hall.server.db.read_sync(repo.all_devices), int(time.time() * 1000))
        if windows_with_clerks:
            db = hall.server.db
            for h in hall.server.halls.values():
                for i, _w in enumerate(h.cfg.windows, start=1):
                    with contextlib.suppress(Conflict):
                        db.write_sync(add_user, f"clerk{i:02d}", "clerk", BENCH_PASSWORD, h.id,
                                      f"工作人员{i:02d}", f"S{i:03d}")
        sock = _bind(host, port, reuse_port)
        _uvicorn(hall.app, sock)
    finally:
        hall.close()


def run_bare_http(host: str, port: int = 0, reuse_port: bool = False) -> None:
    from bare_app import app

    _uvicorn(app, _bind(host, port, reuse_port))


def run_bare_ws(host: str, compression: bool, redis_url: str | None = None, channel: str = "",
                port: int = 0) -> None:
    """With ``redis_url``, a trigger's message goes to Redis (PUBLISH on ``channel``) and every
    such process (this one too) broadcasts what it receives from its subscription to its own
    screens: the floor of the hall's Redis fan-out (Litestar's Redis pub/sub channels backend)."""
    from benchlib import use_uvloop

    use_uvloop()
    from websockets.asyncio.server import broadcast, serve

    screens: set = set()
    # A ticket.called envelope as the hall sends it, with the trigger's id in ticket_id.
    template = {
        "seq": 0, "type": "ticket.called", "at": "2026-11-23T09:31:07+08:00", "hall": "hn-tja",
        "data": {"ticket": "A012", "ticket_id": "", "service": "SB", "window": "1", "window_name": "1号窗口",
                 "announcement": "请A012号到1号窗口办理", "recall": 0, "waiting": 3},
    }
    redis = None

    def envelope(seq: int, tid: str) -> str:
        template["seq"] = seq
        template["data"]["ticket_id"] = tid
        return json.dumps(template, ensure_ascii=False, separators=(",", ":"))

    async def handler(ws) -> None:  # noqa: ANN001
        path = ws.request.path
        if path.startswith("/trigger"):
            seq = 0
            async for msg in ws:
                seq += 1
                text = envelope(seq, msg if isinstance(msg, str) else msg.decode())
                if redis is not None:
                    await redis.publish(channel, text)
                else:
                    broadcast(screens, text)
            return
        await ws.send(json.dumps({"type": "snapshot", "seq": 0, "hall": "hn-tja", "data": {}}))
        screens.add(ws)
        try:
            await ws.wait_closed()
        finally:
            screens.discard(ws)

    async def relay(pubsub) -> None:  # noqa: ANN001
        async for m in pubsub.listen():
            if m.get("type") == "message":
                data = m["data"]
                broadcast(screens, data.decode() if isinstance(data, bytes) else data)

    async def main() -> None:
        nonlocal redis
        relay_task = None
        if redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(redis_url)
            pubsub = redis.pubsub()
            await pubsub.subscribe(channel)
            relay_task = asyncio.create_task(relay(pubsub))
        sock = _bind(host, port)
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
        async with serve(handler, sock=sock, compression="deflate" if compression else None,
                         ping_interval=None, max_size=1 << 16):
            _announce(sock)
            await stop
        if relay_task is not None:
            relay_task.cancel()
        if redis is not None:
            await redis.aclose()

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("hall", "bare-http", "bare-ws"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="listen on this port (default: a free one)")
    ap.add_argument("--reuse-port", action="store_true",
                    help="hall, bare-http: SO_REUSEPORT, so that other processes can listen on the same port")
    ap.add_argument("--config", action="append", help="hall: hall files (default: the bundled hn-tja)")
    ap.add_argument("--redis", help="bare-ws: fan out through Redis pub/sub (redis://…)")
    ap.add_argument("--channel", default="bench", help="bare-ws: the Redis channel")
    ap.add_argument("--no-deflate", action="store_true", help="bare-ws: refuse permessage-deflate")
    ap.add_argument("--mqtt", action="store_true", help="hall: with its MQTT client (HALL_MQTT_URL)")
    ap.add_argument("--devices", help="hall: register these devices first (JSON list of {device, kind})")
    a = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if a.kind == "hall":
        run_hall(a.host, mqtt=a.mqtt, devices_file=a.devices, port=a.port, reuse_port=a.reuse_port,
                 config=a.config)
    elif a.kind == "bare-http":
        run_bare_http(a.host, a.port, a.reuse_port)
    else:
        run_bare_ws(a.host, compression=not a.no_deflate, redis_url=a.redis, channel=a.channel, port=a.port)


if __name__ == "__main__":
    main()
