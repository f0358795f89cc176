"""`puls demo`: a Heroma-like region in files, for demos, tests and benchmarks.

`generate` writes what an HR/scheduling system and a finance system would send for a region:
an org tree (region → administrations → units), employments with starts, ends and
replacements, every scheduled shift with its start and end in Swedish local time (day, evening
and night shifts), the worked shift or the absence that replaced it (sick spells of realistic
lengths, summer vacation, parental leave), overtime and extra time, agency doctors and nurses
with their cost, and monthly personnel costs per unit, profession and category. The same seed
gives the same files byte for byte. `load` sends them to a running Puls through the API."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from services.cli import feed
from services.core.periods import add_months

app = typer.Typer(no_args_is_help=True, help="Demo data: generate a region's feeds and load them.")

LOCAL = ZoneInfo("Europe/Stockholm")
SOURCE_HR = "heroma"
SOURCE_FINANCE = "raindance"
ORG_UNITS_FILE = "org_units.json"
FILES = {
    "employments": "employments.csv",
    "time-records": "time_records.csv",
    "personnel-costs": "personnel_costs.csv",
}
TIME_COLUMNS = [
    "external_id",
    "org_unit_code",
    "employee_ref",
    "profession",
    "staff_kind",
    "time_type",
    "work_date",
    "hours",
    "start",
    "end",
    "cost_sek",
    "agency",
]
EMPLOYMENT_COLUMNS = [
    "external_id",
    "employee_ref",
    "org_unit_code",
    "profession",
    "contract",
    "fte",
    "is_manager",
    "start_date",
    "end_date",
    "end_reason",
    "gender",
    "birth_year",
]
COST_COLUMNS = ["external_id", "period", "org_unit_code", "profession", "category", "amount_sek"]

# Shares of the workforce, and what an hour costs with social fees (SEK), own and agency.
PROFESSIONS: list[tuple[str, float, int, int | None]] = [
    ("nurse", 0.30, 430, 1_100),
    ("assistant_nurse", 0.30, 330, None),
    ("doctor", 0.12, 900, 1_700),
    ("resident_doctor", 0.05, 600, None),
    ("administrator", 0.10, 360, None),
    ("other", 0.13, 380, None),
]
HOURLY = {code: own for code, _, own, _ in PROFESSIONS}
AGENCY_HOURLY = {code: agency for code, _, _, agency in PROFESSIONS if agency}
AGENCIES = ["Bemanningsbolaget AB", "Akutläkarna i Norden AB", "Vårdpool Syd AB"]
# (start hour, start minute, length in hours); night shifts end the next morning.
SHIFTS = {"day": (7, 0, 8), "evening": (14, 0, 8), "night": (21, 30, 10)}
ROTATING = {"nurse", "assistant_nurse"}
# Sick spells: the chance a spell starts on a given day, and their lengths (days) with weights:
# most are a few days, some weeks, a few months (about 5 % sick leave in all, as in seed 002).
SPELL_START = 0.0045
SPELL_LENGTHS = [((1, 3), 60), ((4, 14), 25), ((15, 59), 10), ((60, 180), 5)]
LEAVE_PER_MONTH = 0.007  # ~8 % of employees leave in a year; each is replaced


@dataclass(frozen=True)
class Spec:
    units: int = 200
    employees: int = 5_000
    months: int = 24
    start: date = date(2024, 1, 1)
    seed: int = 1
    agency_share: float = 0.05

    @property
    def end(self) -> date:
        """The last day of the last month."""
        return add_months(self.start, self.months) - timedelta(days=1)


@dataclass
class Counts:
    org_units: int = 0
    employments: int = 0
    time_records: int = 0
    personnel_costs: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Person:
    ref: str
    unit: str
    profession: str
    contract: str
    fte: Decimal
    is_manager: bool
    start: date
    end: date | None = None
    end_reason: str | None = None
    gender: str = "female"
    birth_year: int = 1980
    sick_until: date | None = None
    vacation: dict[int, date] = field(default_factory=dict)


def org_tree(spec: Spec) -> list[dict[str, Any]]:
    administrations = max(1, spec.units // 25)
    tree: list[dict[str, Any]] = [{"code": "REG", "name": "Region Demo", "kind": "region"}]
    tree += [
        {
            "code": f"ADM{a:02d}",
            "name": f"Förvaltning {a}",
            "kind": "administration",
            "parent_code": "REG",
        }
        for a in range(1, administrations + 1)
    ]
    tree += [
        {
            "code": unit_code(u),
            "name": f"Enhet {u}",
            "kind": "unit",
            "parent_code": f"ADM{1 + (u - 1) % administrations:02d}",
        }
        for u in range(1, spec.units + 1)
    ]
    return tree


def unit_code(number: int) -> str:
    return f"U{number:03d}"


def generate(spec: Spec, out: Path) -> Counts:
    """Writes the files into `out` and returns how many records each holds."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(spec.seed)
    counts = Counts()
    tree = org_tree(spec)
    (out / ORG_UNITS_FILE).write_text(json.dumps(tree, indent=1, ensure_ascii=False) + "\n")
    counts.org_units = len(tree)
    # (month, unit, profession, category) → SEK
    costs: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    shifts = _ShiftTimes()
    with (
        _writer(out / FILES["employments"], EMPLOYMENT_COLUMNS) as employments,
        _writer(out / FILES["time-records"], TIME_COLUMNS) as times,
    ):
        own = round(spec.employees * (1 - spec.agency_share))
        for slot in range(own):
            for person in _slot_people(rng, spec, slot):
                employments.writerow(_employment_row(person))
                counts.employments += 1
                for row, cost in _own_days(rng, spec, person, shifts):
                    times.writerow(row)
                    counts.time_records += 1
                    costs[(row[6][:7], person.unit, person.profession, "own_staff")] += cost
        for number in range(spec.employees - own):
            for row in _agency_days(rng, spec, number, shifts):
                times.writerow(row)
                counts.time_records += 1
                costs[(row[6][:7], row[1], row[3], "agency")] += Decimal(row[10])
    with _writer(out / FILES["personnel-costs"], COST_COLUMNS) as writer:
        for (month, unit, profession, category), amount in sorted(costs.items()):
            writer.writerow(
                [
                    f"{month}/{unit}/{profession}/{category}",
                    month,
                    unit,
                    profession,
                    category,
                    f"{amount:.2f}",
                ]
            )
            counts.personnel_costs += 1
    (out / "counts.json").write_text(json.dumps(counts.as_dict(), indent=1) + "\n")
    return counts


