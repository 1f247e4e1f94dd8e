import { existsSync, writeFileSync } from 'node:fs';
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
\`\`\`

Edit \`actorrt.yml\` to add pools and routes; your editor completes keys from the schema named on
its first line.
`;

export const init: Command = {
  usage: 'init [dir] [--force]',
  summary: 'scaffold a runnable project',
  help: `Writes actorrt.yml, actors/hello.ts, README.md, .gitignore and (when absent) package.json
into dir (default: the current folder). The package.json depends on the actorrt that ran init: the
published version when it was installed from the registry, else its folder (file:), so that
npm install works from a checkout. Refuses to overwrite existing files unless --force is given.`,
  options: { force: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'init takes at most one folder');
    const dir = resolve(positionals[0] ?? '.');
    const files: Record<string, string> = {
      'actorrt.yml': TOPOLOGY,
      'actors/hello.ts': ACTOR,
      'README.md': README,
      '.gitignore': GITIGNORE,
    };
    if (!existsSync(join(dir, 'package.json'))) {
      const pkg = {
        name: 'my-actorrt-service', private: true, type: 'module',
        scripts: { start: 'actorrt start', validate: 'actorrt validate' },
        dependencies: { actorrt: actorrtDependency() },
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
      + `next:\n  cd ${where}\n  npm install\n  npx actorrt start\n  curl http://127.0.0.1:8080/hello/you\n`);
    return 0;
  },
};

/**
 * What the scaffold depends on: this actorrt. Installed from the registry (it lives in a
 * node_modules folder), its published version; run from a checkout, its folder, since the name is
 * not published (and a registry package of that name would be someone else's).
 */
function actorrtDependency(): string {
  return PACKAGE_ROOT.split(sep).includes('node_modules') ? `^${VERSION}` : `file:${PACKAGE_ROOT}`;
}
