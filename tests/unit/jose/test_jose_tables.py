"""jose.tables: the one reader of TOML config tables. Every class of bad input fails with one
phrasing that names the file and the key; the three config files (user, controller, platform)
say the same thing about the same mistake."""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from microstax.jose import loads_toml
from microstax.jose.tables import (
    TomlFileMissing,
    TomlTable,
    TomlTableError,
    alternatives,
    read_toml_file,
)

WRONG_TYPES: list[tuple[Any, str]] = [
    (True, "true/false"), (3, "an integer"), (1.5, "a float"), ("x", "a string"),
    ({"a": 1}, "a table"), ([1], "an array"), (datetime.date(2026, 1, 1), "a date or time"),
]


def table(doc: dict[str, Any], **kwargs: Any) -> TomlTable:
    return TomlTable(doc, file="f.toml", **kwargs)


def fails(call: Callable[[], object], message: str) -> TomlTableError:
    """``call`` raises a TomlTableError whose whole message is ``message``."""
    with pytest.raises(TomlTableError) as info:
        call()
    assert info.value.message == message, info.value.message
    assert str(info.value) == message
    return info.value


# -- the message -----------------------------------------------------------------------------
def test_the_message_is_file_key_problem_and_leaves_out_what_is_empty() -> None:
    err = table({}).table("tokens").fail("lifetime", "is wrong")
    assert (err.file, err.key, err.problem, err.message) == ("f.toml", "tokens.lifetime", "is wrong",
                                                             "f.toml: tokens.lifetime: is wrong")
    assert isinstance(err, ValueError)
    assert TomlTable({}).fail("x", "is wrong").message == "x: is wrong"
    assert table({}).fail(None, "is empty").message == "f.toml: is empty"
    assert table({}).table("workload").fail(None, "give one").message == "f.toml: workload: give one"
    assert table({}).fail("k", "p", hint="do this").hint == "do this"


# -- unknown keys ----------------------------------------------------------------------------
def test_a_key_nobody_read_is_unknown_with_a_did_you_mean() -> None:
    t = table({"isuer": "https://i", "colour": "blue", "audience": "a"})
    t.text("issuer")
    t.text("audience")
    fails(t.done, "f.toml: colour: unknown key (typo?)")  # sorted: the first one
    t.used.add("colour")
    fails(t.done, "f.toml: isuer: unknown key (a typo of 'issuer'?)")


def test_expect_refuses_unknown_keys_before_any_other_check() -> None:
    t = table({"platfrom": "http://h"})
    fails(lambda: t.expect({"platform", "issuer"}), "f.toml: platfrom: unknown key (a typo of 'platform'?)")
    table({"platform": "http://h"}).expect({"platform", "issuer"})


def test_done_passes_when_every_key_was_read() -> None:
    t = table({"a": "x", "b": 1})
    t.text("a")
    t.integer("b", 0, minimum=0, maximum=5)
    t.done()


# -- strings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "kind"), WRONG_TYPES[:1] + WRONG_TYPES[1:3] + WRONG_TYPES[4:])
def test_text_of_the_wrong_type_names_the_type_never_the_value(value: Any, kind: str) -> None:
    fails(lambda: table({"k": value}).text("k"), f"f.toml: k: expected a string, got {kind}")


def test_text_required_blank_choices_and_pattern() -> None:
    fails(lambda: table({}).text("k", required=True), "f.toml: k: is required")
    assert table({}).text("k") is None and table({}).text("k", "d") == "d"
    fails(lambda: table({"k": ""}).text("k"), "f.toml: k: must not be empty")
    fails(lambda: table({"k": "  \t"}).text("k"), "f.toml: k: must not be empty")
    assert table({"k": ""}).text("k", empty=True) == ""
    assert table({"k": " x "}).text("k") == " x "  # kept as written
    fails(lambda: table({"k": "redis"}).text("k", choices=("sqlite", "postgresql")),
          "f.toml: k: must be 'sqlite' or 'postgresql' (not 'redis')")
    fails(lambda: table({"k": "x"}).text("k", choices=("a", "b", "c")), "f.toml: k: must be 'a', 'b' or 'c' (not 'x')")
    assert table({"k": "b"}).text("k", choices=("a", "b")) == "b"
    name = re.compile(r"[a-z]+")
    fails(lambda: table({"k": "Dev!"}).text("k", pattern=name, rule="use lower-case letters"),
          "f.toml: k: use lower-case letters")
    fails(lambda: table({"k": "Dev!"}).text("k", pattern=name), "f.toml: k: 'Dev!' is not a valid value")
    long = "x" * 500
    err = fails(lambda: table({"k": long}).text("k", choices=("a",)), f"f.toml: k: must be 'a' (not {'x' * 57 + '...'!r})")
    assert long not in err.message


