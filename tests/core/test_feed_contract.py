"""The feed records the contract publishes (`TimeRecordIn`, `EmploymentIn`, `PersonnelCostIn`,
`BudgetIn`, `RecordDeletion`) and what the ingest accepts agree, field by field and constraint
by constraint.

For every property of every record schema in `openapi/openapi.json`, values at and beyond each
of its constraints (length, pattern, enum, const, bounds, decimals, date formats, null) are put
into a valid record, and the schema's verdict (jsonschema) is compared with the ingest's: the
fast path and, behind it, the model. A value of the schema's own JSON type is accepted exactly
when the schema allows it. A value of another JSON type is refused, except the spellings a CSV
or NDJSON file gives (a number or boolean as text, a decimal as a JSON number), which the
ingest reads on purpose (docs/feed.md)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from jsonschema_rs import Draft202012Validator

from services.cli.main import ROOT
from services.core.timedata import fastpath, ingest
from services.core.timedata.schemas import RecordDeletion

CONTRACT = json.loads((ROOT / "openapi" / "openapi.json").read_text())
SCHEMAS = CONTRACT["components"]["schemas"]
MODELS = {kind.model.__name__: kind for kind in ingest.KINDS.values()}

# The cross-field rules the schema states in words only: a record the schema allows may still
# be refused by them, as a whole (loc []), never for a field.
CROSS_FIELD = "value_error"


BATCHES = {
    "TimeRecordIn": "TimeRecordsBatch",
    "EmploymentIn": "EmploymentsBatch",
    "PersonnelCostIn": "PersonnelCostsBatch",
    "BudgetIn": "BudgetsBatch",
}


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {**_ref(name), "components": {"schemas": SCHEMAS}}, validate_formats=True
    )


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _record_validator(name: str) -> Draft202012Validator:
    """What one of a batch's `records` may be: this kind's record or a deletion."""
    items = SCHEMAS[BATCHES[name]]["properties"]["records"]["items"]
    assert items == {"anyOf": [_ref(name), _ref("RecordDeletion")]}
    return Draft202012Validator(
        {**items, "components": {"schemas": SCHEMAS}}, validate_formats=True
    )


def _example(name: str) -> dict[str, Any]:
    examples = SCHEMAS[name]["examples"]
    assert examples, f"{name} has no example"
    return copy.deepcopy(examples[0])


def _branch(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property's non-null schema (refs resolved) and whether null is allowed."""
    options = schema.get("anyOf", [schema])
    nullable = any(o.get("type") == "null" for o in options)
    (branch,) = [o for o in options if o.get("type") != "null"]
    if "$ref" in branch:
        branch = SCHEMAS[branch["$ref"].rsplit("/", 1)[1]]
    return branch, nullable


def _decimal_cases(branch: dict[str, Any]) -> list[Any]:
    places = int(branch["pattern"].rsplit("{1,", 1)[1].split("}")[0])
    low = branch.get("x-minimum", branch.get("x-exclusiveMinimum"))
    high = branch.get("x-maximum")
    cases: list[Any] = ["1" + "." + "1" * places, "1." + "1" * (places + 1), "1,5", "", "abc"]
    for bound in (low, high):
        if bound is not None:
            value = Decimal(bound)
            step = Decimal(1).scaleb(-places)
            cases += [str(value), str(value - step), str(value + step)]
    return cases


def _string_cases(branch: dict[str, Any]) -> list[Any]:
    cases: list[Any] = ["", "a", "A1", "x y", "a\x01b", "a\u202eb", "-a", "Å1", "a.b-c_d"]
    if "maxLength" in branch:
        cases += ["a" * branch["maxLength"], "a" * (branch["maxLength"] + 1)]
    if branch.get("format") == "date":
        cases += ["2024-02-29", "2023-02-29", "2024-13-01", "20240301", "2024-03-01T00:00:00Z"]
    if branch.get("format") == "date-time":
        cases += [
            "2024-03-04T07:00:00Z",
            "2024-03-04T07:00:00+01:00",
            "2024-03-04T07:00:00",
            "2024-03-04",
        ]
    if branch.get("pattern", "").startswith("^[0-9]{4}"):
        # months (`YYYY-MM`) and a budget's year or month
        cases += ["2024-03", "2024-00", "2024-12", "2024-13", "24-03", "2024", "24", "2024-3"]
    return cases


