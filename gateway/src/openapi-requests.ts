// Requests derived from the OpenAPI document (`/v1/openapi.json`), for the tests that drive
// the server from it: the contract test (openapi-contract.test.ts: every answer declared),
// the security suite's route coverage (security/authz-matrix.test.ts) and its HTTP fuzzer
// (security/http-fuzz.test.ts). One home for how a valid request is built from a schema and
// how an answer is checked against its declaration, so the three cannot drift apart.
import { Ajv } from "ajv";
import type { InjectOptions } from "fastify";

export type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  additionalProperties?: boolean;
};
export interface Parameter {
  in: "path" | "query";
  name: string;
  required?: boolean;
  schema: Schema;
}
export interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
  security?: unknown[];
}
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
}
/** One operation of the document: `method` lower case as the document has it, `path` with `{param}`s. */
export interface DocOperation {
  path: string;
  method: string;
  op: Operation;
}

/** Anything with `inject()`: a Fastify app. */
export interface Injector {
  inject(req: InjectOptions): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>;
}

export async function openApiDocument(app: Injector): Promise<OpenApiDoc> {
  const res = await app.inject({ url: "/v1/openapi.json" });
  if (res.statusCode !== 200) throw new Error(`GET /v1/openapi.json answered ${res.statusCode}`);
  return JSON.parse(res.body) as OpenApiDoc;
}

/** Every operation of the document, in document order. */
export function operationsOf(doc: OpenApiDoc): DocOperation[] {
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.entries(ops).map(([m, op]) => ({ path: p, method: m, op })),
  );
}

/** "POST /v1/chats/{chatId}/members": how the tests name an operation. */
export function routeKey(o: Pick<DocOperation, "method" | "path">): string {
  return `${o.method.toUpperCase()} ${o.path}`;
}

/** The parts of an operation's request: path parameters, required query parameters, the JSON body schema. */
export function requestParts(op: Operation) {
  const params = op.parameters ?? [];
  return {
    pathParams: params.filter((p) => p.in === "path"),
    query: params.filter((p) => p.in === "query" && p.required),
    optionalQuery: params.filter((p) => p.in === "query" && !p.required),
    bodySchema: op.requestBody?.content["application/json"]?.schema,
    /** A body of raw bytes in any media type (an attachment's upload), when the operation takes one. */
    rawBody: op.requestBody?.content["*/*"] !== undefined,
  };
}

/** The URL of a document path with its parameters filled in (encoded) and a query string. */
export function urlFor(docPath: string, values: Record<string, unknown>, query: Record<string, unknown> = {}): string {
  const base = docPath.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(String(values[k])));
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return qs ? `${base}?${qs}` : base;
}

/**
 * Values by parameter or property name: each one valid for the schema, several where the
 * server's answer depends on which (yourself, a direct chat, an unknown id).
 */
export type Fixtures = Record<string, () => unknown[]>;

/** Valid values of a schema: fixtures by name, else built from the schema's own constraints. */
export function samples(schema: Schema, fixtures: Fixtures, name?: string): unknown[] {
  if (schema.anyOf) return schema.anyOf.flatMap((s) => samples(s, fixtures, name));
  if (schema.enum) return [schema.enum[0]];
  const fixture = name === undefined ? undefined : fixtures[name];
  if (fixture && schema.type !== "object") return fixture();
  switch (schema.type) {
    case "string": {
      const s = "a".repeat(Math.max(schema.minLength ?? 1, 1));
      if (schema.pattern && !new RegExp(schema.pattern).test(s)) {
        throw new Error(`no fixture for ${name} (${schema.pattern})`);
      }
      return [s];
    }
    case "integer":
    case "number":
      return [schema.default ?? schema.minimum ?? 1];
    case "boolean":
      return [true];
    case "array":
      return [Array.from({ length: schema.minItems ?? 0 }, () => samples(schema.items ?? {}, fixtures)[0])];
    case "object": {
      // One object with the first value of every required property, then one per other
      // value of a property, so each fixture is tried without a product of them all.
      const required = schema.required ?? [];
      const options = required.map((k) => samples(schema.properties?.[k] ?? {}, fixtures, k));
      const base = Object.fromEntries(required.map((k, i) => [k, options[i]![0]]));
      const variants = [base];
      required.forEach((k, i) => options[i]!.slice(1).forEach((v) => variants.push({ ...base, [k]: v })));
      return variants;
    }
    default:
      return ["a"];
  }
}

/** A value of the wrong JSON type for a schema. */
export function wrongType(schema: Schema): unknown {
  return schema.type === "string" || schema.anyOf || schema.enum ? 12345 : "text";
}

/** An answer as `inject()` gives it. */
export interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}

/**
 * Checks answers against the document: the status is declared for the operation, its media
 * type declared for that status, and a JSON body valid against the declared schema. Returns
 * what is wrong, or undefined.
 */
export function answerChecker(doc: OpenApiDoc): (o: DocOperation, res: Answer) => string | undefined {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false });
  ajv.addSchema(doc, "doc");
  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
  return (o, res) => {
    const declared = o.op.responses[String(res.statusCode)];
    if (!declared) return `status not declared (${res.body.slice(0, 120)})`;
    if (!declared.content) return res.body === "" ? undefined : "a body where none is declared";
    const type = String(res.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim();
    const media = Object.keys(declared.content).find(
      (m) => m === type || m === "*/*" || (m.endsWith("/*") && type.startsWith(m.slice(0, -1))),
    );
    if (!media) return `media type ${type} not declared`;
    if (!type.includes("json")) return undefined;
    const validate = ajv.getSchema(
      `doc#/${pointer("paths", o.path, o.method, "responses", String(res.statusCode), "content", media, "schema")}`,
    );
    if (!validate) return "the declared schema does not resolve";
    return validate(JSON.parse(res.body))
      ? undefined
      : `${ajv.errorsText(validate.errors)} in ${res.body.slice(0, 200)}`;
  };
}