def test_a_secret_in_the_wrong_place_is_not_echoed() -> None:
    with pytest.raises(TomlTableError) as info:
        table({"timeout": "hunter2"}).number("timeout", 1.0, minimum=0)
    assert "hunter2" not in info.value.message and info.value.message.endswith("got a string")


def test_forbid_refuses_a_key_that_must_not_be_there() -> None:
    t = table({"secret": "hunter2"})
    err = fails(lambda: t.forbid("secret", "never here", hint="use secret_file"), "f.toml: secret: never here")
    assert err.hint == "use secret_file" and "hunter2" not in err.message
    t = table({})
    t.forbid("secret", "never here")
    t.done()


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["ftp://h", "http//h", "https://", "https://h h", "https://h/#frag",
                                 "https://h/?q=1", "h", "https://h/p?q#f"])
def test_a_url_must_be_http_s_without_query_or_fragment(url: str) -> None:
    fails(lambda: table({"u": url}).url("u"), "f.toml: u: must be an http(s) URL without query or fragment")


def test_url_variants() -> None:
    assert table({"u": "https://h/realm/"}).url("u") == "https://h/realm"
    assert table({"u": "http://127.0.0.1:8411/"}).url("u") == "http://127.0.0.1:8411"
    assert table({}).url("u") is None
    fails(lambda: table({}).url("u", required=True), "f.toml: u: is required")
    fails(lambda: table({"u": "http://h"}).url("u", https=True, what="the API server"),
          "f.toml: u: must be an https URL without query or fragment (the API server)")
    assert table({"u": "https://h/token?realm=a/"}).url("u", query=True) == "https://h/token?realm=a/"
    fails(lambda: table({"u": "https://h/token#x"}).url("u", query=True),
          "f.toml: u: must be an http(s) URL without a fragment")
    fails(lambda: table({"u": 5}).url("u"), "f.toml: u: expected a string, got an integer")


# -- booleans and numbers --------------------------------------------------------------------
@pytest.mark.parametrize("value", [1, 0, "true", "yes", 1.0, [True]])
def test_a_flag_is_true_or_false_only(value: Any) -> None:
    with pytest.raises(TomlTableError, match=r"^f.toml: k: expected true or false, got "):
        table({"k": value}).flag("k", False)
    assert table({}).flag("k", True) is True and table({"k": False}).flag("k", True) is False


@pytest.mark.parametrize(("value", "kind"), [(True, "true/false"), (False, "true/false"), (3.0, "a float"),
                                             ("3", "a string"), ([3], "an array")])
def test_an_integer_is_not_a_bool_a_float_or_a_string(value: Any, kind: str) -> None:
    fails(lambda: table({"n": value}).integer("n", 1, minimum=0, maximum=10),
          f"f.toml: n: expected an integer, got {kind}")


def test_integer_ranges_and_defaults() -> None:
    t = table({"lo": -1, "hi": 11, "big": 10**400, "ok": 10})
    for key in ("lo", "hi", "big"):
        fails(lambda key=key: t.integer(key, 1, minimum=0, maximum=10),  # type: ignore[misc]
              f"f.toml: {key}: must be at least 0 and at most 10")
    assert t.integer("ok", 1, minimum=0, maximum=10) == 10
    assert t.integer("absent", None, minimum=0, maximum=10) is None
    assert t.integer("absent", 7, minimum=0, maximum=10) == 7


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "+nan"])
def test_nan_and_infinity_are_refused(literal: str) -> None:
    value = loads_toml(f"x = {literal}")["x"]
    fails(lambda: table({"r": value}).number("r", 1.0, minimum=0, exclusive_min=True),
          "f.toml: r: expected a finite number (not nan or inf)")
    fails(lambda: table({"r": value}).number("r", 1.0, minimum=0, maximum=10),
          "f.toml: r: expected a finite number (not nan or inf)")


