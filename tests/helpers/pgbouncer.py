"""A real PgBouncer in transaction pooling mode (Debian's package) in front of a PostgreSQL server.

The tests of ``tests/database/test_pgbouncer.py`` start one on a free port; ``.ci/run`` starts one with
``python -m tests.helpers.pgbouncer`` and runs the suite through it (``CAAS_TEST_POOLED_URL``).
PgBouncer refuses to run as root: as root it is started with ``-u postgres`` (Debian's own service user).
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["PgBouncer", "core_env", "core_urls", "find_pgbouncer", "free_port", "start_pgbouncer"]

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "pgbouncer" / "pgbouncer.ini"
SERVICE_USER = "postgres"


def core_urls(core: str) -> dict[str, str | None]:
    """``load_settings``' ``database_url`` and ``direct_url`` for the system of record ``core`` (a DSN
    of the test's server): in the pooled run (``CAAS_TEST_POOLED_URL``, as .ci/run starts it) the
    request pools go through that PgBouncer and ``core`` stays the direct URL for migrations and
    listeners, as with Neon's two URLs; otherwise ``core`` alone."""
    pooled = os.environ.get("CAAS_TEST_POOLED_URL")
    if not pooled:
        return {"database_url": core, "direct_url": None}
    name = urlsplit(core).path
    return {"database_url": urlunsplit(urlsplit(pooled)._replace(path=name)), "direct_url": core}


def core_env(core: str) -> dict[str, str]:
    """:func:`core_urls` as a child process reads them: NEON_DATABASE_URL and, pooled, NEON_DIRECT_URL."""
    urls = core_urls(core)
    env = {"NEON_DATABASE_URL": str(urls["database_url"])}
    if urls["direct_url"]:
        env["NEON_DIRECT_URL"] = str(urls["direct_url"])
    return env


def find_pgbouncer() -> str | None:
    """The binary: on PATH, or Debian's /usr/sbin (not on a non-root user's PATH)."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    return "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    upstream: str

    def url(self, dsn: str) -> str:
        """``dsn`` (a URL of the upstream server) with its host and port replaced by PgBouncer's."""
        parts = urlsplit(dsn)
        user = f"{parts.username}@" if parts.username else ""
        # The query goes too: an embedded server's ``?host=/socket/dir`` would bypass PgBouncer.
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}", query=""))

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: PgBouncer's immediate shutdown (SIGINT waits for clients)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(upstream_dsn: str, *, port: int | None = None, binary: str | None = None) -> PgBouncer:
    """PgBouncer forwarding every database of ``upstream_dsn``'s server; waits until it accepts."""
    binary = binary or find_pgbouncer()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer (.ci/run installs it)")
    upstream = urlsplit(upstream_dsn)
    # A Unix-socket server (the embedded one: ?host=/dir) is reached through its socket directory.
    host = dict(parse_qsl(upstream.query)).get("host") or upstream.hostname or "127.0.0.1"
    port = port or free_port()
    directory = Path(tempfile.mkdtemp(prefix="caas-pgbouncer-"))
    config = (
        TEMPLATE.read_text()
        .replace("@UPSTREAM_HOST@", host)
        .replace("@UPSTREAM_PORT@", str(upstream.port or 5432))
        .replace("@PORT@", str(port))
        .replace("@DIR@", str(directory))
    )
    (directory / "pgbouncer.ini").write_text(config)
    (directory / "userlist.txt").write_text(f'"{upstream.username or SERVICE_USER}" ""\n')
    command = [binary, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for path in directory.iterdir():
            os.chown(path, entry.pw_uid, entry.pw_gid)
        command[1:1] = ["-u", SERVICE_USER]
    # Not a pipe: PgBouncer (not daemonized) logs every line to stderr as well, and once an unread
    # pipe's 64 KiB were full it blocked in write() and stopped serving, mid-suite.
    with (directory / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    bouncer = PgBouncer(process, port, directory, upstream_dsn)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = (directory / "stderr.log").read_text(errors="replace")
            bouncer.stop()
            raise RuntimeError(f"pgbouncer exited at start ({process.returncode}): {err}{bouncer.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return bouncer
        except OSError:
            time.sleep(0.05)
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not listen on 127.0.0.1:{port} within 15 s")


def main() -> None:
    """``python -m tests.helpers.pgbouncer UPSTREAM_URL [--port N]``: prints the pooled URL, runs until
    SIGTERM/SIGINT (for .ci/run, which backgrounds it)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("upstream")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    bouncer = start_pgbouncer(args.upstream, port=args.port)
    sys.stdout.write(bouncer.url(args.upstream) + "\n")
    sys.stdout.flush()
    # The handler only raises: stopping inside it would wait on the child while the interrupted
    # wait() below still holds Popen's lock (a deadlock). The finally clause stops PgBouncer.
    signal.signal(signal.SIGTERM, _exit)
    try:
        bouncer.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        bouncer.stop()


def _exit(*_: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
