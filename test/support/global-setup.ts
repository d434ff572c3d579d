import type { TestProject } from "vitest/node";
import { startHandlerServer } from "./handler-server";

export default async function setup(project: TestProject) {
  const { server, url } = await startHandlerServer();
  project.provide("handlerUrl", url);
  return async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
