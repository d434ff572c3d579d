/**
 * What the local state files hold (SQLite `dbstat` over every D1 and Durable Object database under a
 * state directory): bytes used by tables and indexes, and rows. Read with python3's sqlite3 (the
 * machine's, as `../shared/tools/footprint.mjs` does), on read-only connections.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface StorageUsage {
  bytes: number;
  rows: number;
  files: number;
}

function sqliteFiles(dir: string, part: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".sqlite") && p.includes(part)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

const SCRIPT = `
import sqlite3, sys, json
tot = {"bytes": 0, "rows": 0, "files": 0}
for p in sys.argv[1:]:
    try:
        c = sqlite3.connect("file:" + p + "?mode=ro", uri=True)
        tot["bytes"] += c.execute("select coalesce(sum(pgsize),0) from dbstat").fetchone()[0]
        for (t,) in c.execute("select name from sqlite_master where type='table' and name not like 'sqlite_%' and name not like '_cf_%'"):
            tot["rows"] += c.execute('select count(*) from "%s"' % t.replace('"', '""')).fetchone()[0]
        tot["files"] += 1
    except Exception:
        pass
print(json.dumps(tot))`;

/** Usage of the D1 (`/d1/`) or Durable Object (`/do/`) databases under `stateDir`. */
export function storageUsage(stateDir: string, kind: "d1" | "do"): StorageUsage {
  const files = sqliteFiles(stateDir, `/${kind}/`);
  if (files.length === 0) return { bytes: 0, rows: 0, files: 0 };
  try {
    return JSON.parse(execFileSync("python3", ["-c", SCRIPT, ...files], { encoding: "utf8" })) as StorageUsage;
  } catch {
    return { bytes: 0, rows: 0, files: 0 };
  }
}