@pytest.mark.parametrize(("value", "kind"), [(True, "true/false"), ("1", "a string"), ({}, "a table")])
def test_a_number_is_not_a_bool_or_a_string(value: Any, kind: str) -> None:
    fails(lambda: table({"r": value}).number("r", 1.0, minimum=0), f"f.toml: r: expected a number, got {kind}")


def test_number_ranges() -> None:
    assert table({"r": 2}).number("r", 1.0, minimum=0) == 2.0
    assert isinstance(table({"r": 2}).number("r", 1.0, minimum=0), float)
    assert table({}).number("r", 1.5, minimum=0) == 1.5
    assert table({"r": 0}).number("r", 1.0, minimum=0, maximum=1) == 0.0
    fails(lambda: table({"r": 0}).number("r", 1.0, minimum=0, exclusive_min=True), "f.toml: r: must be over 0")
    fails(lambda: table({"r": -0.0}).number("r", 1.0, minimum=0, exclusive_min=True), "f.toml: r: must be over 0")
    fails(lambda: table({"r": 0.95}).number("r", 0.5, minimum=0.1, maximum=0.9),
          "f.toml: r: must be at least 0.1 and at most 0.9")
    fails(lambda: table({"r": 61}).number("r", 1.0, minimum=0, maximum=60, exclusive_min=True),
          "f.toml: r: must be over 0 and at most 60")
    fails(lambda: table({"r": 10**400}).number("r", 1.0, minimum=0), "f.toml: r: is too large")
    fails(lambda: table({"r": -(10**400)}).number("r", 1.0, minimum=0), "f.toml: r: must be at least 0")


@pytest.mark.parametrize("value", [2, 0, "1", True, 1.0, [1]])
def test_only_version_1_is_understood(value: Any) -> None:
    fails(lambda: table({"version": value}).version(1), "f.toml: version: only version 1 is understood")
    assert table({}).version(1) == 1 and table({"version": 1}).version(1) == 1


# -- lists of strings ------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, {"a": "b"}, [1], ["a", ""], ["a", ["b"]], [True]])
def test_a_list_of_non_empty_strings(value: Any) -> None:
    fails(lambda: table({"l": value}).strs("l"), "f.toml: l: expected a list of non-empty strings")


def test_a_lone_string_is_refused_one_item_or_words() -> None:
    fails(lambda: table({"l": "a b"}).strs("l"), "f.toml: l: expected a list of non-empty strings")
    assert table({"l": "a b"}).strs("l", lone="item") == ("a b",)
    assert table({"l": "a  b\tc"}).strs("l", lone="words") == ("a", "b", "c")
    fails(lambda: table({"l": 3}).strs("l", lone="words"),
          "f.toml: l: expected a list of non-empty strings (or one space-separated string)")
    fails(lambda: table({"l": 3}).strs("l", lone="item"), "f.toml: l: expected a list of non-empty strings (or one string)")


def test_list_defaults_patterns_wildcards_and_duplicates() -> None:
    assert table({}).strs("l", ("*",)) == ("*",)
    fails(lambda: table({}).strs("l", required=True), "f.toml: l: is required")
    assert table({"l": []}).strs("l", required=True) == ()
    scope = TomlTable.SCOPE_TOKEN
    fails(lambda: table({"l": ["read", "re ad"]}).strs("l", pattern=scope), "f.toml: l: 're ad' is not a valid value")
    for bad in ('a"b', "a\\b", "é", "a\tb"):
        with pytest.raises(TomlTableError, match="is not a valid value"):
            table({"l": [bad]}).strs("l", pattern=scope)
    assert table({"l": ["audience:server:client_id:dex", "read"]}).strs("l", pattern=scope)[0].startswith("aud")
    fails(lambda: table({"l": ["*"]}).strs("l", pattern=re.compile("[a-z]+")), "f.toml: l: '*' is not a valid value")
    assert table({"l": ["*", "a"]}).strs("l", pattern=re.compile("[a-z]+"), wildcard=True) == ("*", "a")
    fails(lambda: table({"l": ["a", "b", "a"]}).strs("l", unique=True), "f.toml: l: lists 'a' twice")
    assert table({"l": ["a", "a"]}).strs("l") == ("a", "a")


