"""The log filter masks identity numbers, account numbers and dates of birth wherever they slip in."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_servers.platform.redaction import PersonalDataFilter, install_redaction, redact

NIN = "12345678901"
NUBAN = "0123456789"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("caas.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"nin={NIN}", "nin=****8901"),
        (f"bvn {NIN}.", "bvn ****8901."),
        (f"account {NUBAN}", "account ****6789"),
        (f"acct_{NUBAN}", "acct_****6789"),
        ("dob=1990-05-17", "dob=****-**-**"),
        ("{'date_of_birth': '1990-05-17'}", "{'date_of_birth': '****-**-**'}"),
        ("birthDate: 1990-05-17T00:00:00", "birthDate: ****-**-**T00:00:00"),
        ("{'dob': datetime.date(1990, 5, 17)}", "{'dob': datetime.date(****-**-**)}"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "application CAAS-2024-000123 created 2024-05-17",
        "id 7c9e6679-7425-40de-944b-e07f1234567890",  # hex around the digits
        "id 3f2a1234567890bc",
        "amount 123456789 minor units",  # nine digits
        "card 4111111111111111",  # a longer run is not a NIN or an account
        "opened 1990-05-17 by operator",  # a date with no birth label
    ],
)
def test_ordinary_log_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@given(
    before=st.sampled_from(["", "nin=", "x ", "(", "'", "acct:"]),
    digits=st.text(alphabet="0123456789", min_size=10, max_size=11),
    after=st.sampled_from(["", " ok", ")", "'", ".", ","]),
)
def test_no_ten_or_eleven_digit_run_survives(before: str, digits: str, after: str) -> None:
    shown = redact(before + digits + after)
    assert digits not in shown
    assert shown.endswith(digits[-4:] + after)


def test_arguments_are_masked_in_the_final_message(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("looked up %s with account %s", NIN, NUBAN)
    logger.info("borrower %(nin)s", {"nin": NIN})
    logger.info({"national_id": NIN, "dob": "1990-05-17"})
    out = stream.getvalue()
    assert NIN not in out
    assert NUBAN not in out
    assert "1990-05-17" not in out
    assert "looked up ****8901 with account ****6789" in out


def test_exception_text_is_masked(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError(f"no borrower with NIN {NIN}")
    except ValueError:
        logger.exception("lookup failed")
    out = stream.getvalue()
    assert "ValueError: no borrower with NIN ****8901" in out
    assert NIN not in out


def test_extra_fields_are_masked_for_structured_handlers() -> None:
    record = logging.LogRecord("caas", logging.INFO, __file__, 1, "lookup", None, None)
    record.national_id = NIN
    PersonalDataFilter().filter(record)
    assert record.national_id == "****8901"


def test_a_record_whose_arguments_do_not_fit_is_kept_without_them(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("two placeholders %s %s", NIN)
    out = stream.getvalue()
    assert "arguments withheld" in out
    assert NIN not in out


def test_install_redaction_covers_root_handlers_once() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        install_redaction()
        install_redaction()
        assert sum(isinstance(f, PersonalDataFilter) for f in handler.filters) == 1
        logging.getLogger("caas.some.module").warning("account %s", NUBAN)
        assert "account ****6789" in stream.getvalue()
    finally:
        root.removeHandler(handler)
