import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActorrtError } from '../../../runtime/errors.js';
import { toSample } from '../../../runtime/top/sample.js';
import { statusOf } from './samples.js';

const family = { name: 'actorrt_http_requests_total', help: 'h', type: 'counter', aggregator: 'sum', values: [{ labels: { pool: 'api', status: '200' }, value: 3 }] };

function codeOf(answer: unknown): string {
  try {
    toSample(answer, 0);
  } catch (err) {
    assert.ok(err instanceof ActorrtError, String(err));
    return `${err.code} ${err.message}`;
  }
  assert.fail('the answer was accepted');
}

test('toSample accepts the metrics answer: the status and every family by name, histogram parts named by metricName', () => {
  const bucket = { name: 'http_server_request_duration_seconds', help: 'h', type: 'histogram', aggregator: 'sum',
    values: [{ labels: { pool: 'api', le: '+Inf' }, value: 3, metricName: 'http_server_request_duration_seconds_bucket' }] };
  const s = toSample({ status: statusOf(), families: [family, bucket] }, 1234);
  assert.equal(s.at, 1234);
  assert.equal(s.status.pid, 100);
  assert.deepEqual(s.families.get('actorrt_http_requests_total')?.values, [{ labels: { pool: 'api', status: '200' }, value: 3 }]);
  assert.equal(s.families.get('http_server_request_duration_seconds')?.values[0]?.metricName, 'http_server_request_duration_seconds_bucket');
});

test('toSample refuses an answer of another shape as ACTORRT_E_INTERNAL naming the field, never reading it unchecked', () => {
  assert.match(codeOf(null), /^ACTORRT_E_INTERNAL .*answer: expected an object/);
  assert.match(codeOf({ families: [] }), /^ACTORRT_E_INTERNAL .*answer\.status/);
  assert.match(codeOf({ status: statusOf(), families: 'x' }), /^ACTORRT_E_INTERNAL .*answer\.families: expected an array/);
  assert.match(codeOf({ status: statusOf(), families: [{ ...family, type: 'summary' }] }), /answer\.families\[0\]\.type: expected one of counter, gauge, histogram/);
  assert.match(codeOf({ status: statusOf(), families: [{ ...family, values: [{ labels: { pool: 'api' }, value: '3' }] }] }), /values\[0\]\.value: expected a number/);
  assert.match(codeOf({ status: statusOf(), families: [{ ...family, values: [{ labels: { pool: {} }, value: 3 }] }] }), /labels\.pool: expected a string/);
});

test('toSample revives an error the primary answered with as the same coded error', () => {
  assert.match(codeOf({ error: 'collecting failed', code: 'ACTORRT_E_ADMIN_UNAVAILABLE' }), /^ACTORRT_E_ADMIN_UNAVAILABLE .*collecting failed/);
  assert.match(codeOf({ error: 'boom' }), /^ACTORRT_E_INTERNAL .*boom/);
});
