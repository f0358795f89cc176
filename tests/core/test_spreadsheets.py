"""The CSV dialect every export shares: Swedish spreadsheets by default, `point` for machines."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal

from services.core.spreadsheets import Decimals, csv_cell, write_csv


def test_cells_in_both_dialects() -> None:
    cases = [
        (None, "", ""),
        (True, "true", "true"),
        (False, "false", "false"),
        (0, "0", "0"),
        (-3, "-3", "-3"),
        (4.0, "4,0", "4.0"),
        (33.333333, "33,333333", "33.333333"),
        (1e-05, "0,00001", "0.00001"),
        (Decimal("107800000.00"), "107800000,00", "107800000.00"),
        (date(2024, 3, 1), "2024-03-01", "2024-03-01"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("-2+3", "'-2+3", "'-2+3"),
        ("Sjukfrånvaro 4.5", "Sjukfrånvaro 4.5", "Sjukfrånvaro 4.5"),
    ]
    for value, swedish, machine in cases:
        assert csv_cell(value, Decimals.comma) == swedish, value
        assert csv_cell(value, Decimals.point) == machine, value
    person = uuid.UUID("5d1c0f8a-7b2e-4f7e-9a51-0c9a3e1d2b44")
    assert csv_cell(person, Decimals.comma) == str(person)


def test_files_in_both_dialects_read_back() -> None:
    header = ["kpi", "org_unit_name", "value", "suppressed"]
    rows = [["sick_leave_pct", "Skånes universitetssjukhus; akut", 4.5, False]]
    swedish = write_csv(header, rows)
    assert swedish.startswith("\ufeffkpi;org_unit_name;value;suppressed\r\n")
    (read,) = csv.DictReader(io.StringIO(swedish.removeprefix("\ufeff")), delimiter=";")
    assert read == {
        "kpi": "sick_leave_pct",
        "org_unit_name": "Skånes universitetssjukhus; akut",
        "value": "4,5",
        "suppressed": "false",
    }
    machine = write_csv(header, rows, Decimals.point)
    assert machine.startswith("kpi,org_unit_name,value,suppressed\r\n")
    (read,) = csv.DictReader(io.StringIO(machine))
    assert (read["value"], read["suppressed"]) == ("4.5", "false")
