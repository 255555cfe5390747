"""``json_records`` gives what ``json_rows(frame_rows(...))`` gives, column by column."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from microtrial.services.analysis_model import frame_rows, json_columns, json_records
from microtrial.services.trial_fits import json_rows


def test_json_records_equal_json_rows_of_frame_rows_on_every_dtype() -> None:
    frame = pd.DataFrame(
        {
            "trial_id": ["1", "2", "3"],
            "n": np.array([3, 4, 5], dtype=np.int64),
            "mean": [0.5, float("nan"), -1.25],
            "flag": [True, False, True],
            "warning": ["", "rho at the edge", ""],
            "maybe": [None, 2.5, float("nan")],  # object: None and NaN both become null
            "mixed": pd.Series([1, None, "x"], dtype=object),
            "day": [dt.date(2026, 1, 1), dt.date(2026, 1, 2), None],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "n32": np.array([1, 2, 3], dtype=np.int32),
            "f32": np.array([1.5, np.nan, 2.0], dtype=np.float32),
        }
    )
    got = json_records(frame)
    want = json_rows(frame_rows(frame))
    # as JSON text: the types of the values count (2 is not 2.0, null is not NaN)
    assert json.dumps(got) == json.dumps(want)
    assert json_records(frame.iloc[:0]) == []


def test_json_columns_read_back_as_the_rows_did() -> None:
    frame = pd.DataFrame(
        {
            "trial_id": ["trial-001", "trial-002"],
            "effect_mean": [-1.5, float("nan")],
            "n_active": np.array([12, 14], dtype=np.int64),
            "warning": ["", None],
            "unblinded_early": [False, True],
        }
    )
    columns = json_columns(frame)
    assert list(columns) == list(frame.columns)
    # a stored view holds columns now, rows before: both read back as the same frame
    from_columns = pd.DataFrame(json.loads(json.dumps(columns)))
    from_rows = pd.DataFrame(json.loads(json.dumps(json_records(frame))))
    pd.testing.assert_frame_equal(from_columns, from_rows)
    assert len(json.dumps(columns)) < len(json.dumps(json_records(frame)))
