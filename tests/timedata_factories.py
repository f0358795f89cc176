"""Builders for fed records, in the shape HR and finance systems send them."""

from __future__ import annotations

from typing import Any


def time_record(external_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "heroma",
        "external_id": external_id,
        "org_unit_code": "SUS-AKUT",
        "employee_ref": "19790312-1234",
        "profession": "nurse",
        "staff_kind": "own",
        "time_type": "worked",
        "work_date": "2024-03-04",
        "hours": "8.00",
    }
    record.update(overrides)
    return record


def employment(external_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "heroma",
        "external_id": external_id,
        "employee_ref": "19790312-1234",
        "org_unit_code": "SUS-AKUT",
        "profession": "nurse",
        "contract": "permanent",
        "fte": "1.000",
        "is_manager": False,
        "start_date": "2023-11-01",
    }
    record.update(overrides)
    return record


def personnel_cost(external_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "raindance",
        "external_id": external_id,
        "period": "2024-03",
        "org_unit_code": "SUS-AKUT",
        "profession": "doctor",
        "category": "agency",
        "amount_sek": "125000.00",
    }
    record.update(overrides)
    return record