class _writer:
    """A CSV file with a header row, as the file-import endpoint and `puls feed` read them."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns
        self._handle: IO[str] | None = None

    def __enter__(self) -> Any:
        self._handle = self.path.open("w", encoding="utf-8", newline="")
        writer = csv.writer(self._handle, lineterminator="\n")
        writer.writerow(self.columns)
        return writer

    def __exit__(self, *exc: object) -> None:
        assert self._handle is not None
        self._handle.close()


def _pick_profession(rng: random.Random) -> str:
    return rng.choices([p[0] for p in PROFESSIONS], weights=[p[1] for p in PROFESSIONS])[0]


def _slot_people(rng: random.Random, spec: Spec, slot: int) -> Iterator[_Person]:
    """The people who hold one position over the period: when one leaves, another starts."""
    unit = unit_code(1 + slot % spec.units)
    profession = _pick_profession(rng)
    is_manager = slot < spec.units  # the first position of every unit is its manager's
    if is_manager:
        profession = "administrator" if rng.random() < 0.3 else "nurse"
    start = spec.start - timedelta(days=rng.randint(30, 365 * 15))
    generation = 0
    while start <= spec.end:
        person = _Person(
            ref=f"E{slot:05d}{generation:02d}",
            unit=unit,
            profession=profession,
            contract=rng.choices(["permanent", "fixed_term", "hourly"], [80, 12, 8])[0],
            fte=rng.choices([Decimal("1.00"), Decimal("0.75"), Decimal("0.50")], [60, 25, 15])[0],
            is_manager=is_manager,
            start=start,
            gender=rng.choices(["female", "male", "other"], [78, 21, 1])[0],
            birth_year=rng.randint(1958, 2002),
        )
        month = max(spec.start, start.replace(day=1))
        while month <= spec.end:
            if rng.random() < LEAVE_PER_MONTH:
                person.end = month + timedelta(days=rng.randint(0, 27))
                person.end_reason = rng.choices(
                    ["resignation", "retirement", "end_of_contract", "internal_transfer"],
                    [60, 15, 15, 10],
                )[0]
                break
            month = add_months(month, 1)
        for year in range(spec.start.year, spec.end.year + 1):
            person.vacation[year] = date(year, 6, 15) + timedelta(days=rng.randint(0, 35))
        yield person
        if person.end is None:
            return
        start = person.end + timedelta(days=rng.randint(7, 45))
        generation += 1


def _employment_row(p: _Person) -> list[str]:
    return [
        f"{p.ref}-1",
        p.ref,
        p.unit,
        p.profession,
        p.contract,
        str(p.fte),
        "true" if p.is_manager else "false",
        p.start.isoformat(),
        p.end.isoformat() if p.end else "",
        p.end_reason or "",
        p.gender,
        str(p.birth_year),
    ]


class _ShiftTimes:
    """Start and end of each kind of shift on each date, with the right UTC offset on either
    side of a daylight-saving change (a night shift then lasts 9 or 11 hours)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[date, str, int], tuple[str, str, str]] = {}

    def get(self, day: date, shift: str, extra_start: int = 0) -> tuple[str, str, str]:
        key = (day, shift, extra_start)
        if key not in self._cache:
            hour, minute, length = SHIFTS[shift]
            # Shifts end at the wall-clock time the schedule says, however long the night was.
            wall = datetime(day.year, day.month, day.day, hour, minute) + timedelta(
                hours=extra_start
            )
            start = wall.replace(tzinfo=LOCAL)
            end = (wall + timedelta(hours=length)).replace(tzinfo=LOCAL)
            hours = (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600
            self._cache[key] = (start.isoformat(), end.isoformat(), f"{hours:.2f}")
        return self._cache[key]

    def overtime(self, day: date, shift: str, hours: int) -> tuple[str, str]:
        """A stretch of `hours` right after the shift ends."""
        _, end, _ = self.get(day, shift)
        started = datetime.fromisoformat(end)
        finished = (started.astimezone(UTC) + timedelta(hours=hours)).astimezone(LOCAL)
        return started.isoformat(), finished.isoformat()


def _works_on(rng: random.Random, person: _Person, day: date) -> str | None:
    """The shift the person is scheduled for that day, if any."""
    rotating = person.profession in ROTATING
    if not rotating and day.weekday() >= 5:
        return None
    # Full-time is about five shifts a week; rotating staff spread them over seven days.
    chance = float(person.fte) * (5 / 7 if rotating else 1.0)
    if person.contract == "hourly":
        chance *= 0.4
    if rng.random() >= chance:
        return None
    if not rotating:
        return "day"
    return rng.choices(["day", "evening", "night"], [60, 25, 15])[0]


def _spell_length(rng: random.Random) -> int:
    (low, high) = rng.choices([b for b, _ in SPELL_LENGTHS], [w for _, w in SPELL_LENGTHS])[0]
    return rng.randint(low, high)


def _own_days(
    rng: random.Random, spec: Spec, person: _Person, shifts: _ShiftTimes
) -> Iterator[tuple[list[str], Decimal]]:
    first = max(spec.start, person.start)
    last = min(spec.end, person.end or spec.end)
    hourly = Decimal(HOURLY[person.profession])
    day = first
    while day <= last:
        if person.sick_until is None or day > person.sick_until:
            person.sick_until = None
            if rng.random() < SPELL_START:
                person.sick_until = day + timedelta(days=_spell_length(rng) - 1)
        shift = _works_on(rng, person, day)
        if shift is not None:
            start, end, hours = shifts.get(day, shift)
            stamp = day.strftime("%Y%m%d")
            base = [person.unit, person.ref, person.profession, "own"]
            yield (
                (
                    [
                        f"{person.ref}-{stamp}-S",
                        *base,
                        "scheduled",
                        day.isoformat(),
                        hours,
                        start,
                        end,
                    ]
                    + ["", ""]
                ),
                Decimal(0),
            )
            vacation_start = person.vacation.get(day.year)
            if person.sick_until is not None:
                absence = "sick"
            elif vacation_start and vacation_start <= day < vacation_start + timedelta(days=28):
                absence = "vacation"
            elif rng.random() < 0.012:
                absence = rng.choice(["child_care", "parental_leave", "training"])
            else:
                absence = None
            cost = hourly * Decimal(hours)
            if absence is not None:
                yield (
                    (
                        [f"{person.ref}-{stamp}-A", *base, absence, day.isoformat(), hours, "", ""]
                        + ["", ""]
                    ),
                    cost,
                )
            else:
                yield (
                    (
                        [f"{person.ref}-{stamp}-W", *base, "worked", day.isoformat(), hours, start]
                        + [end, "", ""]
                    ),
                    cost,
                )
                if rng.random() < 0.04:
                    extra = rng.randint(1, 3)
                    o_start, o_end = shifts.overtime(day, shift, extra)
                    kind = "extra_time" if person.fte < 1 else "overtime"
                    yield (
                        (
                            [f"{person.ref}-{stamp}-O", *base, kind, day.isoformat(), f"{extra}.00"]
                            + [o_start, o_end, "", ""]
                        ),
                        hourly * extra * Decimal("1.5"),
                    )
        day += timedelta(days=1)


def _agency_days(
    rng: random.Random, spec: Spec, number: int, shifts: _ShiftTimes
) -> Iterator[list[str]]:
    """An agency doctor or nurse hired in for spells of weeks at one unit at a time."""
    ref = f"A{number:05d}"
    profession = "doctor" if rng.random() < 0.45 else "nurse"
    agency = rng.choice(AGENCIES)
    hourly = Decimal(AGENCY_HOURLY[profession])
    day = spec.start + timedelta(days=rng.randint(0, 60))
    while day <= spec.end:
        unit = unit_code(rng.randint(1, spec.units))
        until = min(spec.end, day + timedelta(days=rng.randint(7, 42)))
        while day <= until:
            if rng.random() < 0.7:
                shift = "day" if profession == "doctor" else rng.choice(list(SHIFTS))
                start, end, hours = shifts.get(day, shift)
                cost = hourly * Decimal(hours)
                yield [
                    f"{ref}-{day:%Y%m%d}-W",
                    unit,
                    ref,
                    profession,
                    "agency",
                    "worked",
                    day.isoformat(),
                    hours,
                    start,
                    end,
                    f"{cost:.2f}",
                    agency,
                ]
            day += timedelta(days=1)
        day += timedelta(days=rng.randint(14, 120))


# ---- commands ---------------------------------------------------------------------------------


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option(help="Folder to write the files into.")],
    units: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    employees: Annotated[int, typer.Option(min=1)] = 5_000,
    months: Annotated[int, typer.Option(min=1, max=240)] = 24,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2024-01",
    seed: Annotated[int, typer.Option()] = 1,
) -> None:
    """Write a region's org tree, employments, time records and personnel costs as files."""
    try:
        first = date.fromisoformat(f"{start}-01")
    except ValueError:
        raise typer.BadParameter(
            f"{start!r} is not a month like 2024-01", param_hint="--start"
        ) from None
    spec = Spec(units=units, employees=employees, months=months, start=first, seed=seed)
    counts = generate(spec, out)
    for name, count in counts.as_dict().items():
        typer.echo(f"{name:>16}: {count:>10,}")
    typer.echo(f"written to {out}")


