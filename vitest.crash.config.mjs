// The crash run of `npm run test:reliability`: a real `npm start` killed and restarted (Node, not workerd).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/reliability/**/*.node.mjs"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 240_000,
  },
});
