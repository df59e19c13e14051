"""Which gateway the runtime wires: the in-process sandbox when ONASIS_GATEWAY_URL is unset (money
simulated, said by /health), the configured gateway otherwise; ``caas sandbox`` as a process."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from pydantic import HttpUrl, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.payments.onasis_gateway import OnasisGateway
from adapters.sandbox import Sandbox
from mcp_servers.cli import _with_webhook_target
from mcp_servers.composition import build_server
from mcp_servers.config import ConfigError, Settings, load_settings
from mcp_servers.runtime import Runtime
from mcp_servers.wiring import make_sandbox
from tests.helpers.common import caas_command, caas_env, free_port, serving

RECIPIENT = {"name": "Ada Obi", "account_number": "0123456789", "bank_code": "058"}


async def health(runtime: Runtime) -> dict[str, object]:
    transport = httpx.ASGITransport(app=build_server(runtime).http_app(path="/mcp"))
    async with httpx.AsyncClient(transport=transport, base_url="http://caas.test") as http:
        return dict((await http.get("/health")).json())


async def test_without_a_gateway_url_the_runtime_runs_the_sandbox_and_health_says_simulated(
    runtime: Runtime,
) -> None:
    assert runtime.sandbox is not None
    assert runtime.gateway.simulated is True
    assert runtime.gateway.base_url == runtime.sandbox.gateway_url
    secrets = runtime.payment_secrets
    assert (secrets.paystack, secrets.stripe) == (
        runtime.sandbox.paystack_secret,
        runtime.sandbox.stripe_secret,
    )
    assert (await health(runtime))["payments"] == {"gateway": "sandbox", "simulated": True}
    reference = f"caas-wiring-{uuid.uuid4()}"
    await runtime.gateway.transfer(
        vendor="paystack",
        reference=reference,
        amount_minor=100,
        currency="NGN",
        recipient=RECIPIENT,
        metadata={},
    )
    assert (await runtime.gateway.verify(vendor="paystack", reference=reference)).status == "success"


async def test_with_a_gateway_url_the_runtime_calls_it_and_an_external_sandbox_is_still_simulated(
    settings: Settings,
) -> None:
    async with Sandbox() as external:
        configured = settings.model_copy(
            update={
                "onasis_gateway_url": HttpUrl(external.gateway_url),
                "paystack_secret_key": SecretStr("sk_live_x"),
            }
        )
        runtime = Runtime(configured)
        async with runtime.session():
            assert runtime.sandbox is None
            assert runtime.gateway.simulated is True  # the sandbox's answers say so (X-Onasis-Sandbox)
            assert runtime.gateway.base_url == external.gateway_url
            assert runtime.payment_secrets.paystack == "sk_live_x"
            assert runtime.payment_secrets.stripe is None
            assert (await health(runtime))["payments"] == {"gateway": "sandbox", "simulated": True}
            reference = f"caas-wiring-{uuid.uuid4()}"
            await runtime.gateway.transfer(
                vendor="paystack",
                reference=reference,
                amount_minor=100,
                currency="NGN",
                recipient=RECIPIENT,
                metadata={},
            )
        assert [t["reference"] for t in external.state.listing("transfer")] == [reference]
        with pytest.raises(RuntimeError):
            _ = runtime.gateway  # stopped with the runtime


async def test_a_gateway_that_does_not_say_it_is_a_sandbox_moves_real_money() -> None:
    async def ok(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async with serving(Starlette(routes=[Route("/health", ok)]), lifespan="off") as url:
        gateway = OnasisGateway(url)
        try:
            assert await gateway.detect_sandbox() is False
        finally:
            await gateway.aclose()
    unreachable = OnasisGateway(f"http://127.0.0.1:{free_port()}")
    try:
        assert await unreachable.detect_sandbox() is False  # unknown stays as configured
    finally:
        await unreachable.aclose()


def test_configured_secrets_and_webhook_url_reach_the_in_process_sandbox(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "paystack_secret_key": SecretStr("sk_test_shared"),
            "stripe_webhook_secret": SecretStr("whsec_shared"),
            "sandbox_webhook_url": HttpUrl("http://127.0.0.1:4555"),
        }
    )
    sandbox = make_sandbox(configured)
    assert (sandbox.paystack_secret, sandbox.stripe_secret) == ("sk_test_shared", "whsec_shared")
    assert sandbox.webhook_base_url == "http://127.0.0.1:4555"


@pytest.mark.parametrize(
    ("overrides", "host", "port", "expected"),
    [
        ({}, None, None, "http://127.0.0.1:3013/"),
        ({}, "0.0.0.0", 8080, "http://127.0.0.1:8080/"),
        ({"port": 4000}, "::1", None, "http://[::1]:4000/"),
        ({"sandbox_webhook_url": "https://caas.example.com"}, None, None, "https://caas.example.com/"),
        ({"onasis_gateway_url": "https://gateway.example.com"}, None, None, None),
    ],
)
def test_caas_serve_points_the_sandbox_webhooks_at_itself_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    overrides: dict[str, object],
    host: str | None,
    port: int | None,
    expected: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("CAAS_HOST", "CAAS_PORT", "CAAS_SANDBOX_WEBHOOK_URL", "ONASIS_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(**overrides)
    target = _with_webhook_target(settings, None, host, port).sandbox_webhook_url
    assert (str(target) if target else None) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CAAS_PAYMENT_ROUTES", "NGN:paystack;NGN:stripe"),
        ("CAAS_PAYMENT_ROUTES", "XYZ:paystack"),
        ("CAAS_BREAKER_FAILURES", "0"),
        ("ONASIS_PAYMENTS_PATH", "no-leading-slash"),
        ("CAAS_GATEWAY_TIMEOUT_SECONDS", "0"),
    ],
)
def test_a_bad_payment_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(variable)


@pytest.mark.subprocess
async def test_caas_sandbox_serves_the_gateway_and_registry_and_stops_on_sigint(tmp_path: Path) -> None:
    gateway_port, registry_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        "sandbox",
        "--port",
        str(gateway_port),
        "--registry-port",
        str(registry_port),
        "--webhook-url",
        "http://127.0.0.1:9",
        env=caas_env(CAAS_DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode() for _ in range(3)]
        assert f"http://127.0.0.1:{gateway_port}" in lines[0]
        assert f"http://127.0.0.1:{registry_port}" in lines[1]
        assert "http://127.0.0.1:9/webhooks/paystack" in lines[2]
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{gateway_port}/health")).json()["simulated"] is True
            activate = await http.post(
                f"http://127.0.0.1:{registry_port}/api/services/caas/activate",
                json={"config": {"url": "http://127.0.0.1:3013/mcp"}},
            )
            assert activate.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
