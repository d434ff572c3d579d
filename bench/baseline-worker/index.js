// The bare baseline Worker of `npm run bench`: POST any path → insert the body as one D1 row, send
// one queue message, answer 202. No verification, dedupe or routing: what Switchyard's intake is
// measured against (SPEC 17). Plain JS so wrangler loads it without the project's type setup.
export default {
  /** @param {Request} request @param {{ DB: D1Database, QUEUE: Queue }} env */
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/healthz") return Response.json({ ok: true });
    if (request.method !== "POST") return new Response(null, { status: 405 });
    const body = await request.text();
    const id = crypto.randomUUID();
    await env.DB.prepare("INSERT INTO events (id, body, received_at) VALUES (?, ?, ?)")
      .bind(id, body, Date.now())
      .run();
    await env.QUEUE.send({ v: 1, event_id: id }, { contentType: "json" });
    return Response.json({ status: "accepted", event_id: id }, { status: 202 });
  },
  /** @param {MessageBatch} batch */
  async queue(batch) {
    batch.ackAll();
  },
};
