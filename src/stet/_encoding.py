"""Values of key parameters: the canonical identity token, the JSON form and the CSV cell text.

Three encodings, one set of rules (the identity table of PRODUCT.md):

* ``token`` maps a value to a canonical string. Two values are the same run exactly when
  their tokens are equal: ``1``, ``1.0`` and ``np.int64(1)`` share a token; ``True``, ``1`` and
  ``"1"`` do not; NaN matches NaN; lists equal tuples; dicts and sets ignore order. Tokens are
  pure functions of the value, so they agree across processes, machines and hash seeds.
* ``to_json`` / ``from_json`` map a value to plain JSON data and back, keeping its type
  (non-finite floats, sets and dicts with non-string keys are written as small tagged objects).
* ``to_cell`` / ``from_cell`` map a value to the text of one CSV cell and back. Numbers,
  booleans and most strings are written as themselves; a string that would read back as
  something else is written JSON-quoted. An empty cell means *absent*, not ``None``.
"""

from __future__ import annotations

import json
import json.scanner
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from stet.errors import UnencodableValueError

__all__ = [
    "Encoders",
    "from_cell",
    "from_json",
    "json_dumper",
    "json_loader",
    "normalize",
    "to_cell",
    "to_json",
    "to_json_row",
    "token",
]

Encoders = Mapping[type, Callable[[Any], Any]]
"""User-supplied conversions from a type to a value stet can encode."""

_NO_ENCODERS: Encoders = {}