# -- tables ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "kind"), [("x", "a string"), ([{"a": 1}], "an array"), (1, "an integer")])
def test_a_table_that_is_not_one(value: Any, kind: str) -> None:
    fails(lambda: table({"tokens": value}).table("tokens"), f"f.toml: tokens: expected a table, got {kind}")
    fails(lambda: table({"tokens": value}).optional_table("tokens"), f"f.toml: tokens: expected a table, got {kind}")


def test_nested_tables_name_their_path() -> None:
    root = table({"a": {"b": {"c": "x", "d": 1}}})
    b = root.table("a").table("b")
    assert b.where == "a.b" and b.file == "f.toml"
    fails(lambda: b.integer("c", 0, minimum=0, maximum=1), "f.toml: a.b.c: expected an integer, got a string")
    assert root.optional_table("zzz") is None
    empty = root.table("zzz")
    assert empty.data == {} and empty.where == "zzz"


@pytest.mark.parametrize("value", [{"name": "x"}, [{"name": "x"}, "y"], "x", [[{}]]])
def test_an_array_of_tables_that_is_not_one(value: Any) -> None:
    fails(lambda: table({"clients": value}).tables("clients"), "f.toml: clients: expected an array of tables ([[clients]])")


def test_arrays_of_tables_are_indexed_and_nested() -> None:
    root = table({"environments": [{"name": "a"}, {"name": "b", "clusters": [{"name": 3}]}]})
    envs = root.tables("environments")
    assert [e.where for e in envs] == ["environments[0]", "environments[1]"]
    (cluster,) = envs[1].tables("clusters")
    fails(lambda: cluster.text("name"), "f.toml: environments[1].clusters[0].name: expected a string, got an integer")
    (env,) = table({"environments": [{"clusters": 1}]}).tables("environments")
    fails(lambda: env.tables("clusters"),
          "f.toml: environments[0].clusters: expected an array of tables ([[environments.clusters]])")
    assert root.tables("absent") == []


def test_named_tables() -> None:
    root = table({"environments": {"dev": {"platform": "http://h"}, "prod": {"issuer": "https://i"}}})
    named = root.named_tables("environments")
    assert list(named) == ["dev", "prod"] and named["dev"].where == "environments.dev"
    fails(lambda: table({"environments": {"dev": "http://h"}}).named_tables("environments"),
          "f.toml: environments.dev: expected a table, got a string")
    fails(lambda: table({"environments": ["x"]}).named_tables("environments"),
          "f.toml: environments: expected a table, got an array")
    assert table({}).named_tables("environments") == {}


# -- fallback and on_read --------------------------------------------------------------------
def test_a_fallback_table_supplies_absent_keys_and_its_errors_name_it() -> None:
    root = table({"defaults": {"issuer": "ftp://x", "jitter": 0.1}, "workload": [{"jitter": 5}]})
    defaults = root.table("defaults")
    (w,) = root.tables("workload")
    w.fallback = defaults
    assert w.has("issuer") and not w.has("colour")
    fails(lambda: w.url("issuer"), "f.toml: defaults.issuer: must be an http(s) URL without query or fragment")
    fails(lambda: w.number("jitter", 0.1, minimum=0, maximum=0.4), "f.toml: workload[0].jitter: must be at least 0 and at most 0.4")
    assert w.fail("issuer", "p").key == "defaults.issuer" and w.fail("jitter", "p").key == "workload[0].jitter"
    w.done()


def test_on_read_sees_every_value_present_and_children_inherit_it() -> None:
    seen: list[str] = []
    root = table({"a": 1, "t": {"b": "x"}, "l": [{"c": True}]}, on_read=seen.append)
    root.integer("a", 0, minimum=0, maximum=5)
    root.integer("absent", 0, minimum=0, maximum=5)
    root.table("t").text("b")
    root.tables("l")[0].flag("c", False)
    assert seen == ["a", "t", "t.b", "l", "l[0].c"]


