// Values globalSetup (Node) hands to tests (workerd) through `project.provide` / `inject`.
declare module "vitest" {
  export interface ProvidedContext {
    handlerUrl: string;
  }
}

export {};
