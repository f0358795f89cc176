"""The report's renderers: every string a user typed into Puls (plan and package names, owners,
cost goal, action titles and codes, responsible, ongoing work, result, a manual KPI's name) is
text in HTML and in Markdown, and figures are written the Swedish way."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

from services.core.plans import report as render
from services.core.plans.report_service import code_order
from services.core.plans.schemas import (
    ActionStatus,
    PlanReport,
    PlanStatus,
    ReportItem,
    ReportPackage,
    ReportTarget,
)

EVIL = '<script>alert("x")</script> [a](https://evil.test) **b** | c'


def _report() -> PlanReport:
    item = ReportItem(
        action_id=uuid.uuid4(),
        code="3.2",
        title=EVIL,
        status=ActionStatus.in_progress,
        due_date=date(2018, 12, 31),
        responsible=EVIL,
        ongoing_work=f"rad 1\n# {EVIL}",
        result=EVIL,
        reported_on=date(2018, 11, 30),
        rag=None,
    )
    package = ReportPackage(
        package_id=uuid.uuid4(),
        name=EVIL,
        owners=[EVIL, "Anita Secher"],
        due_date=date(2018, 12, 31),
        cost_goal=EVIL,
        actions=1,
        done=0,
        items=[item],
    )
    target = ReportTarget(
        kpi_target_id=uuid.uuid4(),
        kpi="manual_kpi",
        name=EVIL,
        unit="percent",
        value_at_start=Decimal("5.20"),
        value_now=Decimal("3.7"),
        change=Decimal("-1.50"),
    )
    return PlanReport(
        plan_id=uuid.uuid4(),
        title=EVIL,
        org_unit="RJH",
        status=PlanStatus.active,
        period_start=date(2016, 12, 1),
        period_end=date(2018, 12, 31),
        as_of=date(2018, 12, 31),
        actions=1,
        done=0,
        summary="0 av 1 klara",
        packages=[package],
        plan_follow_up=None,
        targets=[target],
    )


def test_html_escapes_every_user_string() -> None:
    page = render.html(_report())
    assert "<script>" not in page and 'href="https://evil.test"' not in page
    # Nine fields hold EVIL; each is escaped where it stands (the title twice: <title>, <h1>).
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 10
    assert "<td>5,2 %</td><td>3,7 %</td><td>−1,5 %</td>" in page
    assert "Anita Secher" in page and "senast 31 december 2018" in page


def test_markdown_escapes_every_user_string() -> None:
    text = render.markdown(_report())
    escaped = '\\<script\\>alert("x")\\</script\\> \\[a\\](https://evil.test) \\*\\*b\\*\\* \\| c'
    assert text.count(escaped) == 9  # the nine fields that hold EVIL
    assert re.search(r"(?<!\\)<script", text) is None
    assert re.findall(r"^# .*$", text, re.MULTILINE) == [f"# Uppföljning: {escaped}"]
    assert "rad 1\n\\# " in text, "a heading typed into a follow-up stays text"
    assert "| 5,2 % | 3,7 % | −1,5 % |" in text


def test_actions_are_ordered_by_number() -> None:
    codes = ["10", "2", "3.10", "3.2", "1", "B", "A.1"]
    assert sorted(codes, key=code_order) == ["1", "2", "3.2", "3.10", "10", "A.1", "B"]
