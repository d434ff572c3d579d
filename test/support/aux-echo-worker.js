// Auxiliary Worker reached through the ECHO service binding (service://ECHO/...).
// Echoes the dispatch back so tests can see what a service handler receives.
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const body = await request.text();
    if (url.pathname === "/fail") return new Response(JSON.stringify({ error: "echo failure" }), { status: 500 });
    return Response.json({
      path: url.pathname,
      headers: Object.fromEntries(request.headers),
      body: body ? JSON.parse(body) : null,
    });
  },
};