def _float_token(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer():
        return str(int(value))  # numbers compare by value: 1.0 is 1, -0.0 is 0
    return repr(value)


_FAST_TOKENS: dict[type, Callable[[Any], str]] = {
    int: str,
    str: lambda value: "s" + value,
    float: _float_token,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def token(value: Any, encoders: Encoders = _NO_ENCODERS) -> str:
    """Return the canonical identity token of a key value.

    Args:
        value: The value of one key parameter.
        encoders: Conversions for types stet does not encode by itself.

    Returns:
        A string equal for two values exactly when they are the same run.

    Raises:
        UnencodableValueError: If the value has no faithful encoding.
    """
    fast = _FAST_TOKENS.get(type(value))
    if fast is not None:
        return fast(value)
    return _nested_token(normalize(value, encoders))


def _nested_token(value: Any) -> str:
    """Token of a normalized value, written so that nested tokens never run together."""
    kind = type(value)
    if kind is str:
        return f"s{value}"
    if kind is list or kind is tuple:
        return "[" + ",".join(json.dumps(_nested_token(item)) for item in value) + "]"
    if kind is dict:
        pairs = sorted(
            (json.dumps(_nested_token(k)), json.dumps(_nested_token(v))) for k, v in value.items()
        )
        return "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
    if kind is frozenset:
        return "set{" + ",".join(sorted(json.dumps(_nested_token(item)) for item in value)) + "}"
    return str(_FAST_TOKENS[kind](value))


def normalize(value: Any, encoders: Encoders = _NO_ENCODERS) -> Any:
    """Return the value as plain Python data: None, bool, int, float, str, list, dict, frozenset.

    Numpy scalars become the Python number of the same exact value; tuples become lists; sets
    become frozensets; subclasses of the built-ins become the built-ins.

    Args:
        value: Any key value.
        encoders: Conversions for types stet does not encode by itself.

    Returns:
        The normalized value.

    Raises:
        UnencodableValueError: If the value has no faithful encoding.
    """
    kind = type(value)
    if kind in _FAST_TOKENS:
        return value
    for cls in kind.__mro__:
        if cls in encoders:
            return normalize(encoders[cls](value), encoders)
    if isinstance(value, (list, tuple)):
        return [normalize(item, encoders) for item in value]
    if isinstance(value, Mapping):
        return {_hashable(normalize(k, encoders)): normalize(v, encoders) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return frozenset(normalize(item, encoders) for item in value)
    if kind.__module__ == "numpy":
        return _normalize_numpy(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    raise UnencodableValueError(_why_unencodable(value), value_type=kind.__qualname__)


def _normalize_numpy(value: Any) -> Any:
    shape = getattr(value, "shape", None)
    name = type(value).__name__
    if shape != () or name == "ndarray" or name.startswith(("datetime64", "timedelta64")):
        raise UnencodableValueError(
            f"a numpy {name} of shape {shape} has no faithful identity",
            value_type=type(value).__qualname__,
        )
    item = value.item()
    if isinstance(item, (bool, int, str)):
        return normalize(item)
    if isinstance(item, float) and (item == value or item != item):
        return item  # float16/32/64 convert exactly: np.float32(0.1) stays 0.10000000149011612
    raise UnencodableValueError(
        f"numpy {type(value).__name__} {value!r} cannot be converted without changing its value",
        value_type=type(value).__qualname__,
    )


def _why_unencodable(value: Any) -> str:
    kind = type(value)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if hasattr(value, "shape"):
        return f"a {name} of shape {value.shape} has no faithful identity"
    text = repr(value)
    if re.search(r"\bat 0x[0-9a-fA-F]+", text):
        return f"a {name} is identified by its memory address ({text[:60]})"
    return f"values of type {name} have no faithful encoding"


def to_json(value: Any) -> Any:
    """Return a normalized value as JSON data that ``from_json`` turns back into it.

    Args:
        value: A value returned by ``normalize`` (or any plain scalar).

    Returns:
        Data that ``json.dumps`` writes as strict JSON (no NaN literals).
    """
    kind = type(value)
    if kind is float and not math.isfinite(value):
        return {"$float": repr(value)}
    if kind in _FAST_TOKENS:
        return value
    if kind is list or kind is tuple:
        return [to_json(item) for item in value]
    if kind is frozenset or kind is set:
        return {"$set": sorted((to_json(item) for item in value), key=_json_sort_key)}
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: to_json(v) for k, v in value.items()}
        return {"$dict": [[to_json(k), to_json(v)] for k, v in value.items()]}
    return to_json(normalize(value))


def json_dumper(ensure_ascii: bool) -> Callable[[dict[str, Any]], str]:
    """Return a function that writes a row in JSON form as JSON text, as ``json.dumps`` would.

    ``JSONEncoder.encode`` makes a new C encoder on every call, about a microsecond of each
    line a new run writes; this one is made once. The values are JSON data built by
    ``to_json``, which cannot hold a cycle, so the encoder keeps no cycle markers.

    Args:
        ensure_ascii: Escape non-ASCII text (as ``json.dumps`` does by default).

    Returns:
        The function; like ``json.dumps(..., allow_nan=False)``, it raises ``ValueError`` on a
        non-finite float.
    """
    encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - an interpreter without json's C accelerator
        return encoder.encode
    escape = (
        json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    )
    separators = (encoder.key_separator, encoder.item_separator)
    chunks = make(None, encoder.default, escape, None, *separators, False, False, False)
    return lambda row: "".join(chunks(row, 0))


def json_loader() -> Callable[[str], Any]:
    """Return a function that reads JSON text as ``json.loads`` does, with less around it.

    ``json.loads`` wraps its scanner in three calls and two whitespace matches: about a
    microsecond per line of a JSON Lines store (or claim of a side record), a million times
    on opening a large store. This one calls the scanner directly, and leaves to
    ``json.loads`` the text it cannot take whole: surrounding whitespace, and errors (so the
    same ``JSONDecodeError`` is raised).

    Returns:
        The function.
    """
    scan = json.scanner.make_scanner(cast("Any", json.JSONDecoder()))  # as JSONDecoder's own

    def loads(text: str) -> Any:
        if text[:1] in _OPENERS:
            try:
                data, end = scan(text, 0)
            except StopIteration:  # not JSON at all: json.loads says so
                return json.loads(text)
            if end == len(text):
                return data
        return json.loads(text)

    return loads


_OPENERS = frozenset('{["')


def to_json_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return a row of typed values in JSON form: ``to_json`` of each value.

    Args:
        row: Column names and typed values.

    Returns:
        The row itself when every value is already JSON data (as in every claim, and every
        record whose key values are numbers and strings), else a new row.
    """
    for value in row.values():
        kind = type(value)
        if kind not in _JSON_SCALARS and (kind is not float or not math.isfinite(value)):
            return {name: to_json(value) for name, value in row.items()}
    return row


_JSON_SCALARS = (str, int, bool, type(None))


def _json_sort_key(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def from_json(data: Any) -> Any:
    """Return the value that ``to_json`` encoded as ``data``.

    Args:
        data: JSON data as ``json.loads`` returns it.

    Returns:
        The value with its type: floats, sets and dicts with any keys restored.
    """
    kind = type(data)
    if kind is list:
        return [from_json(item) for item in data]
    if kind is dict:
        if len(data) == 1:
            ((tag, inner),) = data.items()
            if tag == "$float":
                return float(inner)
            if tag == "$set":
                return frozenset(from_json(item) for item in inner)
            if tag == "$dict":
                return {_hashable(from_json(k)): from_json(v) for k, v in inner}
        return {k: from_json(v) for k, v in data.items()}
    return data


def _hashable(value: Any) -> Any:
    return tuple(_hashable(item) for item in value) if type(value) is list else value


_INT_TEXT = re.compile(r"-?[0-9]+\Z")
_FLOAT_TEXT = re.compile(r"-?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_WORDS = {"True": True, "False": False, "None": None}
_FLOAT_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
# Strings that pandas or a spreadsheet would read as missing or as numbers: quoting them keeps
# the file unambiguous for other readers, not only for stet.
_NA_LIKE = frozenset(
    [
        "#N/A",
        "#N/A",
        "N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "n/a",
        "null",
        "Infinity",
        "-Infinity",
        "+Infinity",
        "+inf",
        "inf",
        "-inf",
        "nan",
    ]
)


def to_cell(value: Any) -> str:
    """Return the CSV cell text of a value, never empty (an empty cell means absent).

    Args:
        value: A key value.

    Returns:
        Readable text that ``from_cell`` turns back into an equal value of the same type.
    """
    kind = type(value)
    if kind is str:
        return value if _is_plain(value) else _quote(value)
    if kind is bool or value is None:
        return str(value)
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)
    if kind in (list, tuple, dict, set, frozenset):
        return _quote(to_json(value), separators=(",", ":"))
    return to_cell(normalize(value))


def _quote(data: Any, separators: tuple[str, str] | None = None) -> str:
    """Return JSON text of ``data``, non-ASCII kept as UTF-8 where it can be written so."""
    quoted = json.dumps(data, ensure_ascii=False, separators=separators)
    try:
        quoted.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only \u escapes can carry them
        quoted = json.dumps(data, separators=separators)
    return quoted


def _is_plain(text: str) -> bool:
    if not text or text[0] in '"[{' or text != text.strip():
        return False
    if text in _WORDS or text in _NA_LIKE or _FLOAT_TEXT.match(text):
        return False
    return text.isprintable()


def from_cell(text: str) -> Any:
    """Return the value whose cell text ``to_cell`` wrote.

    Args:
        text: One non-empty CSV cell.

    Returns:
        The value with its type.

    Raises:
        ValueError: If quoted text is not valid JSON.
    """
    first = text[:1]
    if first == '"' or first == "[" or first == "{":
        return from_json(json.loads(text))
    if text in _WORDS:
        return _WORDS[text]
    if _INT_TEXT.match(text):
        return int(text)
    if text in _FLOAT_WORDS:
        return _FLOAT_WORDS[text]
    if _FLOAT_TEXT.match(text):
        return float(text)
    return text
