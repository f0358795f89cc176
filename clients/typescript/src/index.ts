// The Puls client: openapi-fetch over the types openapi-typescript generates from the
// committed contract (`npm run generate` writes src/schema.d.ts; `make contract-check` does it).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths };
export type Schemas = components["schemas"];

/** A client for one Puls instance, authenticated with an API key. */
export function pulsClient(baseUrl: string, apiKey: string) {
  // JSON answers and problem documents; the CSV, Markdown and HTML variants some operations
  // have are asked for with `Accept` and read as text.
  return createClient<paths, "application/json" | "application/problem+json">({
    baseUrl,
    headers: { Authorization: `Bearer ${apiKey}` },
  });
}