# -- files -----------------------------------------------------------------------------------
def test_read_toml_file(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('version = 1\n[tokens]\nlifetime = 300\n')
    assert read_toml_file(good) == {"version": 1, "tokens": {"lifetime": 300}}
    missing = tmp_path / "missing.toml"
    err = fails(lambda: read_toml_file(missing), f"{missing}: no such file")
    assert isinstance(err, TomlFileMissing) and err.file == str(missing)
    fails(lambda: read_toml_file(tmp_path),
          f"{tmp_path}: cannot read the config file: is a directory, not a regular file; give the path of a file")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(TomlTableError, match=r"fifo.toml: cannot read the config file: is a FIFO"):
        read_toml_file(fifo)
    bad = tmp_path / "bad.toml"
    for content in (b"version = [", b"\xff\xfe = 1", b"x = " + b"[" * 200 + b"]" * 200, b"a = 1\na = 2"):
        bad.write_bytes(content)
        with pytest.raises(TomlTableError, match=rf"^{re.escape(str(bad))}: not valid TOML: ") as info:
            read_toml_file(bad)
        assert not isinstance(info.value, TomlFileMissing)


def test_alternatives() -> None:
    assert alternatives(["a"]) == "'a'"
    assert alternatives(["a", "b"]) == "'a' or 'b'"
    assert alternatives(("a", "b", "c")) == "'a', 'b' or 'c'"


# -- one phrasing in the three config files ---------------------------------------------------
def _user(doc: dict[str, Any]) -> str:
    from microstax.identity import config
    from microstax.identity.exceptions import ConfigError
    with pytest.raises(ConfigError) as info:
        config.parse(doc, Path("/x/config.toml"))
    return info.value.message


def _controller(doc: dict[str, Any]) -> str:
    from microstax.controller.config import parse_config
    from microstax.identity.exceptions import ConfigError
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="/x/controller.toml")
    return info.value.message


def _platform(doc: dict[str, Any]) -> str:
    from microstax.platform import ConfigError
    from microstax.platform.config import parse_config
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="/x/platform.toml")
    return info.value.message


def test_the_three_config_files_phrase_a_mistake_the_same_way() -> None:
    assert _user({"defaults": {"concurrency": True}}) == \
        "/x/config.toml: defaults.concurrency: expected an integer, got true/false"
    assert _platform({"tokens": {"lifetime": True}}) == \
        "/x/platform.toml: tokens.lifetime: expected an integer, got true/false"

    assert _user({"defaults": {"timeout": float("nan")}}) == \
        "/x/config.toml: defaults.timeout: expected a finite number (not nan or inf)"
    assert _controller({"controller": {"poll_interval": float("inf")}}) == \
        "/x/controller.toml: controller.poll_interval: expected a finite number (not nan or inf)"
    assert _platform({"limits": {"rate_per_second": float("nan")}}) == \
        "/x/platform.toml: limits.rate_per_second: expected a finite number (not nan or inf)"

    assert _user({"colour": 1}) == "/x/config.toml: colour: unknown key (typo?)"
    assert _controller({"colour": 1}) == "/x/controller.toml: colour: unknown key (typo?)"
    assert _platform({"colour": 1}) == "/x/platform.toml: colour: unknown key (typo?)"

    assert _user({"environments": {"dev": {"platform": "http://h", "catalog": "yes"}}}) == \
        "/x/config.toml: environments.dev.catalog: expected true or false, got a string"
    assert _platform({"environments": [{"name": "dev", "default": "yes"}]}) == \
        "/x/platform.toml: environments[0].default: expected true or false, got a string"

    assert _user({"environments": {"dev": {"platform": "ftp://h"}}}) == \
        "/x/config.toml: environments.dev.platform: must be an http(s) URL without query or fragment"
    assert _platform({"issuer": "ftp://h"}) == \
        "/x/platform.toml: issuer: must be an http(s) URL without query or fragment"

    assert _user({"defaults": []}) == "/x/config.toml: defaults: expected a table, got an array"
    assert _controller({"defaults": []}) == "/x/controller.toml: defaults: expected a table, got an array"
    assert _platform({"tokens": []}) == "/x/platform.toml: tokens: expected a table, got an array"

    assert _controller({"version": 2}) == "/x/controller.toml: version: only version 1 is understood"
    assert _platform({"version": 2}) == "/x/platform.toml: version: only version 1 is understood"


# -- ... and in the fourth, the verifier's (receivers) -----------------------------------------
_VERIFIER_BASE: dict[str, Any] = {"issuers": [{"issuer": "https://i.example"}], "routes": [{"audience": "c"}]}


