/**
 * `GET /v1/circuits` (SPEC 10, 19). Destination objects cannot be enumerated, so the list is the
 * destinations of every binding version that can still dispatch, each asked for its state.
 */
import { knownDestinations } from "../../circuit/known-destinations";
import { tenantScope } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";

export function circuitRoutes() {
  return new RouteGroup("/v1/circuits", "Observability").on(
    {
      method: "get",
      path: "/",
      operationId: "listCircuits",
      summary: "Destination circuit breakers",
      auth: "admin",
      responses: {
        200: { description: "One item per known destination.", json: named("CircuitList", s.circuitListSchema) },
      },
    },
    async (c) => {
      // A tenant key sees the circuits of its own bindings' destinations.
      const destinations = await knownDestinations(c.env.DB, tenantScope(c));
      const items = await Promise.all(destinations.map((d) => c.env.DESTINATION.getByName(d).state()));
      return c.json({ items });
    },
  );
}
