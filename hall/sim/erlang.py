"""Erlang C: the M/M/c queue, as a reference for what c pooled windows could do at best.

With Poisson arrivals at rate ``lam``, exponential service at rate ``mu`` per server and ``c``
servers, the offered load is a = lam / mu erlangs and the utilisation rho = a / c. When rho < 1,

    P(wait) = C(c, a) = B(c, a) / (1 - rho (1 - B(c, a)))       (B: Erlang B, by its recursion)
    Wq      = C(c, a) / (c mu - lam)                            (mean wait in the queue)

For c = 1 this is the M/M/1 queue: P(wait) = rho and Wq = rho / (mu - lam). Pure functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of c servers offered a erlangs (stable recursion, no factorials)."""
    if c < 0 or a < 0:
        raise ValueError("c and a must be non-negative")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits; 1.0 when the queue is unstable (a >= c)."""
    if c <= 0 or a >= c:
        return 1.0
    if a == 0:
        return 0.0
    b = erlang_b(c, a)
    rho = a / c
    return b / (1 - rho * (1 - b))


@dataclass(frozen=True, slots=True)
class MMc:
    c: int
    lam: float  # arrivals per second
    mu: float  # services per second per server

    @property
    def load(self) -> float:
        return self.lam / self.mu

    @property
    def rho(self) -> float:
        return self.load / self.c if self.c else math.inf

    @property
    def stable(self) -> bool:
        return self.c > 0 and self.load < self.c

    @property
    def p_wait(self) -> float:
        return erlang_c(self.c, self.load)

    @property
    def mean_wait_s(self) -> float:
        """Mean wait in the queue (seconds); infinite when unstable."""
        if not self.stable:
            return math.inf
        return self.p_wait / (self.c * self.mu - self.lam)

    def wait_quantile_s(self, q: float) -> float:
        """The q-quantile of the wait: P(W > t) = C e^{-(c mu - lam) t}."""
        if not self.stable:
            return math.inf
        pw = self.p_wait
        if pw <= 1 - q:
            return 0.0
        return math.log(pw / (1 - q)) / (self.c * self.mu - self.lam)


def min_servers(lam: float, mu: float, max_mean_wait_s: float, limit: int = 200) -> int | None:
    """The fewest servers whose mean wait is at most ``max_mean_wait_s``."""
    c = max(1, math.floor(lam / mu) + 1) if lam > 0 else 1
    while c <= limit:
        if MMc(c, lam, mu).mean_wait_s <= max_mean_wait_s:
            return c
        c += 1
    return None