def _verifier(doc: dict[str, Any]) -> str:
    from microstax.receivers.config import ConfigError, parse_config
    with pytest.raises(ConfigError) as info:
        parse_config({**_VERIFIER_BASE, **doc}, base=Path("/x"), file="/x/verifier.toml")
    return info.value.message


#: one mistake each, made in every config file that has a key of that kind:
#: (problem, {reader: (document, the key it names)})
SAME_MISTAKE: list[tuple[str, dict[Callable[[dict[str, Any]], str], tuple[dict[str, Any], str]]]] = [
    ("expected an integer, got true/false", {
        _user: ({"defaults": {"concurrency": True}}, "defaults.concurrency"),
        _platform: ({"tokens": {"lifetime": True}}, "tokens.lifetime"),
        _verifier: ({"server": {"port": True}}, "server.port")}),
    ("expected a finite number (not nan or inf)", {
        _user: ({"defaults": {"timeout": float("nan")}}, "defaults.timeout"),
        _controller: ({"controller": {"poll_interval": float("inf")}}, "controller.poll_interval"),
        _platform: ({"limits": {"rate_per_second": float("nan")}}, "limits.rate_per_second"),
        _verifier: ({"server": {"leeway": float("-inf")}}, "server.leeway")}),
    ("unknown key (typo?)", {
        _user: ({"colour": 1}, "colour"), _controller: ({"colour": 1}, "colour"),
        _platform: ({"colour": 1}, "colour"), _verifier: ({"colour": 1}, "colour")}),
    ("expected true or false, got a string", {
        _user: ({"environments": {"dev": {"platform": "http://h", "catalog": "yes"}}}, "environments.dev.catalog"),
        _platform: ({"environments": [{"name": "dev", "default": "yes"}]}, "environments[0].default"),
        _verifier: ({"issuers": [{"issuer": "https://i", "allow_http": "yes"}]}, "issuers[0].allow_http")}),
    ("expected a table, got an array", {
        _user: ({"defaults": []}, "defaults"), _controller: ({"defaults": []}, "defaults"),
        _platform: ({"tokens": []}, "tokens"), _verifier: ({"server": []}, "server")}),
    ("expected a string, got an integer", {
        _controller: ({"workload": [{"name": 5}]}, "workload[0].name"),
        _verifier: ({"issuers": [{"issuer": 5}]}, "issuers[0].issuer")}),
]


@pytest.mark.parametrize(("problem", "made_in"), SAME_MISTAKE, ids=[p for p, _ in SAME_MISTAKE])
def test_the_four_config_files_phrase_a_mistake_the_same_way(
        problem: str, made_in: dict[Callable[[dict[str, Any]], str], tuple[dict[str, Any], str]]) -> None:
    files = {_user: "/x/config.toml", _controller: "/x/controller.toml", _platform: "/x/platform.toml",
             _verifier: "/x/verifier.toml"}
    assert _verifier in made_in and len(made_in) >= 2
    for reader, (doc, key) in made_in.items():
        assert reader(doc) == f"{files[reader]}: {key}: {problem}"


def test_the_verifier_config_words_the_other_mistakes_as_the_others_do() -> None:
    assert _verifier({"issuers": {"issuer": "https://i"}}) == \
        "/x/verifier.toml: issuers: expected an array of tables ([[issuers]])"
    assert _verifier({"routes": [{"audince": "c"}]}) == \
        "/x/verifier.toml: routes[0].audince: unknown key (a typo of 'audience'?)"
    assert _verifier({"issuers": [{"issuer": "https://i", "hybrid": "maybe"}]}) == \
        "/x/verifier.toml: issuers[0].hybrid: must be 'auto', 'required' or 'classical-only' (not 'maybe')"
    assert _verifier({"server": {"max_header_bytes": 10}}) == \
        "/x/verifier.toml: server.max_header_bytes: must be at least 1024 and at most 65536"
    assert _verifier({"routes": [{"audience": ""}]}) == "/x/verifier.toml: routes[0].audience: must not be empty"
    assert _verifier({"routes": [{"audience": "c", "scopes": [1]}]}) == \
        "/x/verifier.toml: routes[0].scopes: expected a list of non-empty strings"
