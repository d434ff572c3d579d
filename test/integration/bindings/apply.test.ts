import { describe, expect, it } from "vitest";
import { api, eventually, unique } from "../../support/api";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are asserted field by field
type Json = any;

const HANDLER = "https://hooks.example.com/in";

async function apply(bindings: unknown) {
  return api("POST", "/v1/bindings:apply", { bindings });
}

async function states(id: string): Promise<string[]> {
  const res = await api("GET", `/v1/bindings/${id}`);
  expect(res.status).toBe(200);
  return res.body.versions.map((v: Json) => `${v.binding_key}:${v.state}`);
}

// `apply` reconciles the whole binding set, so the tests in this file run in order on shared storage.
describe("POST /v1/bindings:apply (SPEC 5.2, 19)", () => {
  const base = unique("gitops");
  const a = `${base}-a`;
  const b = `${base}-b`;
  const c = `${base}-c`;

  it("creates every binding of a first manifest", async () => {
    const res = await apply([
      { id: a, provider: "github", handler: HANDLER },
      { id: b, provider: "github", events: ["issues.opened"], handler: HANDLER },
      { id: c, provider: "stripe", handler: HANDLER, retry: { max_attempts: 3 } },
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({
      created: [`${a}@v1`, `${b}@v1`, `${c}@v1`],
      updated: [],
      unchanged: [],
      drained: [],
    });
    const got = await api("GET", `/v1/bindings/${c}`);
    expect(got.body.versions[0].spec).toMatchObject({ provider: "stripe", retry: { max_attempts: 3, policy: "svix" } });
  });

  it("reconciles a changed, an unchanged and a removed binding", async () => {
    const res = await apply([
      // key order and explicit defaults do not count as a change
      { handler: HANDLER, events: ["issues.opened"], provider: "github", id: b, retry: { max_attempts: 7 } },
      { id: a, provider: "github", handler: HANDLER, events: ["push"] },
    ]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.created).toEqual([]);
    expect(res.body.updated).toEqual([`${a}@v2`]);
    expect(res.body.unchanged).toEqual([`${b}@v1`]);
    expect(res.body.drained).toContain(`${c}@v1`);
    expect(res.body.drained).not.toContain(`${b}@v1`);
    expect(res.body.drained.every((k: string) => [`${a}@v1`, `${c}@v1`].includes(k))).toBe(true);

    await eventually(async () =>
      (await states(c)).join() === `${c}@v1:terminated` && (await states(a))[0] === `${a}@v1:terminated`
        ? true
        : undefined,
    );
    expect(await states(a)).toEqual([`${a}@v1:terminated`, `${a}@v2:active`]);
    expect(await states(b)).toEqual([`${b}@v1:active`]);
  });

  it("changes nothing when the same manifest is applied again", async () => {
    const res = await apply([
      { id: a, provider: "github", handler: HANDLER, events: ["push"] },
      { id: b, provider: "github", events: ["issues.opened"], handler: HANDLER },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ created: [], updated: [], unchanged: [`${a}@v2`, `${b}@v1`], drained: [] });
  });

  it("brings a removed binding back as a new version when it is listed again", async () => {
    const res = await apply([
      { id: a, provider: "github", handler: HANDLER, events: ["push"] },
      { id: b, provider: "github", events: ["issues.opened"], handler: HANDLER },
      { id: c, provider: "stripe", handler: HANDLER, retry: { max_attempts: 3 } },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.unchanged).toEqual([`${a}@v2`, `${b}@v1`]);
    expect([...res.body.created, ...res.body.updated]).toEqual([`${c}@v2`]);
    expect(res.body.drained).toEqual([]);
    expect(await states(c)).toEqual([`${c}@v1:terminated`, `${c}@v2:active`]);
  });

  it("rejects a manifest with an invalid entry, listing problems by path, and applies nothing", async () => {
    const fresh = `${base}-fresh`;
    const res = await apply([
      { id: fresh, provider: "github", handler: HANDLER },
      { id: a, provider: "github", handler: "", colour: "red" },
      { id: b, provider: "github", handler: "ftp://x", retry: { max_attempts: 101 } },
    ]);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    const problems = res.body.error.details.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: "bindings[1].handler", message: "handler URI cannot be empty" },
        { path: "bindings[1].colour", message: "unknown field 'colour'" },
        { path: "bindings[2].handler", message: "unsupported handler URI scheme 'ftp'" },
        { path: "bindings[2].retry.max_attempts", message: "must be at most 100" },
      ]),
    );
    expect(problems).toHaveLength(4);
    // Nothing applied: the valid entry was not created, nothing listed was changed or drained.
    expect((await api("GET", `/v1/bindings/${fresh}`)).status).toBe(404);
    expect(await states(a)).toEqual([`${a}@v1:terminated`, `${a}@v2:active`]);
    expect(await states(b)).toEqual([`${b}@v1:active`]);
    expect(await states(c)).toEqual([`${c}@v1:terminated`, `${c}@v2:active`]);
  });

  it.each<[string, unknown, { path: string; message?: string }]>([
    [
      "duplicate ids",
      [
        { id: "dup-x", provider: "github", handler: HANDLER },
        { id: "dup-x", provider: "github", handler: HANDLER },
      ],
      { path: "bindings[1].id", message: "duplicate id 'dup-x'" },
    ],
    [
      "a missing id",
      [{ provider: "github", handler: HANDLER }],
      { path: "bindings[0].id", message: "required field is missing" },
    ],
    ["an invalid id", [{ id: "-bad", provider: "github", handler: HANDLER }], { path: "bindings[0].id" }],
    ["a numeric id", [{ id: 7, provider: "github", handler: HANDLER }], { path: "bindings[0].id" }],
    ["an entry that is not an object", ["github"], { path: "bindings[0]", message: "expected an object {id, …spec}" }],
    ["an entry that is null", [null], { path: "bindings[0]", message: "expected an object {id, …spec}" }],
    [
      "a spec too large to store",
      [
        {
          id: "dup-x",
          provider: "github",
          handler: HANDLER,
          events: Array.from({ length: 700 }, (_, i) => `k.${i}.${"x".repeat(100)}`),
        },
      ],
      { path: "bindings[0]" },
    ],
  ])("rejects %s → 400 and applies nothing", async (_name, bindings, problem) => {
    const res = await apply(bindings);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.details.problems).toContainEqual(
      problem.message ? problem : expect.objectContaining({ path: problem.path }),
    );
    expect((await api("GET", "/v1/bindings/dup-x")).status).toBe(404);
    expect(await states(a)).toEqual([`${a}@v1:terminated`, `${a}@v2:active`]);
  });

  it.each<[string, unknown]>([
    ["no bindings key", {}],
    ["bindings not an array", { bindings: { id: "x" } }],
    ["an unknown top-level key", { bindings: [], dry_run: true }],
    ["a JSON array body", []],
  ])("rejects a body with %s → 400", async (_name, body) => {
    const res = await api("POST", "/v1/bindings:apply", body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(await states(b)).toEqual([`${b}@v1:active`]);
  });

  it("rejects a non-JSON body → 400", async () => {
    const res = await api("POST", "/v1/bindings:apply", "bindings: []");
    expect(res.status).toBe(400);
    expect(await states(b)).toEqual([`${b}@v1:active`]);
  });

  it("drains everything when the manifest is empty", async () => {
    const res = await apply([]);
    expect(res.status).toBe(200);
    expect(res.body.created).toEqual([]);
    expect(res.body.updated).toEqual([]);
    expect(res.body.unchanged).toEqual([]);
    expect([...res.body.drained].sort()).toEqual([`${a}@v2`, `${b}@v1`, `${c}@v2`]);
    await eventually(async () => ((await states(b)).join() === `${b}@v1:terminated` ? true : undefined));
  });

  it("applies a large manifest in one write and reconciles it back to empty", async () => {
    const many = Array.from({ length: 250 }, (_, i) => ({
      id: `${base}-many-${String(i).padStart(3, "0")}`,
      provider: "github",
      events: [`kind.${i}`],
      handler: HANDLER,
    }));
    const keys = many.map((m) => `${m.id}@v1`);
    const first = await apply(many);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ created: keys, updated: [], unchanged: [], drained: [] });
    const again = await apply(many);
    expect(again.body).toEqual({ created: [], updated: [], unchanged: keys, drained: [] });
    const list = await api("GET", `/v1/bindings?limit=500`);
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect(list.body.items.filter((b: Json) => b.id.startsWith(`${base}-many-`))).toHaveLength(250);
    const emptied = await apply([]);
    expect(emptied.body.drained).toEqual(keys);
  });
});
