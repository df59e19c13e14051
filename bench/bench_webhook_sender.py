"""What a lender webhook costs the worker's CPU in the HTTP client: the sender as it is (its client keeps
no cookies and its streams look their socket up once, adapters/platform/http.py) against the same sender
on a plain ``httpx.AsyncClient`` with httpcore's own anyio streams (what it was), in alternating blocks
in this one process. The receiver is a child process (a bare asyncio
HTTP/1.1 server answering 200, keep-alive), so only the sender's CPU is counted here.

    .venv/bin/python bench/bench_webhook_sender.py [--posts 400] [--blocks 8] [--concurrency 8] \
        [--set-cookie] [--json out.json]

``--set-cookie``: the receiver answers with a ``Set-Cookie`` (a load balancer's affinity cookie, say),
which the plain client then sends back with every later webhook to that host, any lender's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpcore
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.marketplace.webhook_sender import HttpxWebhookSender  # noqa: E402
from adapters.platform.outbound import guarded_transport  # noqa: E402
from tests.helpers.common import free_port  # noqa: E402

RECEIVER = r"""
import asyncio, sys
port, cookie = int(sys.argv[1]), sys.argv[2] == "1"
extra = b"Set-Cookie: sid=receiver-session; Path=/\r\n" if cookie else b""
answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + extra + b"\r\nok"
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(answer)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def _sender(plain: bool) -> HttpxWebhookSender:
    sender = HttpxWebhookSender(allow_local=True, timeout_seconds=10.0)
    if plain:  # the client it had before: the same arguments on httpx's class and httpcore's streams
        sender._http = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=5.0),
            follow_redirects=False,
            headers={"User-Agent": "CaaS-Webhooks"},
            transport=guarded_transport(allow_local=True, backend=httpcore.AnyIOBackend()),
            trust_env=False,
        )
    return sender


async def _block(sender: HttpxWebhookSender, url: str, posts: int, concurrency: int) -> float:
    """CPU microseconds of this process per webhook, over ``posts`` webhooks."""
    body = json.dumps({"id": "e", "type": "bid.placed", "data": {"amount": "5000.00"}}).encode()
    headers = {"Content-Type": "application/json", "X-CaaS-Event-Id": "e", "webhook-signature": "v1,x"}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(i: int) -> None:
        async with limiter:
            answer = await sender.post(f"{url}/lender-{i % 3}", body, headers)
            assert answer.status_code == 200

    started = time.process_time()
    async with anyio.create_task_group() as tg:
        for i in range(posts):
            tg.start_soon(one, i)
    return (time.process_time() - started) / posts * 1e6


async def run(opts: argparse.Namespace, url: str) -> dict[str, object]:
    senders = {"platform": _sender(False), "plain httpx": _sender(True)}
    for s in senders.values():  # warm: connections open, code paths compiled
        await _block(s, url, opts.concurrency * 4, opts.concurrency)
    blocks: dict[str, list[float]] = {k: [] for k in senders}
    for b in range(opts.blocks):
        order = list(senders) if b % 2 == 0 else list(reversed(senders))
        for name in order:
            blocks[name].append(await _block(senders[name], url, opts.posts, opts.concurrency))
    for s in senders.values():
        await s.aclose()
    medians = {k: statistics.median(v) for k, v in blocks.items()}
    return {
        "posts_per_block": opts.posts,
        "blocks": opts.blocks,
        "concurrency": opts.concurrency,
        "set_cookie": opts.set_cookie,
        "cpu_us_per_webhook": medians,
        "cpu_us_blocks": blocks,
        "ratio_platform_to_plain": medians["platform"] / medians["plain httpx"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=400)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--set-cookie", action="store_true")
    ap.add_argument("--json")
    opts = ap.parse_args()
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(port), "1" if opts.set_cookie else "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        result = asyncio.run(run(opts, f"http://127.0.0.1:{port}"))
    finally:
        receiver.terminate()
        receiver.wait()
    cpu = result["cpu_us_per_webhook"]
    assert isinstance(cpu, dict)
    print(f"| client | CPU us per webhook (median of {opts.blocks} blocks of {opts.posts}) |")
    print("|---|---:|")
    for name, value in cpu.items():
        print(f"| {name} | {value:.0f} |")
    print(f"platform / plain: {result['ratio_platform_to_plain']:.3f}")
    if opts.json:
        Path(opts.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
