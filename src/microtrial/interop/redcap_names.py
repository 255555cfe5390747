"""REDCap variable names: one name per item across a project, the same in every export.

A REDCap variable is one column per record, so names must be unique across the project.
:func:`variable_names` keeps an item id where it is unique and prefixes it with the instrument
id where it is not (PHQ-9 and GAD-7 both have ``q1``: ``phq9_q1``, ``gad7_q1``); for catalog
instruments the decision is taken over the whole catalog, so every dictionary and records export
names an item the same way, and :func:`catalog_item_ids` maps the names back.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from microtrial.domain.catalog import Instrument, load_catalog
from microtrial.errors import ValidationError

__all__ = ["NAME_LIMIT", "RESERVED_NAMES", "catalog_item_ids", "check_name", "variable_names"]


# REDCap's own columns in a records import; no item may take one of these names.
RESERVED_NAMES = frozenset(
    {
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
        "redcap_survey_identifier",
    }
)
NAME_LIMIT = 100  # REDCap refuses longer variable names (it recommends at most 26 characters)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _catalog_names(catalog: Mapping[str, Instrument]) -> dict[str, dict[str, str]]:
    """Catalog items' variable names, decided over the whole catalog so every export agrees."""
    counts = Counter(item.id for instrument in catalog.values() for item in instrument.items)
    return {
        form: {
            item.id: f"{form}_{item.id}"
            if counts[item.id] > 1 or item.id in RESERVED_NAMES
            else item.id
            for item in instrument.items
        }
        for form, instrument in catalog.items()
    }


def variable_names(
    forms: Mapping[str, Sequence[str]],
    *,
    verbatim: Collection[str] = (),
    catalog: Mapping[str, Instrument] | None = None,
) -> dict[str, dict[str, str]]:
    """The REDCap variable name of every item of a project: form -> item id -> name.

    A catalog form's names are the same in every export (an item id that two catalog
    instruments share is always ``<instrument>_<item>``: PHQ-9's ``q1`` is ``phq9_q1``). Other
    forms keep their item ids unless another form of the project uses the same name, then
    they are prefixed too; a ``verbatim`` form (REDCap rows kept as imported) is never renamed,
    so a clash there is refused. Names must end up unique: a REDCap variable is one column.
    """
    shipped = dict(load_catalog().instruments if catalog is None else catalog)
    every = _catalog_names(shipped)
    fixed = {form: every[form] for form in forms if form in every}
    fixed = {form: names for form, names in fixed.items() if form not in verbatim}
    raw = Counter(item for form, items in forms.items() if form not in fixed for item in set(items))
    taken = {name for names in fixed.values() for name in names.values()}
    names: dict[str, dict[str, str]] = {}
    for form, items in forms.items():
        if form in fixed:
            names[form] = {item: fixed[form].get(item, f"{form}_{item}") for item in items}
            continue
        names[form] = {}
        for item in dict.fromkeys(items):
            if form in verbatim:
                # the source project's own names: unique there, refused if another form has one
                if raw[item] > 1 or item in taken:
                    raise ValidationError(
                        "instruments",
                        f"field {item!r} of form {form!r} is also a field of another form; "
                        "export them as separate REDCap projects",
                        value=item,
                    )
                names[form][item] = item
                continue
            clash = raw[item] > 1 or item in taken or item in RESERVED_NAMES
            names[form][item] = f"{form}_{item}" if clash else item
    completes = {f"{form}_complete" for form in forms}
    owners: dict[str, str] = {}
    for form, mapping in names.items():
        for name in mapping.values():
            if name in owners or (form not in verbatim and name in completes):
                raise ValidationError(
                    "instruments",
                    f"variable {name!r} would be two REDCap columns "
                    f"(forms {owners.get(name, form)!r} and {form!r})",
                    value=name,
                )
            owners[name] = form
    return names


def check_name(name: str) -> None:
    """Refuse a name REDCap would refuse as a variable name."""
    if not _NAME_RE.match(name) or len(name) > NAME_LIMIT:
        raise ValidationError(
            "field_name",
            f"{name!r} is not a REDCap variable name",
            value=name,
            allowed=f"lowercase letters, digits and _, starting with a letter, <= {NAME_LIMIT}",
        )


def catalog_item_ids(form: str, catalog: Mapping[str, Instrument] | None = None) -> dict[str, str]:
    """For a form named after a catalog instrument: exported variable name -> catalog item id."""
    shipped = dict(load_catalog().instruments if catalog is None else catalog)
    if form not in shipped:
        return {}
    return {name: item for item, name in _catalog_names(shipped)[form].items()}
