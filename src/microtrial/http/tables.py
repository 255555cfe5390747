"""Tabular results (pandas frames) as JSON-ready records and as a zip of CSV files."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from microtrial.files import spreadsheet_safe_frame
from microtrial.services.analysis_model import frame_rows


def plain(value: Any) -> Any:
    """A JSON-ready scalar: NaN becomes None, numpy scalars Python ones, dates ISO text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date | pd.Timestamp):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    return value


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A frame's rows as JSON-ready dicts (an empty list for None or an empty frame)."""
    if frame is None or frame.empty:
        return []
    rows = frame_rows(frame)
    kinds = {
        str(k): dtype.kind if isinstance(dtype, np.dtype) else ""
        for k, dtype in frame.dtypes.items()
    }
    floats = [k for k, kind in kinds.items() if kind == "f"]  # plain already, NaN aside
    others = [k for k, kind in kinds.items() if kind not in ("b", "i", "u", "f")]
    for row in rows:
        for key in floats:
            if row[key] != row[key]:  # NaN
                row[key] = None
        for key in others:
            row[key] = plain(row[key])
    return rows


def csv_zip(tables: Mapping[str, pd.DataFrame], manifest: dict[str, Any]) -> bytes:
    """A zip holding ``<name>.csv`` per table and ``manifest.json``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in tables.items():
            archive.writestr(f"{name}.csv", spreadsheet_safe_frame(frame).to_csv(index=False))
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
    return buffer.getvalue()
