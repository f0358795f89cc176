// What an integration does, type-checked with `tsc --strict` against the generated contract.
// `make contract-check` compiles it; nothing here runs.
import { pulsClient, type Schemas } from "../src/index";

const puls = pulsClient("https://puls.example.org", "puls_key");

export async function listOrgUnits(): Promise<string[]> {
  const { data, error } = await puls.GET("/v1/org-units", { params: { query: { limit: 100 } } });
  if (error) throw new Error(error.detail);
  return data.items.map((unit) => ("code" in unit ? unit.code : unit.id));
}

export async function sendTimeRecords(): Promise<number> {
  const shift: Schemas["TimeRecordIn"] = {
    source: "heroma",
    external_id: "TR-2024-000123",
    org_unit_code: "SUS-AKUT",
    employee_ref: "19790312-XXXX",
    profession: "nurse",
    staff_kind: "own",
    time_type: "worked",
    work_date: "2024-03-04",
    hours: "8.00",
    cost_sek: "2450.50",
  };
  // `org_unit` is the other name of `org_unit_code`: the name records are read back with.
  const sameUnit: Schemas["TimeRecordIn"] = {
    source: "heroma",
    external_id: "TR-2024-000124",
    org_unit: "SUS-AKUT",
    employee_ref: "19790312-XXXX",
    profession: "nurse",
    staff_kind: "own",
    time_type: "worked",
    work_date: "2024-03-05",
    hours: "8.00",
  };
  // A removal may carry the whole row; only its key counts.
  const removal: Schemas["RecordDeletion"] = {
    source: "heroma",
    external_id: "TR-2024-000099",
    deleted: true,
    hours: "7.50",
  };
  const { data, error } = await puls.POST("/v1/time-records:batch", {
    body: { records: [shift, sameUnit, removal] },
    params: { header: { "Idempotency-Key": "nightly-2024-03-05" } },
  });
  if (error) throw new Error(error.title);
  for (const rejected of data.errors) {
    for (const problem of rejected.errors) console.log(rejected.index, problem.loc, problem.code);
  }
  return data.inserted + data.updated;
}

export async function readSeries(): Promise<Array<[string, string | null]>> {
  const { data, error } = await puls.GET("/v1/kpis/{code}/series", {
    params: {
      path: { code: "agency_cost_share" },
      query: { org_unit: "RS", from: "2024-01", to: "2024-12", children: true },
    },
  });
  if (error) throw new Error(error.detail);
  // One series, or one per child unit: `shape` tells them apart.
  const series = data.shape === "children" ? data.series : [data];
  return series.flatMap((one) => one.points.map((p): [string, string | null] => [one.org_unit, p.period]));
}

export async function createPlan(ownerId: string): Promise<string> {
  const plan: Schemas["PlanCreate"] = {
    org_unit: "RS",
    title: "Bemanningsprojektet 2016–2018",
    owner_id: ownerId,
    period_start: "2016-12-01",
    period_end: "2018-12-31",
    cost_estimate_sek: "2500000.00",
  };
  const { data, error, response } = await puls.POST("/v1/action-plans", {
    body: plan,
    params: { header: { "Idempotency-Key": "plan-2016" } },
  });
  if (error) throw new Error(error.detail);
  console.log(response.headers.get("ETag"), response.headers.get("Location"));
  return data.id;
}

// A meeting tool's view in one call: the meeting with its agenda, decisions and assignments,
// people named beside their ids.
export async function openMeeting(meetingId: string): Promise<string[]> {
  const { data, error } = await puls.GET("/v1/meetings/{meeting_id}", {
    params: { path: { meeting_id: meetingId }, query: { expand: "items,decisions,assignments" } },
  });
  if (error) throw new Error(error.detail);
  const agenda = (data.items ?? []).map((item) => `${item.number}. ${item.title}`);
  const decided = (data.decisions ?? []).map((decision) => decision.text);
  const tasked = (data.assignments ?? []).map(
    (assignment) => `${assignment.assignee?.name ?? "?"}: ${assignment.text}`,
  );
  return [...agenda, ...decided, ...tasked];
}
