// Values globalSetup (Node) hands to tests (workerd) through `project.provide` / `inject`.
declare module "vitest" {
  export interface ProvidedContext {
    handlerUrl: string;
    /** Ports of the `@a2a-js/sdk` agents on 127.0.0.1 (see test/support/a2a-agents.ts). */
    a2aAgentPorts: { completing: number; working: number; flaky: number; legacy: number };
  }
}

export {};
