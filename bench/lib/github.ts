/** GitHub-style webhook deliveries for the benchmark: a realistic `issues` body, signed like GitHub. */
import { createHmac, randomUUID } from "node:crypto";
import type { Call } from "./http.ts";

/** An `issues` webhook body (≈ 2 KB, the shape GitHub sends) for issue number `n`. */
export function issuesBody(n: number, action: string): string {
  const user = {
    login: "octocat",
    id: 583231,
    node_id: "MDQ6VXNlcjU4MzIzMQ==",
    avatar_url: "https://avatars.githubusercontent.com/u/583231?v=4",
    html_url: "https://github.com/octocat",
    type: "User",
    site_admin: false,
  };
  return JSON.stringify({
    action,
    issue: {
      url: `https://api.github.com/repos/acme/app/issues/${n}`,
      html_url: `https://github.com/acme/app/issues/${n}`,
      id: 1_000_000 + n,
      node_id: `I_kwDOBench${n}`,
      number: n,
      title: `Crash on start when the config file is missing (#${n})`,
      user,
      labels: [{ id: 208045946, name: "bug", color: "f29513", default: true }],
      state: action === "closed" ? "closed" : "open",
      locked: false,
      assignees: [],
      comments: 0,
      created_at: "2026-11-26T08:00:00Z",
      updated_at: "2026-11-26T08:00:00Z",
      author_association: "OWNER",
      body: "Steps to reproduce:\n1. Remove config.yml\n2. Run `app start`\n\nExpected: a helpful error. Actual: a stack trace.",
    },
    repository: {
      id: 1296269,
      node_id: "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
      name: "app",
      full_name: "acme/app",
      private: false,
      owner: user,
      html_url: "https://github.com/acme/app",
      default_branch: "main",
    },
    sender: user,
  });
}

export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A signed delivery of an `issues.<action>` event with a unique X-GitHub-Delivery. */
export function githubDelivery(url: string, secret: string, n: number, action: string): Call {
  const body = issuesBody(n, action);
  return {
    method: "POST",
    url,
    headers: {
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/bench",
      "x-github-event": "issues",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": githubSignature(secret, body),
    },
    body,
  };
}
