from __future__ import annotations

from microstax.daemon.settings import Settings, merge, section_of


def test_merge_keeps_previous_on_bad_values():
    s, problems = merge(Settings(), {"logLevel": "loud", "hover": "yes", "diagnostics": False, "x": 1})
    assert s == Settings(diagnostics=False)
    assert len(problems) == 2 and "logLevel" in problems[0]


def test_merge_values():
    s, problems = merge(Settings(), {"configFile": "/c.toml", "environment": "dev", "logLevel": "WARNING"})
    assert problems == [] and s.config_file == "/c.toml" and s.environment == "dev" and s.log_level == "warn"
    assert merge(s, {"environment": ""})[0].environment is None


def test_section_of():
    assert section_of({"microstax": {"hover": False}}) == {"hover": False}
    assert section_of({"hover": False}) == {"hover": False}
    assert section_of({"other": {}}) is None and section_of(None) is None
