import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActorrtError } from '../errors.js';
import { makeDirectory } from '../make-directory.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';


/** The root of the actorrt package running this command (dist/runtime/commands -> root). */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const TOPOLOGY = `# yaml-language-server: $schema=./node_modules/actorrt/config/schema.json
version: 1
http:
  port: 8080
  host: 127.0.0.1          # 0.0.0.0 to accept connections from other machines
  workers: auto            # one front worker per CPU
pools:
  hello:
    actor: ./actors/hello.ts
    size: 4                # actors per worker process
    timeout: 2s
routes:
  - match: { method: GET, path: /hello/:name }
    pool: hello
  - match: { method: POST, path: /hello }
    pool: hello
`;

const ACTOR = `import { defineActor } from 'actorrt';

/** Counts greetings per actor; state survives between messages, and resets on restart. */
export default defineActor({
  init: () => ({ greeted: 0 }),
  receive: (state, req) => {
    state.greeted += 1;
    const name = req.params.name ?? (req.body as { name?: string } | undefined)?.name ?? 'world';
    return { status: 200, body: { hello: name, greeted: state.greeted } };
  },
});
`;

const TEST = `import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ErrorBody } from 'actorrt';
import { startTopology, testActor, type TestTopology } from 'actorrt/testing';
import hello from '../actors/hello.ts';

interface Greeting { hello: string; greeted: number }

// The whole topology in this process: routing, limits, caches and errors as \`actorrt start\` serves them, no port.
let app: TestTopology;
before(async () => { app = await startTopology(new URL('../actorrt.yml', import.meta.url)); });
after(() => app?.close());

test('GET /hello/:name greets by name', async () => {
  const res = await app.request<Greeting>({ url: '/hello/ada' });
  assert.equal(res.status, 200);
  assert.equal(res.body.hello, 'ada');
});

test('POST /hello takes the name from a JSON body', async () => {
  const res = await app.request<Greeting>({ method: 'POST', url: '/hello', body: { name: 'grace' } });
  assert.equal(res.body.hello, 'grace');
});

test("a path no route matches is a 404 in actorrt's error shape", async () => {
  const res = await app.request<ErrorBody>({ url: '/nowhere' });
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'ACTORRT_E_NOT_FOUND');
});

// One actor alone: its init, receive and state, with the context a test chooses.
test('the actor counts its greetings', async () => {
  const actor = await testActor(hello);
  after(() => actor.stop());
  await actor.receive({ params: { name: 'a' } });
  const reply = await actor.receive({ params: { name: 'b' } });
  assert.deepEqual(reply.body, { hello: 'b', greeted: 2 });
});
`;

const TSCONFIG = `{
  "compilerOptions": {
    "target": "es2022",
    "module": "nodenext",
    "strict": true,
    "noEmit": true,
    "allowImportingTsExtensions": true,
    "skipLibCheck": true,
    "types": ["node"]
  },
  "include": ["actors", "test"]
}
`;

const GITIGNORE = `node_modules/
.actorrt/
data/
`;

const README = `# my actorrt service

\`\`\`sh
npm install
npx actorrt validate        # ./actorrt.yml unless a file is named
npx actorrt start
curl http://127.0.0.1:8080/hello/you
npm test                    # test/*.test.ts: the topology in-process, no port
\`\`\`

Edit \`actorrt.yml\` to add pools and routes; your editor completes keys from the schema named on
its first line. Guides: node_modules/actorrt/docs/getting-started.md, actors.md (the SDK and the
test kit) and topology.md (every key).
`;

export const init: Command = {
  usage: 'init [dir] [--force]',
  summary: 'scaffold a runnable project',
  help: `Writes actorrt.yml, actors/hello.ts, test/hello.test.ts (npm test), tsconfig.json, README.md,
.gitignore and (when absent) package.json into dir (default: the current folder). The package.json depends on the actorrt that ran init: the
published version when it was installed from the registry, else its folder (file:), so that
npm install works from a checkout. Refuses to overwrite existing files unless --force is given.`,
  options: { force: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'init takes at most one folder');
    const dir = resolve(positionals[0] ?? '.');
    const files: Record<string, string> = {
      'actorrt.yml': TOPOLOGY,
      'actors/hello.ts': ACTOR,
      'test/hello.test.ts': TEST,
      'tsconfig.json': TSCONFIG,
      'README.md': README,
      '.gitignore': GITIGNORE,
    };
    if (!existsSync(join(dir, 'package.json'))) {
      const pkg = {
        name: 'my-actorrt-service', private: true, type: 'module',
        // node 20 runs TypeScript tests through tsx (types are not checked there: npm run typecheck does).
        scripts: { start: 'actorrt start', validate: 'actorrt validate', test: 'node --import tsx --test test/*.test.ts', typecheck: 'tsc -p tsconfig.json' },
        dependencies: { actorrt: actorrtDependency() },
        devDependencies: toolVersions(),
      };
      files['package.json'] = `${JSON.stringify(pkg, null, 2)}\n`;
    }
    const clashes = Object.keys(files).filter((f) => existsSync(join(dir, f)));
    if (clashes.length > 0 && values['force'] !== true) {
      throw new ActorrtError('ACTORRT_E_INIT_EXISTS', `${clashes.join(', ')} already exist in ${dir}`, { hint: 'pick an empty folder, or pass --force to overwrite' });
    }
    for (const [name, text] of Object.entries(files)) {
      const target = join(dir, name);
      makeDirectory(join(target, '..'));
      writeFileSync(target, text);
    }
    const where = relative(process.cwd(), dir) || '.';
    process.stdout.write(`created ${Object.keys(files).map((f) => join(where, f)).join(', ')}\n`
      + `next:\n  cd ${where}\n  npm install\n  npx actorrt start\n  curl http://127.0.0.1:8080/hello/you\n  npm test\n`);
    return 0;
  },
};

/** The scaffold's test tools, at the versions this actorrt is built and tested with (its own package.json). */
function toolVersions(): Record<string, string> {
  const own = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  const all = { ...own.devDependencies, ...own.dependencies };
  const out: Record<string, string> = {};
  for (const name of ['tsx', 'typescript', '@types/node']) {
    const range = all[name];
    if (range !== undefined) out[name] = range;
  }
  return out;
}

/**
 * What the scaffold depends on: this actorrt. Installed from the registry (it lives in a
 * node_modules folder), its published version; run from a checkout, its folder, since the name is
 * not published (and a registry package of that name would be someone else's).
 */
function actorrtDependency(): string {
  return PACKAGE_ROOT.split(sep).includes('node_modules') ? `^${VERSION}` : `file:${PACKAGE_ROOT}`;
}