def cases_for(schema: dict[str, Any]) -> list[Any]:
    """Values at and beyond every constraint of one property, of its type and of others."""
    branch, _ = _branch(schema)
    cases: list[Any] = [None, 0, 1.5, True, [], {}]
    if "const" in branch:
        cases += [branch["const"], not branch["const"]]
    elif "enum" in branch:
        cases += [*branch["enum"], "not-" + str(branch["enum"][0]), branch["enum"][0].upper()]
    elif branch.get("type") == "integer":
        low, high = int(branch["minimum"]), int(branch["maximum"])
        cases += [low, low - 1, high, high + 1, 1979, "1979"]
    elif branch.get("type") == "boolean":
        cases += [True, False, "true", "yes"]
    elif "x-maximum" in branch or "x-minimum" in branch or "[0-9]{1," in branch.get("pattern", ""):
        cases += _decimal_cases(branch)
    elif branch.get("type") == "string":
        cases += _string_cases(branch)
    else:
        pytest.fail(f"no cases for {schema}")
    return cases


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _file_spelling(branch: dict[str, Any], value: Any) -> bool:
    """A spelling a CSV cell or an NDJSON line gives that the ingest reads on purpose."""
    kind = branch.get("type")
    if kind in ("integer", "boolean") and isinstance(value, str):
        return True
    if kind == "boolean" and value in (0, 1) and not isinstance(value, bool):
        return True  # 0/1 for false/true, as many exports write them
    is_decimal = "[0-9]{1," in branch.get("pattern", "")
    return is_decimal and isinstance(value, int | float) and not isinstance(value, bool)


def _within_bounds(branch: dict[str, Any], value: Any) -> bool:
    """The numeric bounds a decimal string carries as `x-minimum`, `x-exclusiveMinimum` and
    `x-maximum` (JSON Schema has none for strings; these are the contract's words for them)."""
    if not isinstance(value, str):
        return True
    try:
        number = Decimal(value)
    except ArithmeticError:
        return True  # not a decimal: the pattern already says no
    low, low_open = branch.get("x-minimum"), branch.get("x-exclusiveMinimum")
    high = branch.get("x-maximum")
    return (
        (low is None or number >= Decimal(low))
        and (low_open is None or number > Decimal(low_open))
        and (high is None or number <= Decimal(high))
    )


def _ingest(kind: ingest.FeedKind, record: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    checked = ingest._Checked()
    ingest._validate(kind, [record], checked)
    return not checked.errors, checked.errors.get(0, [])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_schema_lists_the_models_fields(name: str) -> None:
    model = MODELS[name].model
    schema = SCHEMAS[name]
    assert set(schema["properties"]) == set(model.model_fields)
    required = {n for n, f in model.model_fields.items() if f.is_required()}
    assert set(schema["required"]) == required
    assert schema["additionalProperties"] is False, "a misspelt field must be refused"
    for field_name, prop in schema["properties"].items():
        assert prop.get("description") or _branch(prop)[0].get("description"), field_name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_constraint_of_every_field_agrees_with_the_ingest(name: str) -> None:
    kind = MODELS[name]
    validator = _record_validator(name)
    fast = fastpath.build(kind.model)
    base = _example(name)
    assert validator.is_valid(base) and _ingest(kind, base)[0]
    checked = 0
    for field_name, prop in SCHEMAS[name]["properties"].items():
        branch, _ = _branch(prop)
        for value in cases_for(prop):
            record = {**base, field_name: value}
            documented = validator.is_valid(record) and _within_bounds(branch, value)
            accepted, errors = _ingest(kind, record)
            where = f"{name}.{field_name} = {value!r}"
            if documented:
                assert accepted or all(
                    e["code"] == CROSS_FIELD and e["loc"] == [] for e in errors
                ), f"{where}: the contract allows it, the ingest refused it: {errors}"
            elif _json_type(value) == branch.get("type") or value is None:
                assert not accepted, f"{where}: the contract refuses it, the ingest took it"
            else:
                assert not accepted or _file_spelling(branch, value), (
                    f"{where}: a value of another type was accepted"
                )
            if not documented and not _file_spelling(branch, value):
                # The fast path only ever accepts what the contract allows.
                assert fast(record) is None, (
                    f"{where}: the fast path took what the contract refuses"
                )
            checked += 1
    # at and beyond every constraint: many values for every field (a budget has few fields)
    assert checked > 12 * len(SCHEMAS[name]["properties"])


def test_a_deletion_may_carry_the_whole_row() -> None:
    validator = _validator("RecordDeletion")
    for kind in ingest.KINDS.values():
        row = {**_example(kind.model.__name__), "deleted": True, "hours": "not checked"}
        assert validator.is_valid(row)
        accepted, errors = _ingest(kind, row)
        assert accepted, errors
        checked = ingest._Checked()
        ingest._validate(kind, [row], checked)
        ((_, key),) = checked.deletes
        assert isinstance(key, RecordDeletion)
        assert (key.source, key.external_id) == (row["source"], row["external_id"])
    for bad in (
        {"source": "", "external_id": "X", "deleted": True},
        {"source": "h", "deleted": True},
    ):
        assert not validator.is_valid(bad)
        assert not _ingest(ingest.KINDS["time-records"], bad)[0]
