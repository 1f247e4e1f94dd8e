import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';

/**
 * The pinned copy of the public HTTP cache test suite (http-tests/cache-tests, cache-tests.fyi),
 * fetched from the npm registry by its tarball only: the package depends on npm@6 and node-fetch,
 * which we do not want in our dependency tree, and the suite itself needs neither once it is given
 * a fetch (conformance-client.ts).
 */
export const SUITE = {
  name: 'http-cache-tests',
  version: '0.4.5',
  /** The registry's `dist.integrity` of 0.4.5 (the only version published). */
  integrity: 'sha512-DjuwN9nUZXLTW+wav1LRESCZNVxl8SshwOy4z1pxuWbWt5/ay6sM9QQ1lebBaDO6P1IMBoK6mdf+PuVP/QNL8A==',
} as const;

const TARBALL = `${SUITE.name}-${SUITE.version}.tgz`;
/** Written last into an unpacked copy: a folder without it is a half-finished unpack. */
const COMPLETE = '.actorrt-complete';
/** How long `npm pack` may take to fetch the tarball (about 1 MB). */
const PACK_WITHIN = 120_000;

/**
 * The folder of the unpacked suite (the tarball's `package/`), under `cacheDir`
 * (`node_modules/.cache/actorrt-conformance`): reused when already there, else unpacked from the
 * tarball kept beside it, else the tarball is fetched with `npm pack` first (the user's registry
 * and proxy settings apply; this is the only step that needs the network). The tarball's sha512
 * must be `SUITE.integrity`. Two runs at once each unpack into a private folder and rename it into
 * place; the loser uses the winner's copy.
 * @throws Error naming the step that failed (npm pack, integrity, unpack) and what to do.
 */
export async function ensureSuite(cacheDir: string): Promise<string> {
  const target = join(cacheDir, `${SUITE.name}-${SUITE.version}`);
  if (existsSync(join(target, COMPLETE))) return target;
  mkdirSync(cacheDir, { recursive: true });
  const tarball = join(cacheDir, TARBALL);
  if (!existsSync(tarball) || !intact(readFileSync(tarball))) {
    rmSync(tarball, { force: true });
    await npmPack(cacheDir);
  }
  const bytes = readFileSync(tarball);
  if (!intact(bytes)) {
    rmSync(tarball, { force: true });
    throw new Error(`${tarball}: its sha512 is not the pinned ${SUITE.integrity}; the file was removed. `
      + 'A registry mirror served other bytes for this version: check the registry in your npm config, then run again.');
  }
  const staging = join(cacheDir, `.unpack-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    untar(gunzipSync(bytes), staging, 'package/');
    writeFileSync(join(staging, COMPLETE), `${SUITE.integrity}\n`);
    rmSync(target, { recursive: true, force: true }); // a half-finished unpack of an earlier run
    try {
      renameSync(staging, target);
    } catch (err) {
      if (!existsSync(join(target, COMPLETE))) throw err; // not a concurrent run that got there first
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return target;
}

function intact(bytes: Buffer): boolean {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}` === SUITE.integrity;
}

/** `npm pack <name>@<version>` into `dir`, with the npm that runs us when there is one (npm run). */
function npmPack(dir: string): Promise<void> {
  const npmCli = process.env['npm_execpath'];
  const [command, prefix] = npmCli !== undefined && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', []];
  const args = [...prefix, 'pack', `${SUITE.name}@${SUITE.version}`, '--pack-destination', dir, '--loglevel', 'error'];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), PACK_WITHIN);
    const fail = (why: string): void => reject(new Error(`could not download the HTTP cache test suite (npm pack ${SUITE.name}@${SUITE.version} ${why}): `
      + `the first run needs the npm registry; later runs reuse ${dir}.\n${output.trim().split('\n').slice(0, 6).join('\n')}`));
    child.once('error', (err) => { clearTimeout(timer); fail(`could not start: ${err.message}`); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && existsSync(join(dir, TARBALL))) resolve();
      else fail(signal === 'SIGKILL' ? `did not finish within ${PACK_WITHIN / 1000} s` : `exited with ${String(code ?? signal)}`);
    });
  });
}

const BLOCK = 512;

/**
 * Write the regular files of a (ustar / pax) tar image whose paths start with `root` into `dest`,
 * without that prefix. Only what an npm tarball holds is accepted: regular files, folders, pax
 * headers (their `path`); links, devices and paths that leave `dest` are refused.
 * @throws Error naming the entry.
 */
export function untar(image: Buffer, dest: string, root: string): void {
  let offset = 0;
  let paxPath: string | undefined;
  mkdirSync(dest, { recursive: true });
  while (offset + BLOCK <= image.length) {
    const header = image.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break; // end of archive
    const size = Number.parseInt(text(header, 124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0 || offset + BLOCK + size > image.length) throw new Error(`tar entry at byte ${offset}: bad size`);
    const body = image.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = text(header, 345, 155);
    const name = paxPath ?? (prefix === '' ? text(header, 0, 100) : `${prefix}/${text(header, 0, 100)}`);
    paxPath = undefined;
    if (type === 'x') { paxPath = paxRecord(body, 'path'); continue; }
    if (type === 'g' || type === '5') continue; // global pax header; folders are made for their files
    if (type !== '0' && type !== '\0') throw new Error(`tar entry ${name}: type ${JSON.stringify(type)} is not a regular file (an npm tarball has none)`);
    if (!name.startsWith(root)) throw new Error(`tar entry ${name}: outside ${root}`);
    const relative = normalize(name.slice(root.length));
    if (relative.startsWith(`..${sep}`) || relative === '..' || relative.startsWith(sep)) throw new Error(`tar entry ${name}: leaves the folder`);
    const file = join(dest, relative);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, body);
  }
  if (readdirSync(dest).length === 0) throw new Error(`the tarball has no file under ${root}`);
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** One record (`<len> <key>=<value>\n`) of a pax extended header. */
function paxRecord(body: Buffer, key: string): string | undefined {
  for (const line of body.toString('utf8').split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(line);
    if (m?.[1] === key) return m[2];
  }
  return undefined;
}
