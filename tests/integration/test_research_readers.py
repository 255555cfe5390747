"""Every file of the research export reads the same in pandas, Arrow, Dask and DuckDB, untold.

The demo clinic's research export is written as CSV and as Parquet; each CSV is then read with
each library's default CSV reader (no dtype, no schema, no options) and must give the manifest's
row count and, column by column, the type the manifest's data dictionary declares. Dask infers
types from a file's first rows and used to fail on ``scores.csv`` (``arm`` empty on the run-in
days at the top, text further down); the export writes no empty cell, so the first rows type
every column as the whole file does. The data must also keep to the dictionary's allowed values
and ranges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from microtrial.interop.research import write_research_export
from microtrial.services import admin, exports
from microtrial.store.db import Database

dd = pytest.importorskip("dask.dataframe")

# What each reader calls the dictionary's types (pandas may hold text as object or string).
PANDAS = {
    "integer": {"int64"},
    "number": {"float64"},
    "boolean": {"bool"},
    "string": {"object", "string", "str"},
}
ARROW = {"integer": {"int64"}, "number": {"double"}, "boolean": {"bool"}, "string": {"string"}}
DUCKDB = {
    "integer": {"BIGINT"},
    "number": {"DOUBLE"},
    "boolean": {"BOOLEAN"},
    "string": {"VARCHAR"},
}


@pytest.fixture(scope="module")
def written(demo_clinic: Database, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clinic's research export, as CSV (``csv/``) and Parquet (``parquet/``)."""
    researcher = admin.user_actor(demo_clinic, "researcher.demo")
    tables = exports.research_export(demo_clinic, researcher, secret="r" * 32)
    out = tmp_path_factory.mktemp("research_readers")
    write_research_export(tables, out / "csv", "csv")
    write_research_export(tables, out / "parquet", "parquet")
    return out


def manifest(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return loaded


def declared(table: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["type"] for field in table["fields"]}


def check_types(reader: str, found: dict[str, str], types: dict[str, str], names: Any) -> None:
    assert list(found) == list(types), reader
    for column, kind in types.items():
        assert found[column] in names[kind], (reader, column, found[column], kind)


def test_default_csv_readers_agree_with_the_manifest(written: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    described = manifest(written / "csv")["tables"]
    assert set(described) == {p.stem for p in (written / "csv").glob("*.csv")}
    for name, table in described.items():
        path = written / "csv" / table["file"]
        types = declared(table)
        # every table holds rows, so that every column's type is inferred from data
        assert table["rows"] > 0, name
        text = path.read_text()
        assert ",," not in text, name  # no empty cell anywhere
        assert ",\n" not in text, name
        assert "\n," not in text, name

        frame = pd.read_csv(path)
        assert len(frame) == table["rows"], name
        check_types("pandas", {c: str(t) for c, t in frame.dtypes.items()}, types, PANDAS)

        arrow = pa_csv.read_csv(path)
        assert arrow.num_rows == table["rows"], name
        found = {f.name: str(f.type) for f in arrow.schema}
        check_types("pyarrow", found, types, ARROW)

        lazy = dd.read_csv(str(path))
        computed = lazy.compute()
        assert len(computed) == table["rows"], name
        check_types("dask", {c: str(t) for c, t in computed.dtypes.items()}, types, PANDAS)
        check_types("dask meta", {c: str(t) for c, t in lazy.dtypes.items()}, types, PANDAS)

        relation = duckdb.sql(f"SELECT * FROM read_csv_auto('{path}')")
        assert len(relation.fetchall()) == table["rows"], name
        found = {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}
        check_types("duckdb", found, types, DUCKDB)

        # the readers also agree on the values (pandas and Dask, cell by cell)
        pd.testing.assert_frame_equal(
            frame, computed.reset_index(drop=True), check_dtype=False, check_index_type=False
        )


def test_parquet_carries_the_manifest_types(written: Path) -> None:
    for table in manifest(written / "parquet")["tables"].values():
        schema = pq.read_schema(written / "parquet" / table["file"])
        found = {f.name: str(f.type) for f in schema}
        assert pq.read_metadata(written / "parquet" / table["file"]).num_rows == table["rows"]
        check_types("parquet", found, declared(table), ARROW)


def test_values_keep_to_the_dictionary(written: Path) -> None:
    checked = 0
    for table in manifest(written / "parquet")["tables"].values():
        frame = pd.read_parquet(written / "parquet" / table["file"])
        for field in table["fields"]:
            values = frame[field["name"]]
            if "allowed" in field:
                assert set(values) <= set(field["allowed"]), field
                checked += 1
            if "range" in field:
                low, high = field["range"]["min"], field["range"]["max"]
                assert values.between(low, high).all(), field
                checked += 1
    assert checked >= 10
