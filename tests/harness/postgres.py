"""A throwaway PostgreSQL for the tests: ``initdb`` + ``pg_ctl`` from Debian's package.

::

    with PostgresCluster.start_new() as cluster:    # temp dir, 127.0.0.1:<free port>
        dsn = cluster.create_database()             # a fresh, empty database; its DSN

The cluster lives in a temp dir under /tmp (data dir, unix socket dir, log, password file),
listens on 127.0.0.1 on a free port and on a socket in that dir, and requires a password
(scram-sha-256, a generated one) for the superuser ``microstax``. PostgreSQL refuses to run as
root, so as root every binary runs as the ``postgres`` system user the package creates
(``runuser -u postgres --``) and the temp dir is chown'ed to it. ``stop()`` stops the server
(``pg_ctl stop -m fast``) and removes the dir.

``scripts/lib/pre-test.d/40-postgresql.sh`` installs the package and starts one cluster for
the whole run (``python -m tests.harness.postgres start DIR``, which prints the admin DSN;
``… stop DIR``), exported as ``MICROSTAX_TEST_PG_DSN``. Without it, the ``pg_cluster`` session
fixture starts its own, so a bare ``pytest`` works once the package is installed; missing
binaries fail the test (never skip it). The ``postgres_dsn`` fixture gives each test its own
database.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from .net import free_port as _free_port

ENV_DSN = "MICROSTAX_TEST_PG_DSN"
SUPERUSER = "microstax"
RUN_AS = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (or cannot run)."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has initdb and pg_ctl."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").is_file()]
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install "
            "Debian's 'postgresql' package (scripts/test does, through "
            "scripts/lib/pre-test.d/40-postgresql.sh)")

    def major(d: Path) -> int:
        m = re.fullmatch(r"\d+", d.parent.name)
        return int(m.group()) if m else 0

    return max(found, key=major)


class PostgresCluster:
    def __init__(self, directory: Path, port: int, password: str) -> None:
        self.directory = Path(directory)
        self.port = port
        self.password = password
        self.data = self.directory / "data"
        self.sockets = self.directory / "sock"
        self.log_path = self.directory / "postgres.log"

    # -- life cycle ------------------------------------------------------------------------
    @classmethod
    def start_new(cls, directory: Path | None = None, port: int | None = None) -> PostgresCluster:
        bin_dir = find_bin_dir()
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="microstax-pg-", dir="/tmp"))
        cluster = cls(directory, port or _free_port(), secrets.token_urlsafe(24))
        try:
            cluster._start(bin_dir)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _as_owner(self, *args: str) -> list[str]:
        return ["runuser", "-u", RUN_AS, "--", *args] if os.geteuid() == 0 else list(args)

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        proc = subprocess.run(self._as_owner(*args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        if proc.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
            raise PostgresUnavailable(
                f"{Path(args[0]).name} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}{log}")

    def _start(self, bin_dir: Path) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.password + "\n")
        self.directory.chmod(0o700)
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(RUN_AS)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as "
                    "(Debian's postgresql package creates it)") from None
            for path in (self.directory, self.sockets, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(str(bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path),
                  "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start")
        self._bin_dir = bin_dir

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            bin_dir = getattr(self, "_bin_dir", None) or find_bin_dir()
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                          "stop", timeout=60)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- use -------------------------------------------------------------------------------
    @property
    def dsn(self) -> str:
        """The superuser's DSN (database ``postgres``), over TCP with the password."""
        return dsn_for(SUPERUSER, self.password, "127.0.0.1", self.port, "postgres")


def dsn_for(user: str, password: str, host: str, port: int, database: str) -> str:
    return f"postgresql://{quote(user)}:{quote(password, safe='')}@{host}:{port}/{quote(database)}"


def create_database(admin_dsn: str, name: str | None = None) -> str:
    """A new empty database on the server of ``admin_dsn``; returns its DSN."""
    import psycopg

    name = name or f"t_{secrets.token_hex(6)}"
    assert re.fullmatch(r"[a-z0-9_]+", name)
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


# -- pytest fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    """The superuser DSN of the run's PostgreSQL: the hook's, or one started here."""
    dsn = os.environ.get(ENV_DSN, "").strip()
    if dsn:
        yield dsn
        return
    try:
        cluster = PostgresCluster.start_new()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    with cluster:
        yield cluster.dsn


@pytest.fixture
def postgres_dsn(pg_admin_dsn: str) -> str:
    """A fresh database for one test."""
    return create_database(pg_admin_dsn)


# -- command line (for scripts/lib/pre-test.d/40-postgresql.sh) ------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.postgres")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a cluster in DIR; print its superuser DSN")
    start.add_argument("directory", type=Path)
    start.add_argument("--port", type=int, default=0)
    stop = sub.add_parser("stop", help="stop the cluster in DIR and remove DIR")
    stop.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "start":
        try:
            cluster = PostgresCluster.start_new(args.directory, args.port or None)
        except PostgresUnavailable as exc:
            print(f"postgres harness: {exc}", file=sys.stderr)
            return 1
        print(cluster.dsn)
        return 0
    PostgresCluster(args.directory, 0, "").stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
