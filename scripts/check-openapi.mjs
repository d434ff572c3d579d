// Validates Switchyard's OpenAPI document with swagger-parser (OpenAPI 3.1 schema, $refs, path
// parameters, unique operation ids). swagger-parser needs Node 22.19+, so run it through npx:
//
//   npx node scripts/check-openapi.mjs http://127.0.0.1:8787/openapi.json
//   npx node scripts/check-openapi.mjs openapi.json
//
// Exit status: 0 valid; 1 invalid or the document could not be read.
import { readFile } from "node:fs/promises";
import SwaggerParser from "@apidevtools/swagger-parser";

const source = process.argv[2];
if (!source) {
  console.error("usage: node scripts/check-openapi.mjs <openapi-url-or-file>");
  process.exit(1);
}

async function load(from) {
  if (!/^https?:\/\//.test(from)) return JSON.parse(await readFile(from, "utf8"));
  const res = await fetch(from);
  if (!res.ok) throw new Error(`GET ${from} answered ${res.status}`);
  return res.json();
}

try {
  const doc = await load(source);
  // validate() dereferences in place; count on the untouched document.
  const operations = Object.values(doc.paths ?? {}).flatMap((item) =>
    ["get", "put", "post", "delete", "patch"].filter((m) => item[m]),
  ).length;
  await SwaggerParser.validate(structuredClone(doc));
  console.log(
    `check-openapi: valid OpenAPI ${doc.openapi}: ${Object.keys(doc.paths).length} paths, ${operations} operations, ${Object.keys(doc.components?.schemas ?? {}).length} schemas`,
  );
} catch (error) {
  console.error(
    `check-openapi: ${source} is not a valid OpenAPI document:\n${error instanceof Error ? error.message : error}`,
  );
  process.exit(1);
}
