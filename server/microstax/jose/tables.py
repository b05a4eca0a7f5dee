"""Reading a TOML config file's tables: typed getters whose errors name the file and the key.

The one reader of config tables for every layer: the user config (``identity/config.py``),
the controller's (``controller/config.py``), the platform's (``platform/config.py``) and the
verifier's (``receivers/config.py``). It
lives in the token core, beside the bounded ``loads_toml``, because every layer (the platform
too) may import from here and from nowhere else in common.

    root = TomlTable(read_toml_file(path), file=str(path))
    tokens = root.table("tokens")
    lifetime = tokens.integer("lifetime", 300, minimum=30, maximum=3600)
    tokens.done()          # a key nobody read is an error: a typo never silently changes policy

Every failure is a ``TomlTableError`` (a ``ValueError``) with ``file``, ``key`` (dotted, arrays
of tables as ``clients[2]``), ``problem`` and an optional ``hint``; its message is
``file: key: problem``. Each layer translates it once into its own ``ConfigError``. A failure
is phrased one way whichever file it is in:

    unknown key (a typo of 'issuer'?)        unknown key (typo?)        is required
    expected a string, got an integer        must not be empty          expected true or false, got …
    expected an integer, got a float         expected a number, got …   expected a finite number (not nan or inf)
    must be at least 30 and at most 3600     must be over 0             must be 'up', 'degraded' or 'down' (not 'x')
    expected a list of non-empty strings     lists 'a' twice            'x y' is not a valid value
    expected a table, got …                  expected an array of tables ([[clients]])
    must be an http(s) URL without query or fragment                    only version 1 is understood

Values are echoed only where they cannot be secrets (a choice, a list item checked against a
pattern, truncated); a value of the wrong type is described by its TOML type, never shown.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from typing import Any, Literal, Self, overload

from .files import loads_toml, read_limited

#: what a lone string means where a list of strings is expected
LoneString = Literal["refuse", "item", "words"]

_INDEX = re.compile(r"\[\d+\]")


class TomlTableError(ValueError):
    """A config table's value is missing, of the wrong type, out of range, or unknown."""

    def __init__(self, file: str, key: str, problem: str, *, hint: str | None = None) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.hint = hint
        self.message = ": ".join(part for part in (file, key, problem) if part)
        super().__init__(self.message)


class TomlFileMissing(TomlTableError):
    """The config file does not exist (a caller may have a default to fall back on)."""


def read_toml_file(path: str | PathLike[str]) -> dict[str, Any]:
    """The document of a TOML file, read bounded (``read_limited``, ``loads_toml``).

    Raises ``TomlFileMissing`` (``path: no such file``) or ``TomlTableError``
    (``path: cannot read the config file: …``, ``path: not valid TOML: …``)."""
    name = str(path)
    try:
        raw = read_limited(path)
    except FileNotFoundError as exc:
        raise TomlFileMissing(name, "", "no such file") from exc
    except OSError as exc:
        raise TomlTableError(name, "", f"cannot read the config file: {exc.strerror or exc}") from exc
    try:
        return loads_toml(raw)
    except tomllib.TOMLDecodeError as exc:
        raise TomlTableError(name, "", f"not valid TOML: {exc}") from exc


#: TOML's types as "got …" names them (bool before int: True is an int to Python)
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "true/false"), (int, "an integer"), (float, "a float"), (str, "a string"),
    (Mapping, "a table"), (list, "an array"))


def _kind(value: Any) -> str:
    """The TOML type of a value, for "expected X, got Y" (the value itself is never shown)."""
    return next((name for types, name in _KINDS if isinstance(value, types)), "a date or time")


