"""Token files, credential files (read by the identity layer's one reader), the renew hook and
the JSON log: no platform needed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microstax.controller.config import RenewSpec
from microstax.controller.files import (
    FAULT_ENV,
    FAULT_EXIT_CODE,
    clean_stale_temps,
    read_token_file,
    remove_token,
    signature,
    write_token,
)
from microstax.controller.logs import JsonFormatter, log_event
from microstax.controller.renew import run_hook
from microstax.controller.state import TokenMeta
from microstax.identity.exceptions import InvalidSubjectToken, SecretNotFound
from microstax.identity.sessions import read_credential, read_subject_file

TOKEN_A = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWEtc2lnbmF0dXJl"
TOKEN_B = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnbmF0dXJlLWItc2lnbmF0dXJl"


def test_write_token_is_0600_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "run" / "t.jwt"
    write_token(out, TOKEN_A)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    inode = out.stat().st_ino
    write_token(out, TOKEN_B)
    assert out.read_text() == TOKEN_B + "\n"
    assert out.stat().st_ino != inode  # a new file renamed over, never rewritten in place
    assert read_token_file(out) == TOKEN_B
    assert [p.name for p in out.parent.iterdir()] == ["t.jwt"]
    assert remove_token(out) and not remove_token(out)


def _write_in_child(out: Path, writes: int, crash_at: int) -> int:
    code = ("import sys; from pathlib import Path; "
            "from microstax.controller.files import write_token\n"
            f"for _ in range({writes}): write_token(Path(sys.argv[1]), {TOKEN_B!r})")
    env = {**os.environ, FAULT_ENV: f"crash-before-rename@{crash_at}"}
    return subprocess.run([sys.executable, "-c", code, str(out)], env=env, capture_output=True,
                          timeout=60).returncode


def test_crash_between_write_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    """The fault point kills the process after the temp file is complete, before rename."""
    out = tmp_path / "t.jwt"
    write_token(out, TOKEN_A)
    assert _write_in_child(out, writes=1, crash_at=1) == FAULT_EXIT_CODE
    assert out.read_text() == TOKEN_A + "\n"  # intact
    leftovers = [p for p in tmp_path.iterdir() if p.name != "t.jwt"]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".t.jwt.")
    assert leftovers[0].read_text() == TOKEN_B + "\n"  # complete, just never renamed
    assert clean_stale_temps(out) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["t.jwt"]
    # the fault hits only the N-th write of the process: the first of two lands
    assert _write_in_child(out, writes=2, crash_at=2) == FAULT_EXIT_CODE
    assert out.read_text() == TOKEN_B + "\n"


def test_read_credential_errors(tmp_path: Path) -> None:
    """The identity layer's one credential reader, as the controller uses it: a subject token
    file's problem is an ``InvalidSubjectToken`` (cause ``subject``), a secret file's a
    ``SecretNotFound`` (cause ``secret``)."""
    with pytest.raises(InvalidSubjectToken, match=r"the subject token file .*nope does not exist"):
        read_credential(tmp_path / "nope", "subject token")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SecretNotFound, match="is empty"):
        read_credential(tmp_path / "empty", "client secret", error=SecretNotFound)
    (tmp_path / "big").write_bytes(b"a" * 70_000)
    with pytest.raises(InvalidSubjectToken, match="over"):
        read_credential(tmp_path / "big", "subject token")
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(InvalidSubjectToken, match="is not UTF-8 text"):
        read_credential(tmp_path / "latin1", "subject token")
    os.mkfifo(tmp_path / "fifo")  # a read would block forever: refused without reading
    with pytest.raises(InvalidSubjectToken, match="FIFO"):
        asyncio.run(read_subject_file(tmp_path / "fifo", "kubernetes subject token"))
    (tmp_path / "ok").write_text("  s3cret \n")
    assert read_credential(tmp_path / "ok", "client secret", error=SecretNotFound) == "s3cret"


def test_signature_follows_symlink_swaps(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "token").write_text("one")
    (tmp_path / "..data").symlink_to("v1")
    (tmp_path / "token").symlink_to("..data/token")
    first = signature(tmp_path / "token")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "token").write_text("two")
    (tmp_path / "tmp").symlink_to("v2")
    os.replace(tmp_path / "tmp", tmp_path / "..data")
    assert signature(tmp_path / "token") != first
    assert signature(tmp_path / "gone") is None


META = TokenMeta(jti="jti-1", issued_at=0, expires_at=2_000_000_000, fingerprint="ab" * 8)


def test_renew_command_gets_the_file_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "seen"
    spec = RenewSpec(command=("/bin/sh", "-c", f'echo "$MICROSTAX_TOKEN_FILE $MICROSTAX_TARGET '
                              f'$MICROSTAX_TOKEN_JTI $MICROSTAX_TOKEN_EXP" > {out}'))
    outcome = asyncio.run(run_hook(spec, output=Path("/run/t.jwt"), workload="w", target="t", meta=META))
    assert outcome.result == "ok"
    assert out.read_text().split() == ["/run/t.jwt", "t", "jti-1", "2000000000"]
    failing = RenewSpec(command=("/bin/sh", "-c", "exit 3"))
    assert asyncio.run(run_hook(failing, output=out, workload="w", target="t", meta=META)).result == "failed"
    slow = RenewSpec(command=("/bin/sleep", "30"), timeout=0.3)
    t0 = time.monotonic()
    assert asyncio.run(run_hook(slow, output=out, workload="w", target="t", meta=META)).result == "timeout"
    assert time.monotonic() - t0 < 5
    missing = RenewSpec(command=(str(tmp_path / "no-such-binary"),))
    assert asyncio.run(run_hook(missing, output=out, workload="w", target="t", meta=META)).result == "failed"


def test_renew_signal_reaches_the_pid_in_the_pid_file(tmp_path: Path) -> None:
    marker = tmp_path / "hups"
    child = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys, time\n"
        f"def on(*a): open({str(marker)!r}, 'a').write('x')\n"
        "signal.signal(signal.SIGHUP, on)\nprint('up', flush=True)\ntime.sleep(30)\n")],
        stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"up"
        pid_file = tmp_path / "app.pid"
        spec = RenewSpec(signal=int(signal.SIGHUP), pid_file=pid_file)
        outcome = asyncio.run(run_hook(spec, output=tmp_path / "t", workload="w", target="t", meta=META))
        assert outcome.result == "skipped"  # the workload is not up yet
        pid_file.write_text(f"{child.pid}\n")
        for expected in ("x", "xx"):  # one at a time: pending signals of one kind coalesce
            outcome = asyncio.run(run_hook(spec, output=tmp_path / "t", workload="w", target="t", meta=META))
            assert outcome.result == "ok", outcome.message
            deadline = time.monotonic() + 5
            while (not marker.exists() or marker.read_text() != expected) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.read_text() == expected
        pid_file.write_text("garbage")
        assert asyncio.run(run_hook(spec, output=tmp_path / "t", workload="w", target="t", meta=META)).result == "failed"
    finally:
        child.kill()
        child.wait()


def test_json_log_lines_never_carry_a_token() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("microstax.controller.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, logging.WARNING, "refresh_failed", f"server said {TOKEN_A}",
                  workload="w", detail={"echo": TOKEN_B}, jti="abc", exp=5)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue().strip()
    doc = json.loads(line)
    assert doc["event"] == "refresh_failed" and doc["level"] == "warning" and doc["jti"] == "abc"
    assert TOKEN_A not in line and TOKEN_B not in line and "[redacted]" in doc["msg"]
