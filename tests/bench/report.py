# ruff: noqa: RUF001
"""What a bench section returns, how it prints, and how it lands in docs/performance.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Row:
    name: str
    value: str
    goal: str = ""
    ok: bool | None = None  # None: informational


@dataclass
class Report:
    section: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    def text(self) -> str:
        width = max((len(r.name) for r in self.rows), default=10)
        lines = [f"== {self.section}: {self.title}"]
        for row in self.rows:
            mark = {True: "ok", False: "MISSED", None: ""}[row.ok]
            goal = f"  (goal {row.goal}) {mark}" if row.goal else ""
            lines.append(f"  {row.name:<{width}}  {row.value}{goal}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", machine_line(), "",
                 "| measure | result | goal | |", "| --- | --- | --- | --- |"]
        for row in self.rows:
            mark = {True: "met", False: "**missed**", None: ""}[row.ok]
            lines.append(f"| {row.name} | {row.value} | {row.goal} | {mark} |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    import cryptography

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Measured {when} on {os.cpu_count()} × {cpu_model()} (load average {load:.1f} at "
            f"the start), Python {platform.python_version()}, cryptography "
            f"{cryptography.__version__}.")


HEADER = """# Performance

Measured by `scripts/bench` (sections in `tests/bench/`), always as ratios against a baseline
measured in the same run: the raw cost of the cryptography, another library, or another server.
Tests never assert timings. Each section below is rewritten by `scripts/bench SECTION
--write-docs`; the machine is shared, so loops are interleaved and the minimum of many rounds
is kept.
"""


def write_section(path: Path, section: str, markdown: str) -> None:
    """Replace (or append) the block of ``section`` between its markers in ``path``."""
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    block = f"{start}\n{markdown}\n{end}"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
