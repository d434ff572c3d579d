import type { TestProject } from "vitest/node";
import { startA2aAgents } from "./a2a-agents";
import { startHandlerServer } from "./handler-server";

export default async function setup(project: TestProject) {
  const { server, url } = await startHandlerServer();
  project.provide("handlerUrl", url);
  const agents = await startA2aAgents();
  project.provide("a2aAgentPorts", agents.ports);
  return async () => {
    await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), agents.close()]);
  };
}
