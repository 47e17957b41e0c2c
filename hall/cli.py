"""The ``hall`` command (CONTRACT.md, "Command line")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import socket
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

from hall.errors import ConfigError, HallError

DEMO_PASSWORD = "demo-pass-2026"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _serve(app, host: str, port: int) -> None:  # noqa: ANN001
    from hall.serving import run

    run(app, host=host, port=port)


def _multi_process_problem() -> str | None:
    """What several processes need and is missing (Chinese / English), or None."""
    from hall.settings import get_settings

    st = get_settings()
    if st.is_sqlite:
        return ("多进程部署需要 PostgreSQL（HALL_DATABASE_URL）/ several processes need PostgreSQL "
                "(HALL_DATABASE_URL=postgresql://…)")
    if not st.redis_url:
        return ("多进程部署需要 Redis（HALL_REDIS_URL），否则一个进程的叫号到不了另一个进程的屏幕 / several processes "
                "need HALL_REDIS_URL, or a call-out made on one process never reaches screens on another")
    if not st.mqtt_url:
        return ("多进程部署需要外部 MQTT broker（HALL_MQTT_URL，例如 Mosquitto）/ several processes need an external "
                "broker (HALL_MQTT_URL, e.g. Mosquitto): the embedded one lives inside one process")
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    from hall.bootstrap import build

    if args.workers > 1 or args.reuse_port:
        problem = _multi_process_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 2
    if args.workers > 1:
        return _serve_workers(args)
    if args.reuse_port:
        return _serve_shared(args)
    if not _port_free(args.host, args.port):
        print(f"端口 {args.port} 已被占用，请用 --port 选择其他端口 / port {args.port} is in use; choose another "
              "with --port", file=sys.stderr)
        return 2
    from hall.iot.broker import MqttPortInUse

    try:
        hall = build(args.config or None, mqtt=True)
    except MqttPortInUse as e:
        print(e.detail, file=sys.stderr)
        return 2
    mqtt = f"mqtt://{hall.mqtt.host}:{hall.mqtt.port}" if hall.mqtt is not None else "-"
    print(f"hall serve: http://{args.host}:{args.port}/  (OpenAPI: /schema)  halls: {', '.join(hall.server.halls)}  "
          f"MQTT: {mqtt}")
    try:
        _serve(hall.app, args.host, args.port)
    finally:
        hall.close()
    return 0


def _serve_shared(args: argparse.Namespace) -> int:
    """One of several processes on one address: the public port bound with SO_REUSEPORT (the
    kernel spreads connections over the processes), plus a private port on ``--node-host`` for
    requests that must reach the process owning a hall (hall.leases, hall.web.forward)."""
    from hall.bootstrap import build
    from hall.serving import listen, run

    os.environ.setdefault("HALL_NODE", f"{socket.gethostname()}-{args.port}")
    try:
        public = listen(args.host, args.port, reuse_port=True)
    except OSError as e:
        print(f"无法监听 {args.host}:{args.port} / cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    private = listen(args.node_host, 0)
    hall = build(args.config or None, mqtt=True)
    hall.server.node_address = f"http://{args.node_host}:{private.getsockname()[1]}"
    print(f"hall serve [{hall.server.node_id}]: http://{args.host}:{args.port}/ (shared)  "
          f"node {hall.server.node_address}  halls: {', '.join(hall.server.halls)}", flush=True)
    try:
        run(hall.app, socks=[public, private])
    finally:
        hall.close()
    return 0


def _serve_workers(args: argparse.Namespace) -> int:
    """Start ``--workers`` processes of ``hall serve --reuse-port`` and keep them running: one that
    dies is started again (its halls move to the others meanwhile); SIGTERM/SIGINT stop them all."""
    import signal
    import subprocess
    import time

    from hall.bootstrap import build

    # Migrate and register the halls once, before the workers race to do it.
    build(args.config or None, mqtt=False).close()
    base = [sys.executable, "-m", "hall.cli", "serve", "--reuse-port", "--host", args.host, "--port", str(args.port),
            "--node-host", args.node_host]
    for c in args.config or []:
        base += ["--config", c]
    host = socket.gethostname()

    def start(i: int) -> subprocess.Popen:
        env = {**os.environ, "HALL_NODE": os.environ.get("HALL_NODE", f"{host}-{args.port}") + f"-w{i}"}
        return subprocess.Popen(base, env=env)

    procs = {i: start(i) for i in range(args.workers)}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"hall serve: {args.workers} workers on http://{args.host}:{args.port}/ "
          f"(pids {', '.join(str(p.pid) for p in procs.values())})", flush=True)
    while not stopping:
        time.sleep(0.5)
        for i, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                print(f"worker {i} exited ({p.returncode}); starting it again", file=sys.stderr, flush=True)
                time.sleep(1)
                procs[i] = start(i)
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


def _demo_clock() -> str | None:
    """A demo at night shows an empty, closed hall: start the hall's clock at 09:00 instead."""
    if os.environ.get("HALL_CLOCK"):
        return None
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    if now.weekday() < 5 and (now.hour, now.minute) >= (8, 30) and now.hour < 17:
        return None
    day = now.date()
    while day.weekday() >= 5 or (day == now.date() and now.hour >= 17):
        day += timedelta(days=1)
    return f"{day.isoformat()}T09:00+08:00"


