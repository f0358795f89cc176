// Mistakes the generated types must catch: `make contract-check` expects tsc to REFUSE this
// file, with exactly the errors marked below: on each line after an `@expect-error-line` comment
// (`scripts/must-fail.mjs` compares the lines).
import { pulsClient, type Schemas } from "../src/index";

const puls = pulsClient("https://puls.example.org", "puls_key");

export const misspelt: Schemas["TimeRecordIn"] = {
  source: "heroma",
  external_id: "TR-1",
  org_unit_code: "SUS-AKUT",
  // @expect-error-line a misspelt field
  employe_ref: "19790312-XXXX",
  profession: "nurse",
  staff_kind: "own",
  time_type: "worked",
  work_date: "2024-03-04",
  hours: "8.00",
};

// @expect-error-line no org unit (`org_unit_code`, or its other name `org_unit`, is needed)
export const noUnit: Schemas["EmploymentIn"] = {
  source: "heroma",
  external_id: "EMP-1",
  employee_ref: "19790312-XXXX",
  profession: "nurse",
  contract: "permanent",
  fte: "0.75",
  start_date: "2019-08-19",
};

export const floatAmount: Schemas["PersonnelCostIn"] = {
  source: "raindance",
  external_id: "2018-12/HELAR/agency/doctor",
  period: "2018-12",
  org_unit_code: "HELAR",
  profession: "doctor",
  category: "agency",
  // @expect-error-line a float amount
  amount_sek: 9058333.33,
};

export async function sendsAFloat(): Promise<void> {
  await puls.POST("/v1/personnel-costs:batch", {
    body: {
      records: [
        // @expect-error-line a float amount inside a batch (tsc reports the record)
        {
          source: "raindance",
          external_id: "2018-12/HELAR/own_staff/nurse",
          period: "2018-12",
          org_unit_code: "HELAR",
          profession: "nurse",
          category: "own_staff",
          amount_sek: 1250.5,
        },
      ],
    },
  });
}