def alternatives(choices: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _url_pattern(https: bool, query: bool) -> re.Pattern[str]:
    scheme = "https" if https else "https?"
    tail = r"(\?[^\s#]*)?" if query else ""
    return re.compile(rf"{scheme}://[^\s/?#]+(/[^\s?#]*)?{tail}")


class TomlTable:
    """One table of a TOML document being read.

    Each getter marks its key as read; ``done()`` then fails on any key that no getter read.
    ``fallback`` is a table whose values stand in for absent keys (a ``[defaults]`` table);
    an error about such a value names the fallback's key. ``on_read`` is called with the
    dotted key of every value present in the file that a getter reads (the user config
    records where each value came from); children inherit ``file`` and ``on_read``.
    """

    #: RFC 6749 §3.3 scope-token: a pattern for ``strs`` of OAuth scopes
    SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

    def __init__(self, data: Mapping[str, Any], *, file: str = "", where: str = "",
                 fallback: TomlTable | None = None,
                 on_read: Callable[[str], None] | None = None) -> None:
        self.data = data
        self.file = file
        self.where = where
        self.fallback = fallback
        self.on_read = on_read
        self.used: set[str] = set()

    # -- keys and errors ---------------------------------------------------------------------
    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str | None, problem: str, *, hint: str | None = None) -> TomlTableError:
        """The error for key ``name`` (``None``: this table itself); raise it."""
        if name is None:
            return TomlTableError(self.file, self.where, problem, hint=hint)
        if name not in self.data and self.fallback is not None and name in self.fallback.data:
            return self.fallback.fail(name, problem, hint=hint)
        return TomlTableError(self.file, self.key(name), problem, hint=hint)

    def has(self, name: str) -> bool:
        """Whether ``name`` has a value here or in the fallback (it is not marked as read)."""
        return name in self.data or (self.fallback is not None and name in self.fallback.data)

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value of ``name`` (here, else in the fallback, else ``default``)."""
        self.used.add(name)
        if name in self.data:
            value = self.data[name]
            if self.on_read is not None and value is not None:
                self.on_read(self.key(name))
            return value
        if self.fallback is not None and name in self.fallback.data:
            return self.fallback.get(name, default)
        return default

    def child(self, data: Mapping[str, Any], where: str) -> Self:
        """A table inside this one: same class, file and ``on_read``."""
        return type(self)(data, file=self.file, where=where, on_read=self.on_read)

    def expect(self, names: Iterable[str]) -> None:
        """Fail on a misspelt key now, before a later check can point elsewhere."""
        known = set(names)
        self._unknown(set(self.data) - known, known)

    def done(self) -> None:
        """Fail on the first key (in sorted order) that no getter read."""
        self._unknown(set(self.data) - self.used, self.used)

    def _unknown(self, unknown: set[str], known: set[str]) -> None:
        if not unknown:
            return
        import difflib  # only on the error path (kubectl's warm path reads a config)

        name = sorted(unknown)[0]
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        raise self.fail(name, f"unknown key (a typo of {close[0]!r}?)" if close else "unknown key (typo?)")

    # -- scalars -----------------------------------------------------------------------------
    @overload
    def text(self, name: str, default: str, *, required: bool = ..., empty: bool = ...,
             choices: Iterable[str] | None = ..., pattern: re.Pattern[str] | None = ...,
             rule: str | None = ...) -> str: ...
    @overload
    def text(self, name: str, default: None = ..., *, required: Literal[True], empty: bool = ...,
             choices: Iterable[str] | None = ..., pattern: re.Pattern[str] | None = ...,
             rule: str | None = ...) -> str: ...
    @overload
    def text(self, name: str, default: None = ..., *, required: bool = ..., empty: bool = ...,
             choices: Iterable[str] | None = ..., pattern: re.Pattern[str] | None = ...,
             rule: str | None = ...) -> str | None: ...

    def text(self, name: str, default: str | None = None, *, required: bool = False,
             empty: bool = False, choices: Iterable[str] | None = None,
             pattern: re.Pattern[str] | None = None, rule: str | None = None) -> str | None:
        """A string. ``empty``: "" (or blanks) allowed; ``choices``: one of these;
        ``pattern``: it must match in full, else the error says ``rule``."""
        value = self.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return default
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {_kind(value)}")
        if not empty and not value.strip():
            raise self.fail(name, "must not be empty")
        if choices is not None:
            options = tuple(choices)
            if value not in options:
                raise self.fail(name, f"must be {alternatives(options)} (not {_show(value)})")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(name, rule or f"{_show(value)} is not a valid value")
        return value

    @overload
    def url(self, name: str, *, required: Literal[True], https: bool = ..., query: bool = ...,
            what: str = ...) -> str: ...
    @overload
    def url(self, name: str, *, required: bool = ..., https: bool = ..., query: bool = ...,
            what: str = ...) -> str | None: ...

    def url(self, name: str, *, required: bool = False, https: bool = False, query: bool = False,
            what: str = "") -> str | None:
        """An http(s) URL (``https``: https only) without a fragment, and without a query
        unless ``query``; any trailing ``/`` of its path removed. ``what`` says what it is."""
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _url_pattern(https, query).fullmatch(value):
            scheme = "an https" if https else "an http(s)"
            rest = "without a fragment" if query else "without query or fragment"
            raise self.fail(name, f"must be {scheme} URL {rest}{f' ({what})' if what else ''}")
        return value if "?" in value else value.rstrip("/")

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {_kind(value)}")
        return value

    @overload
    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int: ...
    @overload
    def integer(self, name: str, default: None, *, minimum: int, maximum: int) -> int | None: ...

    def integer(self, name: str, default: int | None, *, minimum: int, maximum: int) -> int | None:
        """An integer from ``minimum`` to ``maximum`` (true/false and floats are not integers)."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"expected an integer, got {_kind(value)}")
        if not minimum <= value <= maximum:
            raise self.fail(name, f"must be at least {minimum} and at most {maximum}")
        return value

    def number(self, name: str, default: float, *, minimum: float, maximum: float | None = None,
               exclusive_min: bool = False) -> float:
        """A finite number (integer or float) from ``minimum`` (or over it) to ``maximum``.
        NaN and infinities are refused: a NaN compares false with everything and would
        quietly disable a limit."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"expected a number, got {_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):  # (an int is finite, maybe huge)
            raise self.fail(name, "expected a finite number (not nan or inf)")
        low_ok = value > minimum if exclusive_min else value >= minimum
        if not low_ok or (maximum is not None and value > maximum):
            low = f"over {minimum:g}" if exclusive_min else f"at least {minimum:g}"
            high = "" if maximum is None else f" and at most {maximum:g}"
            raise self.fail(name, f"must be {low}{high}")
        try:
            return float(value)
        except OverflowError:  # an integer beyond a double's range
            raise self.fail(name, "is too large") from None

    def version(self, supported: int = 1) -> int:
        """The file's ``version`` key (absent: ``supported``)."""
        value = self.get("version", supported)
        if type(value) is not int or value != supported:
            raise self.fail("version", f"only version {supported} is understood")
        return value

    def forbid(self, name: str, problem: str, *, hint: str | None = None) -> None:
        """A key that must not be there (a secret written inline): fail if it is."""
        self.used.add(name)
        if name in self.data:
            raise self.fail(name, problem, hint=hint)

    # -- lists -------------------------------------------------------------------------------
    def strs(self, name: str, default: Iterable[str] = (), *, required: bool = False,
             lone: LoneString = "refuse", pattern: re.Pattern[str] | None = None,
             wildcard: bool = False, unique: bool = False) -> tuple[str, ...]:
        """A list of non-empty strings. ``lone``: a single string is refused, one ``item``,
        or space-separated ``words`` (OAuth scope syntax). ``pattern``: each item must match
        in full (``wildcard``: or be ``*``). ``unique``: no item twice."""
        value = self.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required")
            return tuple(default)
        if isinstance(value, str) and lone != "refuse":
            value = value.split() if lone == "words" else [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            also = {"refuse": "", "item": " (or one string)", "words": " (or one space-separated string)"}
            raise self.fail(name, f"expected a list of non-empty strings{also[lone]}")
        if pattern is not None:
            for v in value:
                if not (wildcard and v == "*") and not pattern.fullmatch(v):
                    raise self.fail(name, f"{_show(v)} is not a valid value")
        if unique:
            seen: set[str] = set()
            for v in value:
                if v in seen:
                    raise self.fail(name, f"lists {_show(v)} twice")
                seen.add(v)
        return tuple(value)

    # -- tables ------------------------------------------------------------------------------
    def optional_table(self, name: str) -> Self | None:
        """``[name]`` or ``name = {…}``; ``None`` when absent."""
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a table, got {_kind(value)}")
        return self.child(value, self.key(name))

    def table(self, name: str) -> Self:
        """``[name]`` or ``name = {…}``; an empty table when absent."""
        found = self.optional_table(name)
        return found if found is not None else self.child({}, self.key(name))

    def tables(self, name: str) -> list[Self]:
        """``[[name]]``: an array of tables (``name[0]``, ``name[1]``, …)."""
        value = self.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(name, f"expected an array of tables ([[{_INDEX.sub('', self.key(name))}]])")
        return [self.child(v, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]

    def named_tables(self, name: str) -> dict[str, Self]:
        """``[name.<each>]``: a table of tables, by name."""
        outer = self.table(name)
        out = {}
        for each, value in outer.data.items():
            if not isinstance(value, Mapping):
                raise outer.fail(each, f"expected a table, got {_kind(value)}")
            out[each] = outer.child(value, outer.key(each))
        return out


__all__ = ["LoneString", "TomlFileMissing", "TomlTable", "TomlTableError", "alternatives",
           "read_toml_file"]
