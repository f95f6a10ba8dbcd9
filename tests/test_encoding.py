"""Round trips of key values through the cell text, the JSON form and real stores (Hypothesis)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import stet
from stet._encoding import from_cell, from_json, json_loader, to_cell, to_json, token
from stet.errors import UnencodableValueError

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    any_text,
)
hashable = st.recursive(scalars, lambda inner: st.frozensets(inner, max_size=4), max_leaves=8)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(any_text, inner, max_size=4),
        st.dictionaries(st.integers(), inner, max_size=3),
        st.frozensets(hashable, max_size=4),
    ),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    return token(a) == token(b)


@given(values)
def test_cell_text_round_trips(value: Any) -> None:
    """A value written to a CSV cell reads back as the same run."""
    text = to_cell(value)
    assert text != ""
    assert "\n" not in text
    assert "\r" not in text
    assert _same(from_cell(text), value)


@given(scalars)
def test_cell_text_keeps_scalar_types(value: Any) -> None:
    """A scalar read back from its cell has the type it was written with."""
    back = from_cell(to_cell(value))
    assert type(back) is type(value)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value


@given(any_text)
def test_any_string_round_trips_exactly(text: str) -> None:
    """Every string, with commas, quotes, line breaks, NUL or lone surrogates, comes back equal."""
    assert from_cell(to_cell(text)) == text
    assert from_json(json.loads(json.dumps(to_json(text)))) == text


@given(values)
def test_json_form_round_trips_as_strict_json(value: Any) -> None:
    """The JSON form is strict JSON (no NaN literal) and reads back as the same run."""
    text = json.dumps(to_json(value), allow_nan=False)
    assert _same(from_json(json.loads(text)), value)


_LOADS = json_loader()
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)


@given(json_data, st.sampled_from(["", " ", "\r", "\t\n"]), st.sampled_from(["", " ", "x"]))
def test_the_json_loader_reads_what_json_loads_reads(data: Any, before: str, after: str) -> None:
    """The loader answers as json.loads, or raises the same error where it does."""
    text = before + json.dumps(data) + after
    assert _outcome(_LOADS, text) == _outcome(json.loads, text)


def _outcome(loads: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("read", loads(text))
    except json.JSONDecodeError as error:
        return ("refused", error.pos)


@pytest.mark.parametrize("text", ["", "{", "{bad", '{"a": 1}{', "[1, 2", '"open', "nul", " "])
def test_the_json_loader_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as caught:
        _LOADS(text)
    assert caught.value.pos == expected.value.pos


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_floats_are_the_same_run_exactly_when_equal(a: float, b: float) -> None:
    """Two floats share a token exactly when they are equal (so 0.0 and -0.0 do)."""
    assert (token(a) == token(b)) == (a == b)


@given(st.integers(min_value=-(2**80), max_value=2**80))
def test_integers_and_integral_floats_share_a_token(n: int) -> None:
    """An int and a float of the same value are the same run."""
    as_float = float(n)
    assert (token(n) == token(as_float)) == (as_float == n)


def test_values_without_a_faithful_encoding_are_refused() -> None:
    """Arrays, objects identified by their address and unknown types raise TypeError."""
    np = pytest.importorskip("numpy")
    for value in [np.arange(3), object(), lambda: 1, np.longdouble("0.1")]:
        with pytest.raises(UnencodableValueError) as caught:
            token(value)
        assert isinstance(caught.value, TypeError)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(values, min_size=1, max_size=5), st.sampled_from(["csv", "jsonl", "json", "sqlite"])
)
@example([{"\ud800": None}, ["\ud800", "é"]], "csv")  # a lone surrogate inside a container
def test_values_round_trip_through_real_stores(items: list[Any], kind: str) -> None:
    """Values recorded in a store are skipped by a new store object and read back equal."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"runs.{kind}"

        @stet.once(store=stet.open_store(path), key=["i", "x"], verbose=False)
        def f(i: int, x: Any) -> None: ...

        for i, item in enumerate(items):
            f(i, item)
        fresh = type(f.store)(path)  # type: ignore[call-arg]
        rows = sorted(fresh.records(), key=lambda r: r["i"])
        assert [r["i"] for r in rows] == list(range(len(items)))
        for row, item in zip(rows, items, strict=True):
            assert _same(row["x"], item)

        def again(i: int, x: Any) -> None:
            raise AssertionError("a recorded value ran again")

        checked = stet.once(store=fresh, name="f", key=["i", "x"], verbose=False)(again)
        assert all(checked.done(i, item) for i, item in enumerate(items))
