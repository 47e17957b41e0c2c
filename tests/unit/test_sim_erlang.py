"""Erlang C (hall.sim.erlang) against closed forms and published values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall.sim.erlang import MMc, erlang_b, erlang_c, min_servers


@given(st.floats(0.01, 0.99), st.floats(1e-4, 1.0))
def test_one_server_is_the_mm1_queue(rho: float, mu: float) -> None:
    lam = rho * mu
    q = MMc(1, lam, mu)
    assert q.p_wait == pytest.approx(rho)
    assert q.mean_wait_s == pytest.approx(rho / (mu - lam))


def test_known_values() -> None:
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-4)  # the textbook call-centre table


def test_two_servers_closed_form() -> None:
    # M/M/2: P(wait) = 2 rho² / (1 + rho), Wq = P(wait) / (2 mu - lam)
    lam, mu = 0.015, 0.01
    rho = lam / (2 * mu)
    q = MMc(2, lam, mu)
    assert q.p_wait == pytest.approx(2 * rho**2 / (1 + rho))
    assert q.mean_wait_s == pytest.approx(q.p_wait / (2 * mu - lam))


def test_unstable_queue_waits_forever() -> None:
    q = MMc(3, 0.03, 0.01)
    assert not q.stable and q.p_wait == 1.0 and math.isinf(q.mean_wait_s) and math.isinf(q.wait_quantile_s(0.95))
    assert erlang_c(0, 0.5) == 1.0


def test_quantile_of_the_wait() -> None:
    q = MMc(4, 0.02, 0.006)
    t = q.wait_quantile_s(0.95)
    assert q.p_wait * math.exp(-(4 * 0.006 - 0.02) * t) == pytest.approx(0.05)
    assert MMc(10, 0.001, 0.01).wait_quantile_s(0.95) == 0.0  # almost nobody waits


@given(st.integers(1, 30), st.floats(0.1, 25.0))
def test_prop_more_servers_never_wait_longer(c: int, a: float) -> None:
    mu = 1 / 600
    lam = a * mu
    assert MMc(c + 1, lam, mu).mean_wait_s <= MMc(c, lam, mu).mean_wait_s
    assert 0.0 <= erlang_c(c, a) <= 1.0


def test_min_servers() -> None:
    mu = 1 / 600
    c = min_servers(0.01, mu, 60.0)
    assert c is not None and MMc(c, 0.01, mu).mean_wait_s <= 60 < MMc(c - 1, 0.01, mu).mean_wait_s