def cmd_demo(args: argparse.Namespace) -> int:
    from hall.auth import add_user
    from hall.bootstrap import build
    from hall.errors import Conflict

    os.environ.setdefault("HALL_DATA_DIR", str(Path.cwd() / "hall-data" / "demo"))
    start = _demo_clock()
    if start:
        os.environ["HALL_CLOCK"] = start
    hall = build(args.config or None, mqtt="any-port")
    for cfg in hall.server.halls.values():
        users = [(w.post.a, "clerk") for w in cfg.cfg.windows if w.post] + [
            (w.post.b, "clerk") for w in cfg.cfg.windows if w.post and w.post.b]
        users += [("manager01", "manager"), ("duty01", "duty_officer"), ("fac01", "facility"), ("admin", "admin")]
        for name, role in users:
            with contextlib.suppress(Conflict):
                hall.server.db.write_sync(add_user, name, role, DEMO_PASSWORD, cfg.id)
    host = "127.0.0.1"
    port = args.port if _port_free(host, args.port) else _free_port(host)
    base = f"http://{host}:{port}"
    hall_id = next(iter(hall.server.halls))
    print("=" * 72)
    print("  政务服务大厅 hall demo")
    if start:
        print(f"  大厅时钟从 {start} 开始（现在是非办公时间）/ hall clock starts at {start}")
    print(f"  大厅屏幕 hall screen:     {base}/screen/hall/{hall_id}")
    print(f"  窗口屏 window screen:     {base}/screen/window/{hall_id}/1")
    print(f"  取号机 kiosk:             {base}/kiosk/{hall_id}")
    print(f"  窗口终端 clerk terminal:  {base}/clerk/{hall_id}   (the demo's clerks use windows 1-6, 9-11 "
          "and answer tidal openings and covers: sign in as clerk07 at window 7)")
    print(f"  评价器 rating pad:        {base}/rate/{hall_id}/1")
    print(f"  服务与等候 services:      {base}/api/v1/halls/{hall_id}/services")
    print(f"  窗口 windows:             {base}/api/v1/halls/{hall_id}/windows")
    print(f"  大厅屏幕流 screen stream: ws://{host}:{port}/ws/halls/{hall_id}")
    print(f"  接口文档 OpenAPI:         {base}/schema")
    fleet = _demo_fleet(hall, hall_id)
    print(f"  设备 devices:             {base}/api/v1/halls/{hall_id}/devices   (sign in as duty01)")
    if hall.mqtt is not None:
        print(f"  MQTT 代理 broker:         mqtt://{hall.mqtt.host}:{hall.mqtt.port}   "
              f"({len(fleet.devices)} simulated devices; credentials in {hall.settings.data_dir / 'mqtt'})")
    print(f"  设施人员 facility page:   {base}/staff/{hall_id}   (fac01)")
    print(f"  值班台 duty console:      HALL_PASSWORD={DEMO_PASSWORD} ./run hall console --server {base}")
    print(f"  工作人员 staff:           clerk01..clerk20, manager01, duty01, fac01 / 密码 password {DEMO_PASSWORD}")
    print("  模拟访客、窗口人员与设备正在运行 / simulated visitors, clerks and devices are running; Ctrl+C to stop")
    print("=" * 72, flush=True)
    logging.getLogger("hall.sim").setLevel(logging.INFO)
    stop = threading.Event()
    sim_thread = threading.Thread(target=_run_sim, args=(base, hall_id, stop, args.seed), daemon=True)
    sim_thread.start()
    fleet.start()
    try:
        _serve(hall.app, host, port)
    finally:
        stop.set()
        fleet.stop()
        sim_thread.join(timeout=5)
        hall.close()
    return 0


