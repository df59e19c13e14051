"""Which payment vendor to try, in which order, for a currency.

The Onasis gateway does not route by currency (it uses the vendor we name, else its first one), so the
choice is ours: a routing table currency -> [primary, fallbacks...] and a circuit breaker per vendor,
so that a vendor that keeps failing is skipped for a while and later gets one probe call to prove it
is back. Whether a failure may fall back at all is the caller's decision: a transfer whose outcome is
unknown is verified at the same vendor first, never re-sent elsewhere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from enum import StrEnum

from tools.platform.domain.money import MoneyError, currency_exponent

__all__ = [
    "DEFAULT_ROUTES",
    "BreakerState",
    "CircuitBreaker",
    "NoRoute",
    "RoutingError",
    "VendorRouter",
    "parse_routes",
]

DEFAULT_ROUTES = "NGN,GHS,KES,ZAR:paystack,flutterwave;USD,EUR,GBP:stripe,paypal"

_VENDOR = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

Clock = Callable[[], float]


class RoutingError(ValueError):
    """The routing table text cannot be used; the message names the faulty part."""


class NoRoute(ValueError):
    """No vendor is configured for the currency (a configuration gap, not a vendor failure)."""

    def __init__(self, currency: str, routed: list[str]) -> None:
        super().__init__(
            f"no payment vendor is configured for {currency}; CAAS_PAYMENT_ROUTES routes "
            f"{', '.join(routed) or 'no currency'}"
        )
        self.currency = currency


def parse_routes(text: str) -> dict[str, tuple[str, ...]]:
    """``"NGN,GHS:paystack,flutterwave;USD:stripe"`` -> {"NGN": ("paystack", "flutterwave"), ...}."""
    routes: dict[str, tuple[str, ...]] = {}
    for group in (g.strip() for g in text.split(";")):
        if not group:
            continue
        currencies_text, sep, vendors_text = group.partition(":")
        if not sep:
            raise RoutingError(f"'{group}' has no ':'; write CURRENCIES:vendor,fallback such as NGN:paystack")
        vendors = tuple(v.strip().lower() for v in vendors_text.split(",") if v.strip())
        if not vendors:
            raise RoutingError(f"'{group}' names no vendor")
        for vendor in vendors:
            if not _VENDOR.match(vendor):
                raise RoutingError(f"'{vendor}' is not a vendor name (letters, digits, '-' or '_')")
        if len(set(vendors)) != len(vendors):
            raise RoutingError(f"'{group}' names a vendor twice")
        currencies = [c.strip().upper() for c in currencies_text.split(",") if c.strip()]
        if not currencies:
            raise RoutingError(f"'{group}' names no currency")
        for currency in currencies:
            try:
                currency_exponent(currency)
            except MoneyError as exc:
                raise RoutingError(str(exc)) from None
            if currency in routes:
                raise RoutingError(f"{currency} is routed twice")
            routes[currency] = vendors
    if not routes:
        raise RoutingError("the routing table is empty; write e.g. NGN:paystack,flutterwave;USD:stripe")
    return routes


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through; consecutive failures are counted
    OPEN = "open"  # calls are refused until the reset period has passed
    HALF_OPEN = "half_open"  # one probe call decides: success closes, failure re-opens


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset_seconds`` lets one probe through.

    A probe that is handed out but never reported (the caller crashed, or stopped at an earlier
    vendor) would keep the vendor shut for ever; it lapses after another ``reset_seconds`` so that a
    new probe may go.
    """

    def __init__(self, failures: int = 5, reset_seconds: float = 30.0, clock: Clock = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds must be positive")
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def allow(self) -> bool:
        """May a call go to this vendor now? In half-open, True once: the caller holds the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._probe_at is not None and now - self._probe_at < self.reset_seconds:
            return False  # a probe is out; everyone else waits for its verdict
        self._probe_at = now
        return True

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._probe_at = None

    def record_failure(self) -> None:
        self._consecutive += 1
        if self._opened_at is not None:
            if self._probe_at is not None:
                # The probe failed (or a straggler from before the opening): shut for another period.
                self._opened_at = self._clock()
                self._probe_at = None
            return
        if self._consecutive >= self.failures:
            self._opened_at = self._clock()
            self._probe_at = None


class VendorRouter:
    """The routing table plus one breaker per vendor, shared by every payment of the process."""

    def __init__(
        self,
        routes: Mapping[str, tuple[str, ...]],
        *,
        failures: int = 5,
        reset_seconds: float = 30.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.routes = dict(routes)
        self._breakers = {
            vendor: CircuitBreaker(failures, reset_seconds, clock)
            for vendors in self.routes.values()
            for vendor in vendors
        }

    @classmethod
    def from_text(
        cls, text: str, *, failures: int = 5, reset_seconds: float = 30.0, clock: Clock = time.monotonic
    ) -> VendorRouter:
        return cls(parse_routes(text), failures=failures, reset_seconds=reset_seconds, clock=clock)

    def vendors(self, currency: str) -> tuple[str, ...]:
        """Every vendor configured for ``currency``, in order, healthy or not; raises NoRoute."""
        try:
            return self.routes[currency]
        except KeyError:
            raise NoRoute(currency, sorted(self.routes)) from None

    def candidates(self, currency: str) -> list[str]:
        """The vendors to try now, primary first, skipping those whose breaker is open.

        A half-open vendor appears at most once among all callers until its probe is reported
        (``record_success``/``record_failure``) or lapses. Empty when every vendor is shut.
        """
        return [vendor for vendor in self.vendors(currency) if self._breakers[vendor].allow()]

    def breaker(self, vendor: str) -> CircuitBreaker:
        return self._breakers[vendor]

    def record_success(self, vendor: str) -> None:
        if vendor in self._breakers:
            self._breakers[vendor].record_success()

    def record_failure(self, vendor: str) -> None:
        if vendor in self._breakers:
            self._breakers[vendor].record_failure()

    def states(self) -> dict[str, str]:
        """Each vendor's breaker state, for /health and logs."""
        return {vendor: breaker.state.value for vendor, breaker in self._breakers.items()}
