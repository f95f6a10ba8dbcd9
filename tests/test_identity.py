"""The identity table of PRODUCT.md, on every store, with the second look in a fresh process.

Each value is recorded as ``f(case=i, x=value_i)`` by one process; a second process, with another
hash seed, asks ``f.done(case=i, x=value_j)`` for every ordered pair (i, j). ``case`` keeps the
records apart, so the answer is true exactly when value_j is the same run as value_i.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_python

# (expression, class): two values are the same run exactly when their classes are equal.
CASES = [
    ("1", "one"),
    ("1.0", "one"),
    ("np.int64(1)", "one"),
    ("np.float64(1.0)", "one"),
    ("np.float32(1.0)", "one"),
    ("np.uint8(1)", "one"),
    ("'1'", "text 1"),
    ("'1.0'", "text 1.0"),
    ("True", "true"),
    ("np.bool_(True)", "true"),
    ("'True'", "text True"),
    ("False", "false"),
    ("0", "zero"),
    ("0.0", "zero"),
    ("-0.0", "zero"),
    ("None", "none"),
    ("''", "empty text"),
    ("'None'", "text None"),
    ("'NA'", "text NA"),
    ("float('nan')", "nan"),
    ("np.nan", "nan"),
    ("np.float32('nan')", "nan"),
    ("'nan'", "text nan"),
    ("float('inf')", "inf"),
    ("-float('inf')", "-inf"),
    ("0.1", "0.1"),
    ("np.float64(0.1)", "0.1"),
    ("np.float32(0.1)", "float32 0.1"),
    ("2**70", "2**70"),
    ("float(2**70)", "2**70"),
    ("2**70 + 1", "2**70+1"),
    ("[1, 2]", "seq 1 2"),
    ("(1, 2)", "seq 1 2"),
    ("[1.0, np.int64(2)]", "seq 1 2"),
    ("[2, 1]", "seq 2 1"),
    ("'[1, 2]'", "text [1, 2]"),
    ("{'a': 1, 'b': 2}", "dict ab"),
    ("{'b': 2, 'a': 1}", "dict ab"),
    ("{1: 'a'}", "dict 1a"),
    ("{'1': 'a'}", "dict '1'a"),
    ("{1, 2, 3}", "set 123"),
    ("{3, 2, 1}", "set 123"),
    ("frozenset({2, 1, 3})", "set 123"),
    ("'a,b'", "text a,b"),
    ("'say \"hi\"'", "text quote"),
    ("'line\\nbreak\\r\\n'", "text newline"),
    ("'tab\\tNUL\\x00'", "text control"),
    ("'\\ufeffBOM é ☃ 🎉'", "text unicode"),
    ("' padded '", "text padded"),
    ("'=1+1'", "text formula"),
]

SCRIPT = """
import json, sys
import numpy as np
import stet

@stet.once(store=sys.argv[1], key=["case", "x"], verbose=False)
def f(case, x):
    return None

values = [{values}]
if sys.argv[2] == "record":
    for i, value in enumerate(values):
        f(case=i, x=value)
else:
    print(json.dumps([[f.done(case=i, x=v) for v in values] for i in range(len(values))]))
"""


def test_identity_table_across_processes(store_spec: Path | str) -> None:
    """Every ordered pair of values is the same run exactly when the identity table says so."""
    script = SCRIPT.replace("{values}", ", ".join(expr for expr, _ in CASES))
    recorded = run_python(script, str(store_spec), "record")
    assert recorded.returncode == 0, recorded.stderr
    checked = run_python(script, str(store_spec), "check")
    assert checked.returncode == 0, checked.stderr
    matrix = json.loads(checked.stdout)
    wrong = [
        f"{CASES[i][0]} recorded, {CASES[j][0]} asked: done={matrix[i][j]}"
        for i in range(len(CASES))
        for j in range(len(CASES))
        if matrix[i][j] != (CASES[i][1] == CASES[j][1])
    ]
    assert wrong == []