def _demo_fleet(hall, hall_id: str):  # noqa: ANN001, ANN202
    """The example hall's devices, simulated, each with its own credentials on the embedded broker.
    Lockers close their doors by themselves; now and then a device has a fault that clears again."""
    from firmware_sim.fleet import DeviceSpec, Fleet
    from hall.iot.credentials import CredentialStore

    cfg = hall.server.halls[hall_id].cfg
    store = CredentialStore.for_data_dir(hall.settings.data_dir)
    creds = {}
    for d in cfg.devices:
        p = store.add_device(hall_id, d.id, d.kind)
        creds[d.id] = {"username": p.username, "password": p.password}
    specs = [DeviceSpec(d.id, d.kind, d.location, d.window, d.slots) for d in cfg.devices]
    assert hall.mqtt is not None
    return Fleet(hall_id, specs, f"mqtt://{hall.mqtt.host}:{hall.mqtt.port}", credentials=creds, heartbeat_s=10,
                 keepalive=10, fault_rate=0.5, seed=7, device_options={"locker": {"auto_close_s": 8}})


def _run_sim(base: str, hall_id: str, stop: threading.Event, seed: int) -> None:
    import time

    import httpx

    from firmware_sim.visitors import SimConfig, Simulation

    for _ in range(100):  # wait for the server
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    sim = Simulation(SimConfig(base_url=base, hall=hall_id, seed=seed), DEMO_PASSWORD)

    async def main() -> None:
        task = asyncio.create_task(sim.run())
        while not stop.is_set() and not task.done():
            await asyncio.sleep(0.2)
        sim.stop()
        await task

    asyncio.run(main())


