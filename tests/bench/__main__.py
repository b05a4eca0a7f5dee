"""``scripts/bench [SECTION …] [--rounds N] [--write-docs] [-- SCRIPT ARGS]``."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

from . import SECTIONS
from .report import write_section

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "performance.md"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmarks as ratios against baselines measured in the same run.",
        epilog="sections: " + "; ".join(
            f"{name}{'' if s.default else ' (not default)'}: {s.help}"
            for name, s in SECTIONS.items()))
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help="sections to run ('all' for every one; default: the default ones)")
    parser.add_argument("--rounds", type=int, default=400,
                        help="samples per candidate, interleaved (the minimum is kept)")
    parser.add_argument("--inner", type=int, default=1, help="calls per sample")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"rewrite each section's block of {DOC.relative_to(REPO)}")
    options = parser.parse_args(argv)

    names = options.sections or [n for n, s in SECTIONS.items() if s.default]
    if names == ["all"]:
        names = list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")

    failed = False
    for name in names:
        target = SECTIONS[name].target
        if target.startswith("script:"):
            script = REPO / target.removeprefix("script:")
            rc = subprocess.call([sys.executable, str(script), *extra], cwd=REPO)
            failed |= rc != 0
            continue
        module, _, func = target.partition(":")
        report = getattr(importlib.import_module(module), func)(options)
        print(report.text(), flush=True)
        failed |= not report.ok
        if options.write_docs:
            write_section(DOC, name, report.markdown())
            print(f"  wrote the '{name}' block of {DOC.relative_to(REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
