import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logLines, writeProject } from '../helpers.js';
import { startInstance } from './instance.js';

// Log format through the real CLI: its stderr is a pipe here, not a terminal.

const TOPOLOGY = `version: 1
http: { port: 0, host: 127.0.0.1, workers: 1 }
pools:
  api: { actor: ./actors/api.ts }
routes:
  - match: { method: GET, path: /a }
    pool: api
`;

test('logs stay JSON lines when stderr is not a terminal', async (t) => {
  const app = await startInstance(writeProject(TOPOLOGY), [], t, { ACTORRT_LOG_FORMAT: '' });
  await app.stop();
  const lines = logLines(app.stderr());
  assert.ok(lines.some((l) => l['msg'] === 'worker ready' && l['role'] === 'worker'), app.stderr());
  assert.ok(!/\bINFO\b/.test(app.stderr()), 'no pino-pretty line');
});

test('--pretty gives pino-pretty lines in every process, no JSON', async (t) => {
  const app = await startInstance(writeProject(TOPOLOGY), ['--pretty'], t, { ACTORRT_LOG_FORMAT: '' });
  await app.stop();
  const err = app.stderr();
  assert.match(err, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): worker ready \{.*"role":"worker"/m, err);
  assert.match(err, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): .*"role":"primary"/m, 'the primary too');
  assert.equal(logLines(err).length, 0, 'no JSON line');
  assert.ok(!err.includes('\u001b['), 'no colours on a pipe');
});
