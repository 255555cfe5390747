"""Where instruments that are not in the catalog come from: the ``InstrumentSource`` port."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from microtrial.domain.catalog import Instrument, parse_instrument

INSTRUMENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")  # no path tricks


@dataclass(frozen=True)
class UserInstrument:
    """A user-imported instrument, its branching logic (item id -> expression) and FHIR form."""

    instrument: Instrument
    branching: Mapping[str, Any] = field(default_factory=dict)
    # FHIR imports: item types and the Questionnaire as authored (exports nest answers by it)
    fhir_types: Mapping[str, str] = field(default_factory=dict)
    questionnaire: Mapping[str, Any] = field(default_factory=dict)


class InstrumentSource(Protocol):
    """The user-imported instruments services may score (a folder by default)."""

    @property
    def where(self) -> str:
        """Where the instruments are kept, for error messages."""
        ...

    def find(self, instrument_id: str) -> UserInstrument | None:
        """The instrument with this id, or None when there is none."""
        ...


@dataclass(frozen=True)
class FolderInstruments:
    """Instruments saved by ``import-*`` as ``<id>.yaml`` plus ``<id>.interop.json`` in a folder."""

    directory: Path

    @property
    def where(self) -> str:
        """The folder, as text."""
        return str(self.directory)

    def find(self, instrument_id: str) -> UserInstrument | None:
        """Read ``<id>.yaml`` and the branching logic and FHIR form from its sidecar, if present."""
        path = self.directory / f"{instrument_id}.yaml"
        if not INSTRUMENT_ID.match(instrument_id) or not path.is_file():
            return None
        instrument = parse_instrument(path.read_text(encoding="utf-8"))
        sidecar = self.directory / f"{instrument_id}.interop.json"
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        return UserInstrument(
            instrument,
            meta.get("branching", {}),
            meta.get("fhir_types", {}),
            meta.get("questionnaire", {}),
        )
