import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { singleRange } from '../../../runtime/cache/byte-range.js';
import { ageSeconds, deltaSeconds, parseDirectives, surrogateDirectives, varyNames } from '../../../runtime/cache/cache-control.js';
import { fillFields, notModified, notModifiedFields } from '../../../runtime/cache/conditional.js';
import { currentAge, entryState, lifetimeOf, requestAccepts, requestDirectives, UNTRUSTED_AGE, type FreshnessRules } from '../../../runtime/cache/freshness.js';
import { retention, toStored, updated, varyMatches, varyValues, type StoredReply } from '../../../runtime/cache/storing.js';

const ORIGIN: FreshnessRules = { ttl: 0, override: false, statuses: [200], staleWhileRevalidate: 0, staleIfError: 0 };
const T0 = Date.parse('Mon, 30 Nov 2026 12:00:00 GMT');
const date = (ms: number): string => new Date(ms).toUTCString();
const GET = { method: 'GET', headers: {} };

function stored(headers: Record<string, string | string[]>, rules = ORIGIN, status = 200, req: { method: string; headers: Record<string, string> } = GET): StoredReply | string {
  return toStored(req, { status, headers, body: 'body' }, rules, T0, T0);
}
function entry(headers: Record<string, string | string[]>, rules = ORIGIN): StoredReply {
  const s = stored(headers, rules);
  assert.ok(typeof s !== 'string', `stored: ${String(s)}`);
  return s;
}

test('Cache-Control parsing (RFC 9111 section 5.2): case, quoted strings, first occurrence, delta-seconds', () => {
  assert.equal(parseDirectives('No-Store').get('no-store'), true);
  assert.equal(parseDirectives('max-age=60, private="set-cookie, x"').get('private'), 'set-cookie, x');
  assert.equal(parseDirectives('extension="max-age=3600", max-age=1').get('max-age'), '1', 'a max-age inside a quoted string is not a directive');
  assert.equal(parseDirectives('max-age="3600"').get('max-age'), '3600');
  assert.equal(parseDirectives(['max-age=5', 'max-age=10']).get('max-age'), '5', 'the first occurrence counts');
  assert.equal(deltaSeconds("'3600'"), undefined);
  assert.equal(deltaSeconds('-1'), undefined);
  assert.equal(deltaSeconds('1.5'), undefined);
  assert.equal(deltaSeconds('003600'), 3600);
  assert.equal(deltaSeconds('99999999999'), 2 ** 31, 'capped (section 1.2.2)');
  assert.equal(deltaSeconds(true), undefined);
});