def cmd_console(args: argparse.Namespace) -> int:
    """The night duty console: a Textual client of a running server (REST and the event stream)."""
    from hall.console.app import ConsoleApp

    password = os.environ.get("HALL_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("请用 HALL_PASSWORD 提供密码 / give the password in HALL_PASSWORD", file=sys.stderr)
            return 2
        password = getpass.getpass(f"{args.user} 的密码 password: ")
    ConsoleApp(args.server, args.user, password, hall=args.hall).run()
    return 0


def cli_actor() -> str:
    """Who acts from the command line, for the audit log: ``cli:<the operating-system user>``."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no user name in this environment (e.g. a container without passwd entry)
        return "cli"


def _utc_now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def cmd_user_add(args: argparse.Namespace) -> int:
    from hall import audit
    from hall.auth import add_user
    from hall.db.database import Database
    from hall.settings import get_settings

    password = args.password or os.environ.get("HALL_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print("请用 --password 或 HALL_PASSWORD 提供密码 / give --password or HALL_PASSWORD", file=sys.stderr)
            return 2
        password = getpass.getpass("密码 password: ")
    db = Database(get_settings().database_url)
    try:
        db.migrate()
        job = audit.audited(add_user, args.hall or audit.GLOBAL, _utc_now, cli_actor(), "user.add", args.name,
                            {"role": args.role})  # the account and its audit row in one transaction
        print(db.write_sync(job, args.name, args.role, password, args.hall))
    finally:
        db.close()
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    """Provision a device: MQTT credentials (password file + ACL, for Mosquitto and the embedded
    broker alike) and its row in the device registry. The password is printed once, never logged."""
    import signal

    from hall import audit
    from hall.db.database import Database
    from hall.iot.credentials import CredentialStore, check_ids, register_device
    from hall.settings import get_settings

    check_ids(args.hall, args.device, args.kind)
    settings = get_settings()
    db = Database(settings.database_url)
    try:
        db.migrate()
        job = audit.audited(register_device, args.hall, _utc_now, cli_actor(), "device.register", args.device,
                            {"kind": args.kind, "window": args.window, "slots": args.slots})
        db.write_sync(job, args.hall, args.device, args.kind, args.location, args.window, None, args.slots)
    finally:
        db.close()
    store = CredentialStore.for_data_dir(settings.data_dir)
    creds = store.add_device(args.hall, args.device, args.kind)
    print(creds.to_json(), flush=True)
    if args.reload_pid:
        try:
            os.kill(args.reload_pid, signal.SIGHUP)
            print(f"已通知 Mosquitto（进程 {args.reload_pid}）重新加载 / sent SIGHUP to Mosquitto "
                  f"(pid {args.reload_pid}) to reload", file=sys.stderr)
        except OSError as e:
            print(f"无法通知进程 {args.reload_pid} / cannot signal pid {args.reload_pid}: {e}", file=sys.stderr)
            return 1
    else:
        print(f"内置代理会自动加载；外部 Mosquitto 请重新加载（kill -HUP <pid> 或 systemctl reload mosquitto）/ "
              f"the embedded broker picks this up by itself; reload Mosquitto (kill -HUP <pid> or "
              f"systemctl reload mosquitto). password_file {store.password_file}, acl_file {store.acl_file}",
              file=sys.stderr)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import time
    from datetime import date

    from hall.hallconfig import default_config_path, load_halls
    from hall.sim.params import REFERENCE_DATE
    from hall.sim.report import render, to_json
    from hall.sim.runner import simulate

    halls = load_halls(args.config or [default_config_path()])
    cfg = next((h for h in halls if h.id == args.hall), None) if args.hall else halls[0]
    if cfg is None:
        print(f"没有大厅「{args.hall}」/ unknown hall {args.hall!r} (known: {', '.join(h.id for h in halls)})",
              file=sys.stderr)
        return 2
    try:
        day = date.fromisoformat(args.date) if args.date else REFERENCE_DATE
    except ValueError:
        print(f"日期格式应为 YYYY-MM-DD / --date must look like 2026-11-23, got {args.date!r}", file=sys.stderr)
        return 2
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"[{time.monotonic() - t0:5.1f}s] {msg}", file=sys.stderr, flush=True)

    record_url = None
    if args.record:
        from hall.settings import get_settings

        record_url = get_settings().database_url
        progress(f"潮汐+AB 的模拟日将写入数据库 / recording the tidal + AB day into {_safe_url(record_url)}")
    try:
        result = simulate(cfg, seed=args.seed, day=day, progress=progress, record_url=record_url)
    except ValueError as e:
        print(f"无法模拟 / cannot simulate: {e}", file=sys.stderr)
        return 2
    print(render(result))
    if args.json_path:
        Path(args.json_path).write_text(to_json(result), encoding="utf-8")
        progress(f"写入 wrote {args.json_path}")
    progress("完成 done")
    return 0


# --------------------------------------------------------------------------- hall report (#7)

def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _report_hall(args: argparse.Namespace):  # noqa: ANN202
    from hall.hallconfig import default_config_path, load_halls

    halls = load_halls(args.config or [default_config_path()])
    cfg = next((h for h in halls if h.id == args.hall), None)
    if cfg is None:
        print(f"没有大厅「{args.hall}」/ unknown hall {args.hall!r} (known: {', '.join(h.id for h in halls)})",
              file=sys.stderr)
    return cfg


def _write_report(args: argparse.Namespace, figs: dict, pdf_fn, csv_fn, default_pdf: str) -> None:  # noqa: ANN001
    from hall.reports.export import to_json

    out = args.out if args.out or args.csv or args.json_path else default_pdf
    written = []
    if out:
        Path(out).write_bytes(pdf_fn(figs))
        written.append(out)
    if args.csv:
        Path(args.csv).write_text(csv_fn(figs), encoding="utf-8")
        written.append(args.csv)
    if args.json_path:
        Path(args.json_path).write_text(to_json(figs), encoding="utf-8")
        written.append(args.json_path)
    print(f"已写入 wrote {', '.join(written)}", file=sys.stderr)


def _report_db():  # noqa: ANN202
    from hall.db.database import Database
    from hall.settings import get_settings

    db = Database(get_settings().database_url)
    db.migrate()
    return db


def cmd_report_daily(args: argparse.Namespace) -> int:
    """The daily operations report of one day, from the hall's event log (HALL_DATABASE_URL)."""
    from datetime import date

    from hall.reports.export import daily_csv
    from hall.reports.figures import daily_figures
    from hall.reports.pdf import daily_pdf
    from hall.reports.source import daily_input

    cfg = _report_hall(args)
    if cfg is None:
        return 2
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"日期格式应为 YYYY-MM-DD / --date must look like 2026-11-23, got {args.date!r}", file=sys.stderr)
        return 2
    db = _report_db()
    try:
        now = datetime.now(cfg.tz)
        events, followups = db.read_sync(daily_input, cfg, day, now)
    finally:
        db.close()
    figs = daily_figures(events, cfg, day, followups=followups, now=now)
    _write_report(args, figs, daily_pdf, daily_csv, f"report-{cfg.id}-{day.isoformat()}.pdf")
    return 0


