import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { linksOf, watchTopology } from '../../runtime/primary/watcher.js';
import { eventually, tempDir } from '../helpers.js';

/** A fresh folder, its real path (the temp folder may itself be reached through a link). */
function folder(): string {
  return realpathSync(tempDir('watcher'));
}

/** Save as sed -i and most editors do: write beside, rename over. */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** linksOf as plain data, sorted, for deepEqual. */
function links(path: string): Array<[string, string[]]> {
  return [...linksOf(path)].map(([dir, names]): [string, string[]] => [dir, [...names].sort()]).sort(([a], [b]) => a.localeCompare(b));
}

/** A ConfigMap volume as the kubelet writes it: actorrt.yml -> ..data/actorrt.yml, ..data -> ..<version>. */
function configMap(dir: string, version: string, text: string): void {
  mkdirSync(join(dir, `..${version}`));
  writeFileSync(join(dir, `..${version}`, 'actorrt.yml'), text);
  symlinkSync(`..${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // atomic swap, as the kubelet does it
}

test('linksOf: a plain file is watched in its folder, by its name', () => {
  const dir = folder();
  writeFileSync(join(dir, 'actorrt.yml'), 'a');
  assert.deepEqual(links(join(dir, 'actorrt.yml')), [[dir, ['actorrt.yml']]]);
  assert.deepEqual(links(join(dir, 'missing.yml')), [[dir, ['missing.yml']]], 'a file not there (yet) is watched where it would be');
});

test('linksOf: a symlink is watched in its folder, and the file it points to in that file\'s folder', () => {
  const dir = folder();
  mkdirSync(join(dir, 'app'));
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'actorrt.yml'), 'a');
  symlinkSync('../config/actorrt.yml', join(dir, 'app', 'actorrt.yml'));
  assert.deepEqual(links(join(dir, 'app', 'actorrt.yml')), [[join(dir, 'app'), ['actorrt.yml']], [join(dir, 'config'), ['actorrt.yml']]]);
});

test('linksOf: a ConfigMap volume is watched for its ..data link and in the data folder it points to now', () => {
  const dir = folder();
  configMap(dir, '2026_11_30_a', 'a');
  symlinkSync('..data/actorrt.yml', join(dir, 'actorrt.yml'));
  assert.deepEqual(links(join(dir, 'actorrt.yml')), [[dir, ['..data', 'actorrt.yml']], [join(dir, '..2026_11_30_a'), ['actorrt.yml']]]);
});

test('linksOf: a linked folder in the path is watched in its parent; a loop of links ends', () => {
  const dir = folder();
  mkdirSync(join(dir, 'real'));
  writeFileSync(join(dir, 'real', 'actorrt.yml'), 'a');
  symlinkSync(join(dir, 'real'), join(dir, 'current'));
  assert.deepEqual(links(join(dir, 'current', 'actorrt.yml')), [[dir, ['current']], [join(dir, 'real'), ['actorrt.yml']]]);
  symlinkSync('b', join(dir, 'a'));
  symlinkSync('a', join(dir, 'b'));
  assert.ok(linksOf(join(dir, 'a')).has(dir));
});

/** Start a watcher on `path`, closed when the test ends; returns how many changes it reported so far. */
function watching(t: { after(fn: () => unknown): void }, path: string): () => number {
  let changes = 0;
  const stop = watchTopology(path, () => { changes++; });
  t.after(stop);
  return () => changes;
}

test('watchTopology: editing the target of a symlink in another folder is a change', { timeout: 30_000 }, async (t) => {
  const dir = folder();
  mkdirSync(join(dir, 'app'));
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'actorrt.yml'), 'size: 1\n');
  symlinkSync('../config/actorrt.yml', join(dir, 'app', 'actorrt.yml'));
  const changes = watching(t, join(dir, 'app', 'actorrt.yml'));
  // The first read sets the baseline; a save before it would be taken for the start state, so edit until one is seen.
  let size = 2;
  await eventually('an edit of the target is reported', () => {
    if (changes() === 0) save(join(dir, 'config', 'actorrt.yml'), `size: ${size++}\n`);
    return changes() > 0;
  }, 15_000, undefined, 500);
});

test('watchTopology: a ConfigMap swap is a change, and so is the next swap (the watch follows the new data folder)', { timeout: 30_000 }, async (t) => {
  const dir = folder();
  configMap(dir, 'v1', 'size: 1\n');
  symlinkSync('..data/actorrt.yml', join(dir, 'actorrt.yml'));
  const changes = watching(t, join(dir, 'actorrt.yml'));
  let version = 2;
  const swap = (): void => {
    const old = realpathSync(join(dir, '..data'));
    configMap(dir, `v${version}`, `size: ${version}\n`);
    version++;
    rmSync(old, { recursive: true, force: true }); // the kubelet removes the old data folder
  };
  await eventually('a swap is reported', () => { if (changes() === 0) swap(); return changes() > 0; }, 15_000, undefined, 500);
  const before = changes();
  swap();
  await eventually('the second swap is reported', () => changes() > before, 15_000);
  // The watch moved with ..data: an edit inside the data folder it points to now is seen too.
  const after = changes();
  save(join(dir, '..data', 'actorrt.yml'), 'size: 99\n');
  await eventually('an edit in the new data folder is reported', () => changes() > after, 15_000);
});

test('watchTopology: a symlink replaced by one to a file in a third folder (ln -sfn) is a change; edits of the new target are watched', { timeout: 30_000 }, async (t) => {
  const dir = folder();
  for (const d of ['app', 'v1', 'v2']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'v1', 'actorrt.yml'), 'size: 1\n');
  writeFileSync(join(dir, 'v2', 'actorrt.yml'), 'size: 2\n');
  const link = join(dir, 'app', 'actorrt.yml');
  symlinkSync('../v1/actorrt.yml', link);
  const changes = watching(t, link);
  // ln -sfn: a new link renamed over the old one. Each attempt points at the other folder, so it differs from whatever the first read saw.
  let target = 2;
  const relink = (): void => {
    symlinkSync(`../v${target}/actorrt.yml`, `${link}.new`);
    renameSync(`${link}.new`, link);
    target = 3 - target;
  };
  await eventually('the new link is reported', () => { if (changes() === 0) relink(); return changes() > 0; }, 15_000, undefined, 500);
  const before = changes();
  save(realpathSync(link), 'size: 3\n');
  await eventually('an edit of the new target is reported', () => changes() > before, 15_000);
});