test('parsing never throws and never finds a directive inside a quoted string', () => {
  fc.assert(fc.property(fc.string(), fc.string(), (junk, inner) => {
    parseDirectives(junk);
    const quoted = inner.replace(/["\\]/g, '');
    const parsed = parseDirectives(`ext="${quoted}, max-age=9", no-store`);
    return parsed.get('max-age') === undefined && parsed.get('no-store') === true;
  }), { numRuns: 300 });
});

test('Surrogate-Control: untargeted directives and those targeted at actorrt apply; others are ignored', () => {
  assert.equal(surrogateDirectives('max-age=60').get('max-age'), '60');
  assert.equal(surrogateDirectives('max-age=60;actorrt').get('max-age'), '60');
  assert.equal(surrogateDirectives('max-age=60;cdn').get('max-age'), undefined);
});

test('Age (section 5.1): one non-negative integer, anything else is untrusted', () => {
  assert.equal(ageSeconds(undefined), 0);
  assert.equal(ageSeconds('30'), 30);
  for (const bad of ['abc', '-7200', '7200.0', '7200,0', '0, 0', '7200;foo=bar', ['0', '0']]) assert.equal(ageSeconds(bad), Infinity, String(bad));
});

test('Vary lists: lower case, order kept, duplicates dropped, * wins', () => {
  assert.deepEqual(varyNames('Accept-Encoding, accept-language,ACCEPT-ENCODING'), ['accept-encoding', 'accept-language']);
  assert.deepEqual(varyNames(', *'), ['*']);
  assert.deepEqual(varyNames(['Foo', '*']), ['*']);
});

test('freshness lifetime (section 4.2.1): Surrogate-Control, s-maxage, max-age, Expires minus Date, else the route\'s ttl for listed statuses', () => {
  const life = (headers: Record<string, string>, rules = ORIGIN, status = 200): number => lifetimeOf(status, { date: date(T0), ...headers }, rules, T0, T0).freshUntil - T0;
  assert.equal(life({ 'cache-control': 'max-age=60' }), 60_000);
  assert.equal(life({ 'cache-control': 'max-age=600, s-maxage=60' }), 60_000, 's-maxage first for a shared cache');
  assert.equal(life({ 'cache-control': 'max-age=60', 'surrogate-control': 'max-age=5' }), 5_000);
  assert.equal(life({ expires: date(T0 + 30_000) }), 30_000);
  assert.equal(life({ expires: '0' }), 0, 'an invalid Expires is already expired');
  assert.equal(life({ 'cache-control': "max-age='3600'" }), 0, 'an invalid max-age is stale');
  assert.equal(life({}), 0);
  assert.equal(life({}, { ...ORIGIN, ttl: 10_000 }), 10_000, 'the route\'s ttl where the reply says nothing');
  assert.equal(life({}, { ...ORIGIN, ttl: 10_000 }, 404), 0, 'only for listed statuses');
  assert.equal(life({ 'cache-control': 'max-age=0' }, { ...ORIGIN, ttl: 10_000, override: true }), 10_000, 'freshness: route overrides');
});

test('age (section 4.2.3): the corrected initial age counts Age, Date and the response delay', () => {
  const withAge = lifetimeOf(200, { 'cache-control': 'max-age=60', age: '50', date: date(T0) }, ORIGIN, T0 - 2000, T0);
  assert.equal(withAge.initialAge, 52_000, 'Age plus the response delay');
  assert.equal(withAge.freshUntil, T0 + 8_000);
  const slowDate = lifetimeOf(200, { 'cache-control': 'max-age=60', date: date(T0 - 20_000) }, ORIGIN, T0, T0);
  assert.equal(slowDate.initialAge, 20_000, 'apparent age from a Date in the past');
  const untrusted = lifetimeOf(200, { 'cache-control': 'max-age=3600', age: '0, 0' }, ORIGIN, T0, T0);
  assert.equal(untrusted.initialAge, UNTRUSTED_AGE);
  assert.equal(entryState(untrusted, T0), 'expired');
  assert.equal(currentAge({ initialAge: 3_000, storedAt: T0 }, T0 + 2_500), 5);
});

test('entry states: fresh, then the stale windows, and never fresh for no-cache', () => {
  const rules = { ...ORIGIN, staleWhileRevalidate: 1000, staleIfError: 3000 };
  const e = lifetimeOf(200, { 'cache-control': 'max-age=1', date: date(T0) }, rules, T0, T0);
  assert.equal(entryState(e, T0 + 999), 'fresh');
  assert.equal(entryState(e, T0 + 1500), 'revalidate');
  assert.equal(entryState(e, T0 + 3000), 'stale-if-error');
  assert.equal(entryState(e, T0 + 4000), 'expired');
  for (const cc of ['max-age=1, must-revalidate', 'max-age=1, proxy-revalidate', 'max-age=1, no-cache', 's-maxage=1']) {
    const strict = lifetimeOf(200, { 'cache-control': cc, date: date(T0) }, rules, T0, T0);
    assert.equal(entryState(strict, T0 + 1500), 'expired', `${cc}: no stale serving (section 4.2.4)`);
  }
  const noCache = lifetimeOf(200, { 'cache-control': 'max-age=600, no-cache', date: date(T0) }, rules, T0, T0);
  assert.equal(entryState(noCache, T0), 'expired', 'no-cache: validate on every use');
  assert.equal(lifetimeOf(200, { 'cache-control': 'max-age=1, stale-while-revalidate=9' }, ORIGIN, T0, T0).staleWhileRevalidate, 9000, 'RFC 5861 directive');
});

test('storing (section 3): what a shared cache must not store', () => {
  assert.equal(stored({ 'cache-control': 'max-age=60, private' }), 'private');
  assert.equal(stored({ 'cache-control': 'private="x", max-age=60' }), 'private');
  assert.equal(stored({ 'cache-control': 'nO-StOrE, max-age=60' }), 'no-store');
  assert.equal(stored({ 'cache-control': 'max-age=60' }, ORIGIN, 200, { method: 'GET', headers: { 'cache-control': 'no-store' } }), 'request no-store');
  assert.equal(stored({ 'cache-control': 'max-age=60' }, ORIGIN, 200, { method: 'GET', headers: { authorization: 'Bearer a' } }), 'Authorization');
  assert.equal(stored({}, { ...ORIGIN, ttl: 60_000 }, 200, { method: 'GET', headers: { authorization: 'Bearer a' } }), 'Authorization', 'not even under the route\'s ttl');
  for (const cc of ['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate']) {
    assert.equal(typeof stored({ 'cache-control': cc }, ORIGIN, 200, { method: 'GET', headers: { authorization: 'Bearer a' } }), 'object', `${cc} allows it (section 3.5)`);
  }
  assert.equal(stored({ 'cache-control': 'max-age=60', vary: 'Foo, *' }), 'Vary: *');
  assert.equal(stored({ 'cache-control': 'max-age=60, must-understand' }, ORIGIN, 299), 'must-understand with status 299');
  assert.equal(stored({ 'cache-control': 'max-age=60' }, ORIGIN, 206), 'status 206');
  assert.equal(stored({ 'set-cookie': 'a=1' }, { ...ORIGIN, ttl: 60_000 }), 'Set-Cookie', 'a fallback ttl never shares a cookie');
  assert.equal(typeof stored({ 'set-cookie': 'a=1', 'cache-control': 'max-age=60' }), 'object', 'the origin said it is shareable');
  assert.equal(typeof stored({ 'cache-control': 'max-age=60' }, ORIGIN, 404), 'object', 'stated lifetime: any understood status');
  assert.equal(stored({ 'last-modified': date(T0 - 1000) }, ORIGIN, 201), 'status 201 without a stated lifetime');
  assert.equal(typeof stored({ etag: '"a"' }), 'object', 'a 200 with a validator is kept to be revalidated');
  assert.equal(stored({ 'surrogate-control': 'no-store', 'cache-control': 'max-age=60' }), 'no-store');
  assert.equal(typeof stored({ 'surrogate-control': 'max-age=60', 'cache-control': 'no-store' }), 'object', 'Surrogate-Control takes precedence');
  assert.equal(toStored({ method: 'POST', headers: {} }, { status: 200, headers: { 'cache-control': 'max-age=60' }, body: '' }, ORIGIN, T0, T0), 'method POST');
});

test('stored fields (section 3.1): hop-by-hop, Connection-listed and per-exchange fields are dropped; Date is kept or added', () => {
  const e = entry({ 'cache-control': 'max-age=60', connection: 'a, b', a: '1', b: '2', c: '3', 'keep-alive': 'x', 'proxy-authenticate': 'x', age: '3', 'x-request-id': 'r', 'Set-Cookie': 'a=1' });
  assert.deepEqual(Object.keys(e.headers).sort(), ['c', 'cache-control', 'content-type', 'date', 'set-cookie']);
  assert.equal(e.headers['date'], date(T0));
  assert.equal(entry({ 'cache-control': 'max-age=60', date: date(T0 - 5000) }).headers['date'], date(T0 - 5000), 'the origin\'s Date is kept');
});

test('a 304 updates the stored fields except those describing the stored bytes (sections 3.2, 4.3.4)', () => {
  const old = entry({ 'cache-control': 'max-age=1', etag: '"a"', 'content-encoding': 'gzip', 'x-version': '1', date: date(T0) });
  const fresh = updated(old, { status: 304, headers: { 'cache-control': 'max-age=60', etag: '"b"', 'content-encoding': 'br', 'x-version': '2', 'content-length': '9', date: date(T0 + 5000) }, body: undefined }, ORIGIN, T0 + 5000, T0 + 5000);
  assert.equal(fresh.headers['x-version'], '2');
  assert.equal(fresh.headers['cache-control'], 'max-age=60');
  assert.equal(fresh.headers['etag'], '"a"');
  assert.equal(fresh.headers['content-encoding'], 'gzip');
  assert.equal(fresh.headers['content-length'], undefined);
  assert.equal(fresh.body, 'body');
  assert.equal(fresh.freshUntil, T0 + 65_000);
});

test('client conditionals (RFC 9110 section 13.2.2): If-None-Match by weak comparison first, else If-Modified-Since', () => {
  const e = entry({ 'cache-control': 'max-age=60', etag: 'W/"v1"', 'last-modified': date(T0 - 60_000) });
  assert.ok(notModified({ 'if-none-match': '"v1"' }, e));
  assert.ok(notModified({ 'if-none-match': '"x", W/"v1"' }, e));
  assert.ok(notModified({ 'if-none-match': '*' }, e));
  assert.ok(!notModified({ 'if-none-match': '"v2"', 'if-modified-since': date(T0) }, e), 'If-None-Match takes precedence');
  assert.ok(notModified({ 'if-modified-since': date(T0) }, e));
  assert.ok(!notModified({ 'if-modified-since': date(T0 - 120_000) }, e));
  assert.ok(!notModified({ 'if-none-match': '"v1"' }, { status: 404, headers: e.headers }), 'only a 200 becomes a 304');
  assert.deepEqual(notModifiedFields(e).filter((_, i) => i % 2 === 0), ['cache-control', 'date', 'etag', 'last-modified']);
});

test('a fill drops the client\'s conditionals and Range, adds the stored validators and this cache\'s capability', () => {
  const e = entry({ 'cache-control': 'max-age=1', etag: '"v1"', 'last-modified': date(T0) });
  const fields = fillFields({ 'if-none-match': '"mine"', range: 'bytes=0-1', 'if-match': '"x"', accept: 'text/plain' }, e);
  assert.deepEqual(fields, { accept: 'text/plain', 'surrogate-capability': 'actorrt="Surrogate/1.0"', 'if-none-match': '"v1"', 'if-modified-since': date(T0) });
  assert.deepEqual(fillFields({ 'if-modified-since': date(T0) }, undefined), { 'surrogate-capability': 'actorrt="Surrogate/1.0"' });
});

test('Vary selection (section 4.1): every listed field must match, an absent field matches only absent', () => {
  const values = varyValues(['accept-encoding', 'x-a'], { 'accept-encoding': 'gzip,  br' });
  assert.ok(varyMatches(values, { 'accept-encoding': 'gzip, br' }));
  assert.ok(!varyMatches(values, { 'accept-encoding': 'gzip, br', 'x-a': '' }));
  assert.ok(!varyMatches(values, {}));
  assert.ok(varyMatches(undefined, { anything: 'x' }));
});

test('request directives, where a route lets clients ask (section 5.2.1)', () => {
  const e = lifetimeOf(200, { 'cache-control': 'max-age=60', date: date(T0) }, ORIGIN, T0, T0);
  const at = { ...e, storedAt: T0 };
  assert.ok(requestAccepts(requestDirectives({}), at, T0 + 10_000));
  assert.ok(!requestAccepts(requestDirectives({ 'cache-control': 'no-cache' }), at, T0));
  assert.ok(!requestAccepts(requestDirectives({ pragma: 'no-cache' }), at, T0), 'Pragma without Cache-Control (section 5.4)');
  assert.ok(!requestAccepts(requestDirectives({ 'cache-control': 'max-age=5' }), at, T0 + 10_000));
  assert.ok(!requestAccepts(requestDirectives({ 'cache-control': 'min-fresh=55' }), at, T0 + 10_000));
  assert.ok(requestDirectives({ 'cache-control': 'only-if-cached' }).onlyIfCached);
});

test('retention: while fresh or usable stale, and at least the store ttl when it can be revalidated', () => {
  const plain = entry({ 'cache-control': 'max-age=60' });
  assert.equal(retention(plain, T0, 30_000), 60_000);
  const validator = entry({ 'cache-control': 'max-age=1', etag: '"a"' });
  assert.equal(retention(validator, T0, 30_000), 30_000);
});

test('one byte range of a stored reply (RFC 9110 section 14.1.2); anything else is left to the origin', () => {
  assert.deepEqual(singleRange('bytes=0-1', 10), { start: 0, end: 1 });
  assert.deepEqual(singleRange('bytes=4-', 10), { start: 4, end: 9 });
  assert.deepEqual(singleRange('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(singleRange('bytes=-30', 10), { start: 0, end: 9 });
  assert.deepEqual(singleRange('bytes=5-99', 10), { start: 5, end: 9 });
  assert.equal(singleRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(singleRange('bytes=-0', 10), 'unsatisfiable');
  for (const other of ['bytes=0-1,3-4', 'items=0-1', 'bytes=5-2', 'bytes=-', 'junk', ['bytes=0-1', 'bytes=2-3']]) assert.equal(singleRange(other, 10), undefined, String(other));
});
