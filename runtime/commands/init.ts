import { existsSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ActorrtError } from '../errors.js';
import { makeDirectory } from '../make-directory.js';
import { VERSION } from '../version.js';
import type { Command } from './command.js';


const TOPOLOGY = `# yaml-language-server: $schema=./node_modules/actorrt/config/schema.json
version: 1
http:
  port: 8080
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

const README = `# my actorrt service

\`\`\`sh
npm install
npx actorrt validate actorrt.yml
npx actorrt start actorrt.yml
curl http://127.0.0.1:8080/hello/you
\`\`\`

Edit \`actorrt.yml\` to add pools and routes; your editor completes keys from the schema named on
its first line.
`;

export const init: Command = {
  usage: 'init [dir] [--force]',
  summary: 'scaffold a runnable project',
  help: `Writes actorrt.yml, actors/hello.ts, README.md and (when absent) package.json into dir
(default: the current folder). Refuses to overwrite existing files unless --force is given.`,
  options: { force: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length > 1) throw new ActorrtError('ACTORRT_E_USAGE', 'init takes at most one folder');
    const dir = resolve(positionals[0] ?? '.');
    const files: Record<string, string> = {
      'actorrt.yml': TOPOLOGY,
      'actors/hello.ts': ACTOR,
      'README.md': README,
    };
    if (!existsSync(join(dir, 'package.json'))) {
      files['package.json'] = `${JSON.stringify({ name: 'my-actorrt-service', private: true, type: 'module', dependencies: { actorrt: `^${VERSION}` } }, null, 2)}\n`;
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
    process.stdout.write(`created ${Object.keys(files).map((f) => join(where, f)).join(', ')}\nnext: cd ${where} && npm install && npx actorrt start actorrt.yml\n`);
    return 0;
  },
};
