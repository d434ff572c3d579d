import { describe, expect, it } from "vitest";
import { monotonicUuidv7, newEventId, type Uuidv7State } from "../../../src/lib/ids";

const T0 = 1_700_000_000_000;
const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (uuid: string) => Number.parseInt(uuid.replaceAll("-", "").slice(0, 12), 16);

describe("monotonicUuidv7", () => {
  it("produces RFC 9562 version 7 / variant 10 ids carrying the timestamp", () => {
    const id = monotonicUuidv7({ lastMs: -1, counter: 0 }, T0);
    expect(id).toMatch(UUIDV7);
    expect(msOf(id)).toBe(T0);
  });

  it("is strictly increasing within one millisecond", () => {
    const state: Uuidv7State = { lastMs: -1, counter: 0 };
    const ids = Array.from({ length: 1000 }, () => monotonicUuidv7(state, T0));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => msOf(id) === T0)).toBe(true);
  });

  it("stays increasing when the clock goes backwards", () => {
    const state: Uuidv7State = { lastMs: -1, counter: 0 };
    const a = monotonicUuidv7(state, T0 + 10);
    const b = monotonicUuidv7(state, T0);
    expect(b > a).toBe(true);
    expect(msOf(b)).toBe(T0 + 10);
  });

  it("moves to the next millisecond when the counter overflows", () => {
    const state: Uuidv7State = { lastMs: T0, counter: 0xfff };
    const id = monotonicUuidv7(state, T0);
    expect(msOf(id)).toBe(T0 + 1);
    expect(id).toMatch(UUIDV7);
    const ids = Array.from({ length: 5000 }, () => monotonicUuidv7(state, T0));
    expect([...ids].sort()).toEqual(ids);
  });

  it("sorts by time across milliseconds", () => {
    const state: Uuidv7State = { lastMs: -1, counter: 0 };
    const ids = [T0, T0 + 1, T0 + 1000, T0 + 86_400_000].map((t) => monotonicUuidv7(state, t));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe("newEventId", () => {
  it("prefixes evt_ and increases across calls with the same time", () => {
    const ids = Array.from({ length: 50 }, () => newEventId(T0 + 5));
    expect(ids.every((id) => /^evt_/.test(id) && UUIDV7.test(id.slice(4)))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
  });
});
