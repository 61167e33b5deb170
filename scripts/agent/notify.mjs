#!/usr/bin/env node
// Tells the agent on the BOINC server that main moved: one signed POST to its listener
// (`axiom agent --listen`). The body names the commit, when it was sent and a delivery id; the
// signature is HMAC-SHA256 of the exact body with the shared secret, in X-Axiom-Signature-256.
// The agent never acts on the commit named here: it fetches main itself. Standard library only,
// so the deploy workflow runs it without installing anything.
//   AXIOM_AGENT_URL             the listener, e.g. https://boinc.example.org/axiom-agent/hook
//                               (unset: nothing is sent; the agent finds main by polling)
//   AXIOM_AGENT_WEBHOOK_SECRET  the shared secret
//   GITHUB_SHA, GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT  set by GitHub Actions
import { createHmac, randomUUID } from 'node:crypto';

const url = process.env.AXIOM_AGENT_URL ?? '';
const secret = process.env.AXIOM_AGENT_WEBHOOK_SECRET ?? '';
if (url === '') {
  console.log('AXIOM_AGENT_URL is not set: nothing sent; the agent finds main by polling');
  process.exit(0);
}
if (secret.length < 32) {
  console.error(
    "AXIOM_AGENT_WEBHOOK_SECRET must be set to the agent's shared secret (32 characters or more)",
  );
  process.exit(1);
}
const commit = process.env.GITHUB_SHA ?? '';
if (!/^[0-9a-f]{40}$/.test(commit)) {
  console.error(`GITHUB_SHA must be a commit id; found ${JSON.stringify(commit)}`);
  process.exit(1);
}
const run = process.env.GITHUB_RUN_ID;
const delivery = run ? `${run}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}` : randomUUID();
const body = JSON.stringify({
  event: 'main-moved',
  commit,
  sent_at: Math.floor(Date.now() / 1000),
  delivery,
});
const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
let response;
try {
  response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-axiom-signature-256': signature },
    body,
    signal: AbortSignal.timeout(30_000),
  });
} catch (error) {
  console.error(
    `cannot reach the agent at ${url}: ${error.cause?.message ?? error.message}; it will still find main by polling`,
  );
  process.exit(1);
}
const text = (await response.text()).slice(0, 500);
if (!response.ok) {
  console.error(`the agent refused the notice (HTTP ${response.status}): ${text}`);
  process.exit(1);
}
console.log(`the agent took the notice for ${commit.slice(0, 12)} (HTTP ${response.status})`);