def cmd_report_monthly(args: argparse.Namespace) -> int:
    """The monthly summary: the same figures by day."""
    from hall.reports.export import monthly_csv
    from hall.reports.figures import monthly_figures
    from hall.reports.pdf import monthly_pdf
    from hall.reports.source import monthly_input

    cfg = _report_hall(args)
    if cfg is None:
        return 2
    try:
        year, month = (int(x) for x in args.month.split("-"))
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        print(f"月份格式应为 YYYY-MM / --month must look like 2026-11, got {args.month!r}", file=sys.stderr)
        return 2
    db = _report_db()
    try:
        now = datetime.now(cfg.tz)
        events, followups = db.read_sync(monthly_input, cfg, year, month, now)
    finally:
        db.close()
    figs = monthly_figures(events, cfg, year, month, followups=followups, now=now)
    _write_report(args, figs, monthly_pdf, monthly_csv, f"report-{cfg.id}-{year:04d}-{month:02d}.pdf")
    return 0


def cmd_report_shift(args: argparse.Namespace) -> int:
    """The shift handover sheet (交接班记录, the console's PDF) for a period, from the database."""
    from hall.clock import clock_from_env
    from hall.runtime import HallRuntime
    from hall.settings import get_settings
    from hall.shift import period, summary
    from hall.shift_pdf import HandoverData, handover_pdf

    cfg = _report_hall(args)
    if cfg is None:
        return 2
    settings = get_settings()
    h = HallRuntime(cfg, clock_from_env(settings.clock), settings.secret)
    start, end = period(h, args.since, args.until)
    db = _report_db()
    try:
        facts = db.read_sync(summary, h, start, end)
    finally:
        db.close()
    data = HandoverData(hall_name=cfg.name, officer=args.officer or "", summary=facts,
                        printed_at=h.now().isoformat(timespec="seconds"))
    out = args.out or f"handover-{cfg.id}-{end.strftime('%Y%m%d-%H%M')}.pdf"
    Path(out).write_bytes(handover_pdf(data))
    print(f"写入 wrote {out}")
    return 0


