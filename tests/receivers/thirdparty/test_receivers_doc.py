"""docs/receivers.md shows, in its classical section, exactly the configurations the receiver
matrix runs (rendered from the same functions with the page's example values)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness.receivers_thirdparty import doc_examples

DOC = Path(__file__).resolve().parents[3] / "docs" / "receivers.md"
SECTION = "## Classical receivers (ES256 only)"


def _classical_code_blocks() -> list[str]:
    text = DOC.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end >= 0 else None]
    return [m.group(1) for m in re.finditer(r"```[a-z]*\n(.*?)```", section, re.DOTALL)]


def test_the_classical_section_shows_the_tested_configurations() -> None:
    blocks = _classical_code_blocks()
    for name, rendered in doc_examples().items():
        assert rendered in blocks, (
            f"docs/receivers.md: the {name} block differs from what the tests run; "
            f"paste this:\n{rendered}")
