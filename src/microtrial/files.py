"""Files that leave the system: written private (0600) and whole, CSV cells safe in a spreadsheet.

Backups, exports and reports hold health data: every such file is created with mode 0600 (owner
only), written to a temporary name and renamed, so a reader never sees half a file and no other
account on the machine can read it, whatever the umask.

A CSV cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (OWASP "CSV injection"); such text cells are
prefixed with an apostrophe, which spreadsheets show as text. Plain numbers (``-3``, ``+1.5``)
are left alone so that numeric columns stay numeric.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pandas as pd

__all__ = [
    "PRIVATE_MODE",
    "private_file",
    "spreadsheet_safe",
    "spreadsheet_safe_frame",
    "spreadsheet_unescape",
    "write_private",
]

PRIVATE_MODE = 0o600
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@contextmanager
def private_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary handle on a new 0600 temporary file that becomes ``path`` when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, PRIVATE_MODE)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_private(path: Path, content: str | bytes) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` whole, readable by its owner only."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with private_file(path) as handle:
        handle.write(data)


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if not isinstance(value, str):
        return value
    # An apostrophe already in front of formula text is doubled, so reading back is exact.
    text = value.lstrip("'")
    formula = text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text)
    return "'" + value if formula else value


def spreadsheet_unescape(value: str) -> str:
    """Undo :func:`spreadsheet_safe` on text read back from a CSV this system wrote."""
    text = value.lstrip("'")
    formula = text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text)
    return value[1:] if formula and value.startswith("'") else value


def spreadsheet_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and column name made spreadsheet-safe."""
    out = frame.copy()
    out.columns = [spreadsheet_safe(str(c)) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(spreadsheet_safe)
    return out