@app.command("load")
def load_command(
    directory: Annotated[Path, typer.Argument(help="A folder written by `puls demo generate`.")],
    url: Annotated[str, typer.Option(envvar="PULS_URL")] = "http://127.0.0.1:8000",
    key: Annotated[str, typer.Option(envvar="PULS_API_KEY", help="An admin key.")] = "",
    concurrency: Annotated[int, typer.Option(min=1, max=16)] = 2,
) -> None:
    """Send the generated files to a running Puls: the org tree, then employments, time records
    and personnel costs as JSON batches (safe to run again: records are upserted)."""
    if not key:
        raise typer.BadParameter("an admin API key is needed", param_hint="--key")

    async def load() -> int:
        async with feed.api_client(url, key) as client:
            return await _send_files(client, directory, concurrency)

    raise typer.Exit(asyncio.run(load()))


async def _send_files(client: Any, directory: Path, concurrency: int) -> int:
    """The org tree, then employments, time records and personnel costs as JSON batches;
    the exit code (1 when a record was rejected, 2 when the tree was)."""
    response = await client.put(
        "/v1/org-units", json=json.loads((directory / ORG_UNITS_FILE).read_text())
    )
    if response.status_code != 200:
        typer.echo(f"org units: {response.status_code} {response.text}", err=True)
        return 2
    typer.echo(f"org units: {response.json()}")
    rejected = 0
    for kind, name in FILES.items():
        source = SOURCE_FINANCE if kind == "personnel-costs" else SOURCE_HR
        summary = await feed.feed_file(
            client,
            directory / name,
            kind=kind,
            source=source,
            concurrency=concurrency,
            show_progress=True,
        )
        feed.print_summary(summary, kind)
        rejected += summary.rejected
    return 1 if rejected else 0


