"""In-process counters and latency summaries, served as Prometheus text at ``/metrics``."""

from __future__ import annotations

import threading
from collections import defaultdict, deque


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.latencies: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=2048))
        self.gauges: dict[str, float] = defaultdict(float)

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        with self._lock:
            self.counters[(name, tuple(sorted(labels.items())))] += value

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self.latencies[name].append(seconds)

    def gauge(self, name: str, delta: float) -> None:
        with self._lock:
            self.gauges[name] += delta

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        """A gauge that is set rather than moved, with labels (``hall_feed_backlog{hall="…"}``)."""
        lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        with self._lock:
            self.gauges[f"{name}{{{lab}}}" if lab else name] = value

    def event(self, type_: str) -> None:
        self.inc("hall_events_published_total", type=type_)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for (name, labels), v in sorted(self.counters.items()):
                lab = ",".join(f'{k}="{val}"' for k, val in labels)
                lines.append(f"{name}{{{lab}}} {_num(v)}" if lab else f"{name} {_num(v)}")
            for name, v in sorted(self.gauges.items()):
                lines.append(f"{name} {_num(v)}")
            for name, values in sorted(self.latencies.items()):
                data = sorted(values)
                if not data:
                    continue
                lines.append(f"# TYPE {name} summary")
                for q in (0.5, 0.9, 0.99):
                    lines.append(f'{name}{{quantile="{q}"}} {data[min(len(data) - 1, int(q * len(data)))]:.6f}')
                lines.append(f"{name}_count {len(data)}")
        return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    """Counters print in full (``1234567``, not ``1.23457e+06``), fractions as they are."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))
