"""Vendor routing: the currency table, the circuit breaker's states, fallback order and the probe."""

from __future__ import annotations

import pytest

from tools.payments.domain.routing import (
    DEFAULT_ROUTES,
    BreakerState,
    CircuitBreaker,
    NoRoute,
    RoutingError,
    VendorRouter,
    parse_routes,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def router(clock: Clock, failures: int = 3, reset: float = 30.0) -> VendorRouter:
    return VendorRouter.from_text(DEFAULT_ROUTES, failures=failures, reset_seconds=reset, clock=clock)


def test_the_default_table_routes_african_currencies_to_paystack_and_the_rest_to_stripe() -> None:
    routes = parse_routes(DEFAULT_ROUTES)
    for currency in ("NGN", "GHS", "KES", "ZAR"):
        assert routes[currency] == ("paystack", "flutterwave")
    for currency in ("USD", "EUR", "GBP"):
        assert routes[currency] == ("stripe", "paypal")


def test_the_table_tolerates_spaces_case_and_trailing_separators() -> None:
    assert parse_routes(" ngn , kes : Paystack , flutterwave ; usd:stripe ;") == {
        "NGN": ("paystack", "flutterwave"),
        "KES": ("paystack", "flutterwave"),
        "USD": ("stripe",),
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        ";",
        "NGN",
        "NGN:",
        ":paystack",
        "NGN:paystack;NGN:stripe",
        "NGN:paystack,paystack",
        "XYZ:paystack",
        "NGN:pay stack",
    ],
)
def test_a_malformed_table_is_refused_with_a_routing_error(text: str) -> None:
    with pytest.raises(RoutingError):
        parse_routes(text)


def test_an_unknown_currency_is_no_route_naming_the_routed_ones() -> None:
    with pytest.raises(NoRoute) as caught:
        router(Clock()).candidates("JPY")
    assert caught.value.currency == "JPY"
    assert "NGN" in str(caught.value)


def test_healthy_vendors_are_offered_primary_first() -> None:
    assert router(Clock()).candidates("NGN") == ["paystack", "flutterwave"]
    assert router(Clock()).candidates("USD") == ["stripe", "paypal"]


def test_the_breaker_stays_closed_below_the_threshold_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=30, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_the_breaker_opens_after_consecutive_failures_and_refuses_calls() -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=30, clock=Clock())
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_after_the_reset_period_one_probe_goes_through_and_everyone_else_waits() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_a_successful_probe_closes_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(31)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_a_failed_probe_opens_the_breaker_for_another_full_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(31)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_probe_never_reported_lapses_so_the_vendor_is_not_shut_for_ever() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()  # the caller crashed with the probe
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_failing_primary_is_skipped_so_the_fallback_comes_first() -> None:
    clock = Clock()
    r = router(clock, failures=3)
    for _ in range(3):
        r.record_failure("paystack")
    assert r.candidates("NGN") == ["flutterwave"]
    assert r.candidates("GHS") == ["flutterwave"]  # one breaker per vendor, shared by its currencies
    assert r.candidates("USD") == ["stripe", "paypal"]
    assert r.states()["paystack"] == "open"


def test_the_recovered_primary_is_probed_once_then_back_in_front_after_a_success() -> None:
    clock = Clock()
    r = router(clock, failures=2, reset=30)
    r.record_failure("paystack")
    r.record_failure("paystack")
    clock.advance(30)
    assert r.candidates("NGN") == ["paystack", "flutterwave"]  # this caller holds the probe
    assert r.candidates("NGN") == ["flutterwave"]  # concurrent callers do not pile onto it
    r.record_success("paystack")
    assert r.candidates("NGN") == ["paystack", "flutterwave"]
    assert r.states()["paystack"] == "closed"


def test_every_vendor_shut_leaves_no_candidate() -> None:
    r = router(Clock(), failures=1)
    r.record_failure("stripe")
    r.record_failure("paypal")
    assert r.candidates("USD") == []
    assert r.vendors("USD") == ("stripe", "paypal")


def test_failures_reported_for_a_vendor_outside_the_table_are_ignored() -> None:
    r = router(Clock(), failures=1)
    r.record_failure("mpesa")
    r.record_success("mpesa")
    assert "mpesa" not in r.states()


@pytest.mark.parametrize(("failures", "reset"), [(0, 30.0), (1, 0.0)])
def test_a_breaker_needs_a_positive_threshold_and_period(failures: int, reset: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=failures, reset_seconds=reset)
