import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReport, runChaos } from '../../bench/chaos.js';
import { needServer, POSTGRES_URL, REDIS_URL } from './services.js';

/**
 * The chaos script's short form (npm run chaos runs it for 20 s): front workers and pool
 * processes killed with -9, PostgreSQL and Redis cut or frozen, under load. No request may hang,
 * the instance must return to full size and health by itself, and stop cleanly.
 */
test('chaos, short form: no hung request, full recovery, clean stop', { timeout: 120_000 }, async (t) => {
  if (!await needServer(t, POSTGRES_URL) || !await needServer(t, REDIS_URL)) return;
  const seed = Number(process.env['CHAOS_SEED'] ?? Date.now() % 100_000);
  const report = await runChaos({ seconds: 8, seed, postgres: POSTGRES_URL, redis: REDIS_URL, connections: 4 });
  const summary = formatReport(report, seed);
  process.stdout.write(`${summary.replace(/^/gm, '# ')}\n`);
  assert.ok(Object.values(report.faults).reduce((a, b) => a + b, 0) >= 4, `faults were injected\n${summary}`);
  assert.ok((report.statuses['200'] ?? 0) > 100, `the load ran\n${summary}`);
  assert.equal(report.hung, 0, `no request hung\n${summary}`);
  assert.ok(report.recovered, `back to full size and health\n${summary}`);
  assert.deepEqual(report.afterRecovery, [], `every route answers after recovery\n${summary}`);
  assert.equal(report.exitCode, 0, `clean stop\n${summary}`);
});
