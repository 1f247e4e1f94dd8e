import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { compileTrust, trustEntryProblem, type TrustProxy } from '../../config/trust-proxy.js';
import { clientResolver, type ClientAddress } from '../../runtime/worker/client-address.js';
import { forwardedHeaders } from '../../runtime/worker/proxy.js';
import { assertIssue, issuesOf, load, MINIMAL } from '../helpers.js';

/** A request as node:http hands it over, as far as client resolution and forwarding read it. */
function request(peer: string | undefined, headers: Record<string, string | string[]> = {}, tls = false): IncomingMessage {
  const socket = tls ? { remoteAddress: peer, encrypted: true } : { remoteAddress: peer };
  return { socket, headers: { host: 'shop.example', ...headers } } as unknown as IncomingMessage;
}

function resolve(setting: TrustProxy, peer: string | undefined, headers: Record<string, string | string[]> = {}, tls = false): ClientAddress {
  return clientResolver(setting).resolve(request(peer, headers, tls));
}

const BEHIND_LB = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };

test('trusting nobody (the default): the peer is the client and the connection says the protocol, whatever the headers claim', () => {
  for (const setting of [false, 0, []] as const) {
    assert.deepEqual(resolve(setting, '10.0.0.5', BEHIND_LB), { peer: '10.0.0.5', peerTrusted: false, ip: '10.0.0.5', protocol: 'http' }, String(setting));
    assert.equal(resolve(setting, '10.0.0.5', BEHIND_LB, true).protocol, 'https', 'a TLS connection is https');
  }
});

test('a trusted load balancer: the client is the address it appended, the protocol the one it saw', () => {
  assert.deepEqual(resolve(['10.0.0.5'], '10.0.0.5', BEHIND_LB), { peer: '10.0.0.5', peerTrusted: true, ip: '203.0.113.9', protocol: 'https' });
  assert.deepEqual(resolve(['10.0.0.5'], '10.0.0.6', BEHIND_LB), { peer: '10.0.0.6', peerTrusted: false, ip: '10.0.0.6', protocol: 'http' }, 'another peer is not believed');
  assert.equal(resolve(['10.0.0.5'], '10.0.0.5', { 'x-forwarded-for': '203.0.113.9' }, true).protocol, 'https', 'no X-Forwarded-Proto: the connection decides');
  assert.equal(resolve(['10.0.0.5'], '10.0.0.5', {}).ip, '10.0.0.5', 'no X-Forwarded-For: the peer is the client');
});