# The demo region of `make demo`: small enough to load in well under a minute on a laptop
# (about 50 000 time records), big enough that every figure has a few units behind it.
DEMO_SPEC = {"units": 12, "employees": 120, "months": 12}


@app.command("region")
def region_command(
    url: Annotated[str, typer.Option(envvar="PULS_URL")] = "http://127.0.0.1:8000",
    key: Annotated[str, typer.Option(envvar="PULS_API_KEY", help="An admin key.")] = "",
    employees: Annotated[int, typer.Option(min=10, hidden=True)] = DEMO_SPEC["employees"],
) -> None:
    """Load the demo region into an empty Puls through its API: the last twelve months of a
    small region's time data, KPI targets, an action plan and a management team's meetings.
    Refuses when Puls already holds org units (it would mix the demo into real data)."""
    if not key:
        raise typer.BadParameter("an admin API key is needed", param_hint="--key")
    from services.cli import demo_story  # the story needs the generator's names

    today = date.today()
    first = add_months(today.replace(day=1), -DEMO_SPEC["months"])

    async def load() -> int:
        async with feed.api_client(url, key) as client:
            existing = await client.get("/v1/org-units", params={"limit": 1})
            if existing.status_code != 200:
                typer.echo(f"Puls answered {existing.status_code}: {existing.text}", err=True)
                return 2
            if existing.json()["items"]:
                typer.echo(
                    "The demo region is loaded only into an empty Puls, and this one already "
                    "holds org units. Start with an empty data directory "
                    "(PULS_DATA_DIR=.puls-demo make demo) to see the demo beside your data.",
                    err=True,
                )
                return 3
            with tempfile.TemporaryDirectory(prefix="puls-demo-") as folder:
                spec = Spec(start=first, seed=1, **(DEMO_SPEC | {"employees": employees}))
                generate(spec, Path(folder))
                code = await _send_files(client, Path(folder), concurrency=2)
            if code:
                return code
            try:
                told = await demo_story.tell(client, first_month=first, today=today)
            except demo_story.StoryError as exc:
                typer.echo(str(exc), err=True)
                return 2
            typer.echo("demo region: " + ", ".join(f"{n} {k}" for k, n in told.items()))
            return 0

    raise typer.Exit(asyncio.run(load()))
