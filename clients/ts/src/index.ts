// The redpoint REST API's typed client: the types are generated from the
// server's OpenAPI document (src/generated/schema.ts, `npm run generate`),
// the calls are openapi-fetch's. What it adds: the bearer token, the method
// override for HTTP clients without PATCH (the WeChat mini-program's
// wx.request), and readers for the typed error details.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, operations, paths } from "./generated/schema.js";

export type { components, operations, paths };
export type Schemas = components["schemas"];
export type Errand = Schemas["v1Errand"];
export type Status = Schemas["Status"];
export type ErrorInfo = Schemas["ErrorInfo"];
export type BadRequest = Schemas["BadRequest"];

export interface ClientOptions {
  /** Where the API answers, e.g. http://localhost:8080. */
  baseUrl: string;
  /** The current access token, if any; asked before every call. */
  token?: () => string | undefined;
  /**
   * For HTTP stacks without PATCH (wx.request has GET, POST, PUT and
   * DELETE): PATCH goes out as POST with X-HTTP-Method-Override: PATCH.
   */
  withoutPatch?: boolean;
  /** The fetch to use; the global one by default. */
  fetch?: (request: Request) => Promise<Response>;
}

export type RedpointClient = Client<paths>;

export function createRedpointClient(options: ClientOptions): RedpointClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, fetch: options.fetch });
  client.use(bearer(options.token));
  if (options.withoutPatch) {
    client.use(patchAsPost);
  }
  return client;
}

function bearer(token: ClientOptions["token"]): Middleware {
  return {
    onRequest({ request }) {
      const t = token?.();
      if (t) {
        request.headers.set("Authorization", `Bearer ${t}`);
      }
      return request;
    },
  };
}

/** PATCH as POST with X-HTTP-Method-Override, which the server honours. */
export const patchAsPost: Middleware = {
  async onRequest({ request }) {
    if (request.method !== "PATCH") {
      return request;
    }
    const headers = new Headers(request.headers);
    headers.set("X-HTTP-Method-Override", "PATCH");
    return new Request(request.url, { method: "POST", headers, body: await request.text(), signal: request.signal });
  },
};

function isStatus(error: unknown): error is Status {
  return typeof error === "object" && error !== null && Array.isArray((error as Status).details);
}

/** The ErrorInfo of an error answer: its stable reason (docs/api.md). */
export function errorInfo(error: unknown): ErrorInfo | undefined {
  if (!isStatus(error)) return undefined;
  return error.details.find((d): d is ErrorInfo => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
}

/** The reason of an error answer, e.g. ETAG_MISMATCH. */
export function reasonOf(error: unknown): string | undefined {
  return errorInfo(error)?.reason;
}

/** The zh-CN text to show the user. */
export function messageOf(error: unknown): string | undefined {
  if (!isStatus(error)) return undefined;
  for (const d of error.details) {
    if (d["@type"] === "type.googleapis.com/google.rpc.LocalizedMessage") return d.message;
  }
  return error.message;
}

/** The bad fields of an INVALID_ARGUMENT answer, by proto path. */
export function fieldViolations(error: unknown): { field: string; description: string }[] {
  if (!isStatus(error)) return [];
  const br = error.details.find((d): d is BadRequest => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
  return br?.fieldViolations ?? [];
}

/** The id part of a resource name: errands/23008 → 23008. */
export function idOf(name: string | undefined): string {
  const id = name?.split("/").pop();
  if (!id) throw new Error(`not a resource name: ${name}`);
  return id;
}