test('X-Forwarded-For is walked from the right while each hop is trusted; a spoofed left part is never taken', () => {
  const chain = { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.0.0.7' }; // client claims 6.6.6.6; LB 10.0.0.7 saw 203.0.113.9
  assert.equal(resolve(['10.0.0.0/8'], '10.0.0.5', chain).ip, '203.0.113.9');
  assert.equal(resolve(['10.0.0.5'], '10.0.0.5', chain).ip, '10.0.0.7', 'only the peer is trusted: the next hop is the client');
  assert.equal(resolve(1, '10.0.0.5', chain).ip, '10.0.0.7', 'one hop');
  assert.equal(resolve(2, '10.0.0.5', chain).ip, '203.0.113.9', 'two hops');
  assert.equal(resolve(true, '10.0.0.5', chain).ip, '6.6.6.6', 'trusting every hop believes the left-most claim');
  assert.equal(resolve(['10.0.0.0/8'], '10.0.0.5', { 'x-forwarded-for': '203.0.113.9,10.0.0.7' }).ip, '203.0.113.9', 'repeated headers, joined by node:http');
  assert.equal(resolve(['10.0.0.0/8'], '10.0.0.5', { 'x-forwarded-for': 'bogus, 10.0.0.7' }).ip, 'bogus', 'what the trusted chain says, as Express does');
});

test('CIDRs, netmasks and presets, IPv4 and IPv6; IPv4-mapped peers match IPv4 entries', () => {
  const trusted = (setting: TrustProxy, peer: string): boolean => resolve(setting, peer, BEHIND_LB).peerTrusted;
  assert.equal(trusted(['127.0.0.1'], '::ffff:127.0.0.1'), true, 'a dual-stack socket reports IPv4 peers mapped');
  assert.equal(trusted(['10.0.0.0/8'], '::ffff:10.1.2.3'), true);
  assert.equal(trusted(['10.0.0.0/255.0.0.0'], '10.200.0.1'), true);
  assert.equal(trusted(['10.0.0.0/8'], '11.0.0.1'), false);
  assert.equal(trusted(['fd00::/8'], 'fd12::1'), true);
  assert.equal(trusted(['fd00::/8'], 'fe80::1'), false);
  assert.equal(trusted(['loopback'], '127.0.0.9'), true);
  assert.equal(trusted(['loopback'], '::1'), true);
  assert.equal(trusted(['loopback'], '::ffff:127.0.0.1'), true);
  assert.equal(trusted(['linklocal'], '169.254.1.1'), true);
  assert.equal(trusted(['linklocal'], 'fe80::1'), true);
  assert.equal(trusted(['uniquelocal'], '192.168.1.1'), true);
  assert.equal(trusted(['uniquelocal'], '172.31.0.1'), true);
  assert.equal(trusted(['uniquelocal'], 'fd00::1'), true);
  assert.equal(trusted(['uniquelocal'], '8.8.8.8'), false);
  assert.equal(trusted(['::1'], '127.0.0.1'), false, 'an IPv6 entry does not match IPv4');
  assert.equal(trusted(['10.0.0.5'], ''), false, 'a socket already gone is nobody');
  assert.equal(resolve(true, undefined).ip, '');
});

test('X-Forwarded-Proto from a trusted peer: its first value, http or https (ws / wss as those); anything else is not believed', () => {
  const proto = (value: string | string[], tls = false): string => resolve(['10.0.0.5'], '10.0.0.5', { 'x-forwarded-proto': value }, tls).protocol;
  assert.equal(proto('HTTPS'), 'https');
  assert.equal(proto('https, http'), 'https');
  assert.equal(proto(' http ,https'), 'http');
  assert.equal(proto('wss'), 'https');
  assert.equal(proto('ws', true), 'http');
  assert.equal(proto(['https', 'http']), 'https');
  assert.equal(proto('gopher'), 'http');
  assert.equal(proto('gopher', true), 'https');
  assert.equal(proto(''), 'http');
});

test('trustProxy entries: addresses, CIDRs and presets compile; anything else is named with proxy-addr\'s reason', () => {
  for (const entry of ['127.0.0.1', '10.0.0.0/8', '10.0.0.0/255.0.0.0', '::1', 'fd00::/8', '::ffff:10.0.0.1', 'loopback', 'linklocal', 'uniquelocal']) {
    assert.equal(trustEntryProblem(entry), undefined, entry);
  }
  for (const entry of ['10.0.0.0/33', '10.0.0.0/0', 'fd00::/129', 'localhost', '10.0.0.256', '10.0.0.0/8x', 'Loopback', ' 10.0.0.1']) {
    assert.match(trustEntryProblem(entry) ?? '', /invalid/, entry);
  }
  assert.equal(compileTrust(3)('anything', 2), true);
  assert.equal(compileTrust(3)('anything', 3), false);
});

test('http.trustProxy loads as false by default, a list, a single entry (a list of one), a hop count or true', () => {
  const withTrust = (value: string): TrustProxy => load(MINIMAL.replace('version: 1\n', `version: 1\nhttp:\n  trustProxy: ${value}\n`)).http.trustProxy;
  assert.equal(load(MINIMAL).http.trustProxy, false);
  assert.deepEqual(withTrust('[loopback, 10.0.0.0/8, "fd00::/8"]'), ['loopback', '10.0.0.0/8', 'fd00::/8']);
  assert.deepEqual(withTrust('uniquelocal'), ['uniquelocal']);
  assert.equal(withTrust('2'), 2);
  assert.equal(withTrust('true'), true);
  assert.deepEqual(withTrust('[]'), [], 'an empty list trusts nobody');
});

test('a bad http.trustProxy entry is a config error at its line:col, with the fix', () => {
  const topology = (value: string): string => MINIMAL.replace('version: 1\n', `version: 1\nhttp:\n  trustProxy: ${value}\n`);
  assertIssue(topology('[loopback, 10.0.0.0/33]'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 26, message: /"10\.0\.0\.0\/33" is not an address, a CIDR or a preset/, hint: /CIDRs/ });
  assertIssue(topology('localhost'), { code: 'ACTORRT_E_CONFIG_VALUE', line: 3, col: 15, message: /"localhost"/ });
  for (const value of ['-1', '1.5', '{ a: 1 }', '""']) {
    const issue = issuesOf(topology(value))[0];
    assert.equal(issue?.path, 'http.trustProxy', value);
    assert.deepEqual([issue.position.line, issue.position.col], [3, 15], value);
  }
});

test('forwarded headers from an untrusted peer: X-Forwarded-For is the peer alone, proto and host what actorrt saw, other claims dropped', () => {
  const req = request('198.51.100.4', {
    ...BEHIND_LB, forwarded: 'for=6.6.6.6;proto=https', 'x-real-ip': '6.6.6.6', 'x-forwarded-port': '443', 'x-forwarded-prefix': '/admin',
    'cf-connecting-ip': '6.6.6.6', 'true-client-ip': '6.6.6.6', 'x-custom': 'kept', connection: 'x-hop', 'x-hop': 'dropped', 'x-request-id': 'theirs',
  });
  const client = clientResolver(['10.0.0.0/8']).resolve(req);
  assert.deepEqual(forwardedHeaders(req, 'req-1', client), {
    'x-custom': 'kept', 'x-forwarded-for': '198.51.100.4', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'shop.example', 'x-request-id': 'req-1',
  });
  const tls = request('198.51.100.4', { 'x-forwarded-proto': 'http' }, true);
  assert.equal(forwardedHeaders(tls, 'r', clientResolver(false).resolve(tls))['x-forwarded-proto'], 'https');
});

test('forwarded headers from a trusted peer: proto, host and the other claims kept as they came, the peer appended to X-Forwarded-For', () => {
  const req = request('10.0.0.5', { ...BEHIND_LB, 'x-forwarded-proto': 'https, http', forwarded: 'for=203.0.113.9', 'x-real-ip': '203.0.113.9', 'x-forwarded-port': '443' });
  const headers = forwardedHeaders(req, 'req-2', clientResolver(['10.0.0.5']).resolve(req));
  assert.deepEqual(headers, {
    forwarded: 'for=203.0.113.9', 'x-real-ip': '203.0.113.9', 'x-forwarded-port': '443',
    'x-forwarded-for': '203.0.113.9, 10.0.0.5', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'shop.example', 'x-request-id': 'req-2',
  });
  const bare = request('10.0.0.5', { host: 'api.internal:8080' });
  assert.deepEqual(forwardedHeaders(bare, 'r', clientResolver(['10.0.0.5']).resolve(bare)), {
    'x-forwarded-for': '10.0.0.5', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.internal:8080', 'x-request-id': 'r',
  }, 'what the trusted peer left out is set from this connection');
  const listed = request('10.0.0.5', { 'x-forwarded-for': '1.1.1.1, 2.2.2.2' });
  assert.equal(forwardedHeaders(listed, 'r', clientResolver(true).resolve(listed))['x-forwarded-for'], '1.1.1.1, 2.2.2.2, 10.0.0.5');
});