def _report_parser(sub) -> None:  # noqa: ANN001
    r = sub.add_parser("report", help="运营报表 / the daily report, the monthly summary, the shift handover sheet")
    rsub = r.add_subparsers(dest="report_command", required=True)
    for name, fn, what in (("daily", cmd_report_daily, "日报 / one day"),
                           ("monthly", cmd_report_monthly, "月报 / a month, by day")):
        p = rsub.add_parser(name, help=what)
        p.add_argument("--hall", required=True)
        if name == "daily":
            p.add_argument("--date", required=True, help="YYYY-MM-DD (the hall's local day)")
        else:
            p.add_argument("--month", required=True, help="YYYY-MM")
        p.add_argument("--config", action="append", help="hall TOML file (default: the bundled example hall)")
        p.add_argument("--out", metavar="FILE.pdf", help="the PDF (default: report-HALL-DATE.pdf when no "
                       "--csv/--json is given)")
        p.add_argument("--csv", metavar="FILE", help="the figures as CSV (date,figure,value)")
        p.add_argument("--json", dest="json_path", metavar="FILE", help="the figures as JSON")
        p.set_defaults(fn=fn)
    p = rsub.add_parser("shift", help="交接班记录 / the shift handover sheet (PDF)")
    p.add_argument("--hall", required=True)
    p.add_argument("--since", help="ISO 8601, hall time without an offset (default: 12 hours ago)")
    p.add_argument("--until", help="ISO 8601 (default: now)")
    p.add_argument("--officer", help="the duty officer's name on the sheet")
    p.add_argument("--config", action="append", help="hall TOML file (default: the bundled example hall)")
    p.add_argument("--out", metavar="FILE.pdf")
    p.set_defaults(fn=cmd_report_shift)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hall", description="政务服务大厅现场运营系统 / hall operations")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the server")
    s.add_argument("--config", action="append", help="hall TOML file (repeat for several halls)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run N server processes on the one address (needs PostgreSQL, HALL_REDIS_URL and "
                        "HALL_MQTT_URL; see docs/deploy.md)")
    s.add_argument("--reuse-port", action="store_true",
                   help="share the port with other `hall serve` processes (SO_REUSEPORT; what --workers uses, "
                        "and what systemd units of one process each use)")
    s.add_argument("--node-host", default=os.environ.get("HALL_NODE_HOST", "127.0.0.1"),
                   help="the address other processes reach this one on, for a hall's device requests "
                        "(default 127.0.0.1: every process on this machine)")
    s.set_defaults(fn=cmd_serve)
    d = sub.add_parser("demo", help="the whole hall on one machine, with simulated visitors and clerks")
    d.add_argument("--config", action="append")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--seed", type=int, default=7)
    d.set_defaults(fn=cmd_demo)
    m = sub.add_parser("simulate", help="replay a simulated day: dedicated vs pooled vs tidal + AB windows")
    m.add_argument("--config", action="append", help="hall TOML file (default: the bundled example hall)")
    m.add_argument("--hall", help="hall id (default: the first hall of the configuration)")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--date", help="the day to simulate, YYYY-MM-DD (default: 2026-11-23, a Monday)")
    m.add_argument("--json", dest="json_path", metavar="FILE", help="write the figures to FILE as JSON")
    m.add_argument("--record", action="store_true", help="keep the tidal + AB day in the hall's database "
                   "(HALL_DATABASE_URL) as if it had happened, for the reports")
    m.set_defaults(fn=cmd_simulate)
    _report_parser(sub)
    c = sub.add_parser("console", help="the night duty console (Textual), a client of a running server")
    c.add_argument("--server", default=os.environ.get("HALL_SERVER", "http://127.0.0.1:8000"))
    c.add_argument("--user", default="duty01")
    c.add_argument("--hall", help="hall id (default: the account's hall)")
    c.set_defaults(fn=cmd_console)
    u = sub.add_parser("user", help="staff accounts")
    usub = u.add_subparsers(dest="user_command", required=True)
    ua = usub.add_parser("add", help="create a staff account")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["clerk", "duty_officer", "facility", "manager", "admin"])
    ua.add_argument("--password")
    ua.add_argument("--hall")
    ua.set_defaults(fn=cmd_user_add)
    dv = sub.add_parser("device", help="devices (MQTT credentials and the device registry)")
    dvsub = dv.add_subparsers(dest="device_command", required=True)
    dva = dvsub.add_parser("add", help="register a device and print its MQTT credentials as JSON")
    dva.add_argument("device", help="device id, e.g. kiosk-01")
    dva.add_argument("--hall", required=True)
    dva.add_argument("--kind", required=True,
                     choices=["kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller"])
    dva.add_argument("--location")
    dva.add_argument("--window")
    dva.add_argument("--slots", type=int, default=0, help="lockers: number of slots")
    dva.add_argument("--reload-pid", type=int, metavar="PID", help="send SIGHUP to this Mosquitto to reload")
    dva.set_defaults(fn=cmd_device_add)
    return p


def main(argv: list[str] | None = None) -> int:
    level = os.environ.get("HALL_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"配置错误 / configuration error: {e}", file=sys.stderr)
        return 2
    except HallError as e:
        print(e.detail, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
