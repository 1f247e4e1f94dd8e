import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ActorrtError } from '../../runtime/errors.js';
import { loadActor } from '../../runtime/pool/actor-loader.js';
import { tempDir } from '../helpers.js';

/** Write `files` into a fresh folder (a "type": "module" package unless `module` is false); returns the folder. */
function project(files: Record<string, string>, module = true): string {
  const dir = tempDir('loader');
  if (module) writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const reply = async (file: string): Promise<unknown> => (await loadActor(file)).receive(undefined as never, undefined as never, undefined as never);

test('a TypeScript actor loads through tsx: types, a .ts import written as .js, import.meta.url as in ESM', async () => {
  const dir = project({
    'actors/helper.ts': 'export const twice = (n: number): number => n * 2;\n',
    'actors/api.ts': "import { twice } from './helper.js';\nconst url: string = import.meta.url;\nexport default { receive: () => ({ n: twice(21), url }) };\n",
  });
  assert.deepEqual(await reply(join(dir, 'actors/api.ts')), { n: 42, url: pathToFileURL(join(dir, 'actors/api.ts')).href });
});

test('top-level await (which CommonJS cannot compile) and .mts load through the ESM loader', async () => {
  const dir = project({
    'tla.ts': 'const n: number = await Promise.resolve(7);\nexport default { receive: () => n };\n',
    'm.mts': 'export default { receive: () => "mts" };\n',
  });
  assert.equal(await reply(join(dir, 'tla.ts')), 7);
  assert.equal(await reply(join(dir, 'm.mts')), 'mts');
});

test('outside a "type": "module" package: ESM syntax and a module.exports actor (.cts) load as before', async () => {
  const dir = project({
    'esm.ts': 'export default { receive: () => "esm" };\n',
    'cjs.cts': 'module.exports = { receive: () => "cjs" };\n',
  }, false);
  assert.equal(await reply(join(dir, 'esm.ts')), 'esm');
  assert.equal(await reply(join(dir, 'cjs.cts')), 'cjs');
});

test('a .ts actor that does not compile, or has no actor as its default export, fails naming the file', async () => {
  const dir = project({ 'bad.ts': 'export default {\n  x: = 1\n};\n', 'none.ts': 'export const receive = () => 1;\n' });
  await assert.rejects(loadActor(join(dir, 'bad.ts')), (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_ACTOR_MODULE'
    && err.message.includes(`${join(dir, 'bad.ts')} failed to load`) && err.message.includes('Unexpected "="'));
  await assert.rejects(loadActor(join(dir, 'none.ts')), (err: unknown) => err instanceof ActorrtError && err.code === 'ACTORRT_E_ACTOR_MODULE'
    && err.message.includes('has no valid default export'));
});
