import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { INSTALLED_VERSION_MODULE, protocolMismatch } from '../../runtime/primary/installed-protocol.js';
import { PROTOCOL_VERSION } from '../../runtime/protocol/version.js';

test('the install this primary runs from speaks its protocol: a reload may fork from it', { timeout: 5000 }, async () => {
  assert.equal(await protocolMismatch(INSTALLED_VERSION_MODULE), undefined);
});

test('an install upgraded on disk to another protocol is named with both versions, read afresh each time', { timeout: 5000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'actorrt-installed-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const module = join(dir, 'version.js');
  writeFileSync(module, `export const PROTOCOL_VERSION = ${PROTOCOL_VERSION};\n`);
  assert.equal(await protocolMismatch(pathToFileURL(module)), undefined);
  writeFileSync(module, `export const PROTOCOL_VERSION = ${PROTOCOL_VERSION + 1};\n`);
  const why = await protocolMismatch(pathToFileURL(module));
  assert.match(why ?? '', new RegExp(`installed actorrt speaks protocol ${PROTOCOL_VERSION + 1}; this running instance speaks protocol ${PROTOCOL_VERSION}`));
  assert.match(why ?? '', /nothing was replaced/);
});

test('an install that cannot be read refuses too: no new process could start from it', { timeout: 5000 }, async () => {
  const why = await protocolMismatch(pathToFileURL(join(tmpdir(), 'actorrt-no-such-install', 'version.js')));
  assert.match(why ?? '', /cannot be read/);
});
