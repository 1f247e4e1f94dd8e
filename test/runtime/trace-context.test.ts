import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childTrace, newSpanId, newTraceId, parseTraceparent, parseTracestate, TRACESTATE_CHARS } from '../../runtime/trace/trace-context.js';
import { prettyLogs } from '../../runtime/logger.js';

// W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/): the cases its test suite checks.

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT = 'b7ad6b7169203331';

test('a version 00 traceparent gives its trace id, parent id and sampled flag; tracestate goes with it', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${PARENT}-01`, 'congo=t61rcWkgMzE'),
    { traceId: TRACE, spanId: PARENT, sampled: true, tracestate: 'congo=t61rcWkgMzE', remote: true });
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.sampled, false);
  // Only the sampled bit counts; other bits are read and not passed on.
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-09`)?.sampled, true);
  assert.equal(parseTraceparent(`00-${TRACE}-${PARENT}-02`)?.sampled, false);
});

test('an invalid traceparent is ignored (a new trace starts), and its tracestate with it', () => {
  const invalid = [
    undefined, '', `00-${TRACE}-${PARENT}`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, `00-${TRACE}-${PARENT.toUpperCase()}-01`,
    `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `ff-${TRACE}-${PARENT}-01`, `0g-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-01-extra`, `00-${TRACE}-${PARENT}-0x`, `00_${TRACE}_${PARENT}_01`, ` 00-${TRACE}-${PARENT}-01`,
    `00-${TRACE}-${PARENT}-01, 00-${TRACE}-${PARENT}-01`, // two traceparent headers, joined by node
    `01-${TRACE}-${PARENT}-01x`, `01-${TRACE}-${PARENT}-0`, `00-${TRACE.slice(1)}-${PARENT}0-01`,
  ];
  for (const header of invalid) assert.equal(parseTraceparent(header, 'a=1'), undefined, String(header));
  assert.equal(parseTraceparent([`00-${TRACE}-${PARENT}-01`]), undefined, 'a list is several headers');
});

test('a higher version is read as far as version 00 goes: its first 55 characters, then the end or a dash', () => {
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${PARENT}-01`), { traceId: TRACE, spanId: PARENT, sampled: true, tracestate: undefined, remote: true });
  assert.equal(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-holds`)?.traceId, TRACE);
  assert.equal(parseTraceparent(`cc-${TRACE}-${PARENT}-01.what`), undefined);
});

test('a trace made here answers version 00, with the parent as given or as the root of a new trace', () => {
  const parent = parseTraceparent(`01-${TRACE}-${PARENT}-01-future`, 'a=1');
  const child = childTrace(parent);
  assert.equal(child.traceId, TRACE);
  assert.equal(child.parentSpanId, PARENT);
  assert.match(child.spanId, /^[0-9a-f]{16}$/);
  assert.equal(child.traceparent, `00-${TRACE}-${child.spanId}-01`);
  assert.equal(child.tracestate, 'a=1');
  const root = childTrace(undefined);
  assert.match(root.traceId, /^[0-9a-f]{32}$/);
  assert.equal(root.parentSpanId, undefined);
  assert.equal(root.sampled, false, 'nothing records it without an SDK');
  assert.equal(root.traceparent, `00-${root.traceId}-${root.spanId}-00`);
  assert.deepEqual(root.asParent(), { traceId: root.traceId, spanId: root.spanId, sampled: false, tracestate: undefined, remote: false });
});

test('ids are random lowercase hex of the right length, never all zero, different each time', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    ids.add(t).add(s);
  }
  assert.equal(ids.size, 4000);
});

test('tracestate: members checked and passed on without optional whitespace or empty members', () => {
  assert.equal(parseTracestate('rojo=00f067aa0ba902b7, congo=t61rcWkgMzE'), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  assert.equal(parseTracestate(' a=1 ,, \t,b=2\t'), 'a=1,b=2');
  assert.equal(parseTracestate(['a=1', 'b=2']), 'a=1,b=2');
  assert.equal(parseTracestate('tenant1@vendor=x,t_-*/@s=y , a=value with spaces'), 'tenant1@vendor=x,t_-*/@s=y,a=value with spaces');
  for (const empty of [undefined, '', ' , ,']) assert.equal(parseTracestate(empty), undefined, String(empty));
});

test('tracestate: an invalid member, a key given twice or more than 32 members drop the whole header', () => {
  const invalid = ['A=1', '1a=1', 'a', '=1', 'a=', 'a=1 x,b', 'a=b=c', 'a=1,a=2', 'a@=1', '@a=1', 'a@B=1', 'a@abcdefghijklmno=1',
    `${'a'.repeat(257)}=1`, `a=${'x'.repeat(257)}`, 'a=x\u0001', 'a=\u00e9'];
  for (const header of invalid) assert.equal(parseTracestate(header), undefined, header);
  const members = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}=v`).join(',');
  assert.equal(parseTracestate(members(32)), members(32));
  assert.equal(parseTracestate(members(33)), undefined);
});

test('tracestate: past 512 characters, members longer than 128 go first, then members from the end', () => {
  const long = `big=${'x'.repeat(200)}`;
  const small = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(15)}`); // 19 characters each
  const kept = parseTracestate([long, ...small].join(','));
  assert.equal(kept, small.join(','), 'the long member is dropped first, the rest fits (399 characters)');
  const many = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(20)}`); // 24 characters each: 749 in all
  const trimmed = parseTracestate(many.join(',')) ?? assert.fail('kept');
  assert.ok(trimmed.length <= TRACESTATE_CHARS);
  assert.equal(trimmed, many.slice(0, 20).join(','), 'whole members from the end: 20 of 24 + 1 characters fit in 512');
});

test('logs are JSON unless asked otherwise or written to a terminal', () => {
  assert.equal(prettyLogs({}, false), false);
  assert.equal(prettyLogs({}, true), true);
  assert.equal(prettyLogs({ ACTORRT_LOG_FORMAT: 'pretty' }, false), true);
  assert.equal(prettyLogs({ ACTORRT_LOG_FORMAT: 'json' }, true), false);
});
