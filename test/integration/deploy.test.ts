import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import type { Ignore } from '@balena/dockerignore';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ConfigMap, Service, type IService } from 'kubernetes-models/v1';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig } from '../../config/validate.js';
import type { Config } from '../../config/types.js';
import { ROOT } from '../helpers.js';
import { runCli } from './instance.js';
import { POSTGRES_URL, REDIS_URL } from './services.js';

// examples/deploy: the Kubernetes manifests checked against the Kubernetes API's schemas and
// against each other, the topology they mount through the real CLI, the Dockerfile's structure.

const DEPLOY = join(ROOT, 'examples', 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
/** Where the image mirrors the repository's layout (the Dockerfile's WORKDIR). */
const IMAGE_ROOT = '/app';
/** The topology, in the checkout and (mirrored under IMAGE_ROOT) in the image. */
const TOPOLOGY = join(K8S, 'actorrt.yml');
const TOPOLOGY_IN_IMAGE = posix.join(IMAGE_ROOT, relative(ROOT, TOPOLOGY));
/** http.shutdownDelay's `auto` under Kubernetes (KUBERNETES_SERVICE_HOST set). */
const SHUTDOWN_DELAY_AUTO_MS = 5000;
/** What the grace period must leave beyond the delay and the drain: closing resources, the final metrics. */
const GRACE_MARGIN_MS = 5000;
// A CommonJS module (module.exports = the factory) whose types declare a default export.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as (options?: { ignorecase?: boolean }) => Ignore;
/** The variables the topology reads, as the Secret would give them (only their shapes matter to validate). */
const ENV = { DATABASE_URL: POSTGRES_URL, REDIS_URL, ACTORRT_WORKERS: '2' };

/** A Kubernetes object as it comes out of YAML: only apiVersion and kind are known before validation. */
interface Manifest { readonly file: string; readonly apiVersion: string; readonly kind: string; readonly data: unknown }

/** The schema checks for the kinds the example uses; validate() throws with the JSON path of the first problem. */
const VALIDATORS: Record<string, (data: unknown) => void> = {
  'apps/v1/Deployment': (d) => new Deployment(d as IDeployment).validate(),
  'v1/Service': (d) => new Service(d as IService).validate(),
  'v1/ConfigMap': (d) => new ConfigMap(d as ConstructorParameters<typeof ConfigMap>[0]).validate(),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d as IPodDisruptionBudget).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (d) => new HorizontalPodAutoscaler(d as IHorizontalPodAutoscaler).validate(),
};

function manifestsIn(text: string, file: string): Manifest[] {
  return parseAllDocuments(text).filter((doc) => doc.contents !== null).map((doc) => {
    assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const data: unknown = doc.toJS();
    assert.ok(typeof data === 'object' && data !== null, `${file}: a document that is not a mapping`);
    const { apiVersion, kind } = data as { apiVersion?: unknown; kind?: unknown };
    assert.ok(typeof apiVersion === 'string' && typeof kind === 'string', `${file}: a document without apiVersion and kind`);
    return { file, apiVersion, kind, data };
  });
}

interface Kustomization { resources: string[]; configMapGenerator: { name: string; files: string[] }[] }

function kustomization(): Kustomization {
  const k = parseYaml(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as Partial<Kustomization>;
  assert.ok(Array.isArray(k.resources) && Array.isArray(k.configMapGenerator), 'kustomization.yaml lists resources and a configMapGenerator');
  return { resources: k.resources, configMapGenerator: k.configMapGenerator };
}

/** Every manifest file of the folder (hpa.yaml too, which kustomization.yaml leaves commented out), and the ConfigMap its generator makes. */
function allManifests(): Manifest[] {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  const found = files.flatMap((f) => manifestsIn(readFileSync(join(K8S, f), 'utf8'), f));
  for (const gen of kustomization().configMapGenerator) {
    const data = Object.fromEntries(gen.files.map((f) => [f, readFileSync(join(K8S, f), 'utf8')]));
    found.push({ file: 'kustomization.yaml', apiVersion: 'v1', kind: 'ConfigMap', data: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data } });
  }
  return found;
}

function validateAll(manifests: readonly Manifest[]): void {
  for (const m of manifests) {
    const check = VALIDATORS[`${m.apiVersion}/${m.kind}`];
    assert.ok(check !== undefined, `${m.file}: no schema check for ${m.apiVersion} ${m.kind}`);
    try {
      check(m.data);
    } catch (err) {
      assert.fail(`${m.file} (${m.kind}): ${String(err)}`);
    }
  }
}

function only<T>(manifests: readonly Manifest[], kind: string): T {
  const of = manifests.filter((m) => m.kind === kind);
  assert.equal(of.length, 1, `one ${kind}`);
  return (of[0] as Manifest).data as T;
}

/** The topology, loaded by actorrt's own loader (resolved paths, normalized durations and sizes). */
function topology(): Config {
  return loadConfig(TOPOLOGY, { ...ENV });
}

test('the Kubernetes manifests validate against the Kubernetes API schemas (kubernetes-models)', () => {
  const manifests = allManifests();
  assert.deepEqual(manifests.map((m) => m.kind).sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  validateAll(manifests);
  // The checks are not vacuous: the same Deployment with a mistake a hand-written manifest makes is refused.
  const deployment = structuredClone(only<IDeployment>(manifests, 'Deployment'));
  const container = deployment.spec?.template.spec?.containers[0];
  assert.ok(container?.readinessProbe?.httpGet !== undefined);
  delete (container.readinessProbe.httpGet as { port?: unknown }).port;
  assert.throws(() => VALIDATORS['apps/v1/Deployment']?.(deployment), /readinessProbe\/httpGet must have required property port/);
});

test('the manifests agree with each other and with the topology they mount', () => {
  const manifests = allManifests();
  const config = topology();
  const deployment = only<IDeployment>(manifests, 'Deployment');
  const spec = deployment.spec;
  const pod = spec?.template.spec;
  assert.ok(spec !== undefined && pod !== undefined);
  const labels = spec.template.metadata?.labels ?? {};
  const selects = (selector: Record<string, string> | undefined, what: string): void => {
    assert.ok(selector !== undefined && Object.keys(selector).length > 0, `${what} has a selector`);
    for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `${what} selects the pods (${k}=${v})`);
  };
  selects(spec.selector.matchLabels, 'the Deployment');
  selects(only<IService>(manifests, 'Service').spec?.selector, 'the Service');
  selects(only<IPodDisruptionBudget>(manifests, 'PodDisruptionBudget').spec?.selector?.matchLabels, 'the PodDisruptionBudget');
  const hpa = only<IHorizontalPodAutoscaler>(manifests, 'HorizontalPodAutoscaler');
  assert.deepEqual(hpa.spec?.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata?.name });

  // Rolling updates never lower capacity.
  assert.equal(spec.replicas, 3);
  assert.deepEqual(spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });

  const container = pod.containers.find((c) => c.name === 'actorrt');
  assert.ok(container !== undefined);
  const port = (name: string): number | undefined => container.ports?.find((p) => p.name === name)?.containerPort;
  assert.equal(port('http'), config.http.port, 'the http port is http.port');
  assert.ok(config.admin.metrics !== false);
  assert.equal(port('metrics'), config.admin.metrics.port, 'the metrics port is admin.metrics');
  assert.equal(config.admin.metrics.host, '0.0.0.0', 'the metrics listener is reachable from Prometheus in the cluster');
  assert.equal(spec.template.metadata?.annotations?.['prometheus.io/port'], String(config.admin.metrics.port));
  assert.equal(only<IService>(manifests, 'Service').spec?.ports?.[0]?.targetPort, 'http');

  // Probes hit the topology's health paths on the service's port.
  assert.deepEqual(container.readinessProbe?.httpGet, { path: config.http.health.ready, port: 'http' });
  assert.deepEqual(container.livenessProbe?.httpGet, { path: config.http.health.live, port: 'http' });
  assert.deepEqual(container.startupProbe?.httpGet, { path: config.http.health.live, port: 'http' });
  const live = container.livenessProbe;
  assert.ok(live !== undefined && (live.failureThreshold ?? 3) * (live.periodSeconds ?? 10) > config.http.watchdog / 1000,
    'the kubelet restarts a pod only after actorrt\'s watchdog had its chance to replace a stuck worker');

  // SIGTERM: shutdownDelay, then the drain, then exit, all before the kubelet's SIGKILL.
  const delay = Reflect.get(config.http, 'shutdownDelay');
  const delayMs = typeof delay === 'number' ? delay : SHUTDOWN_DELAY_AUTO_MS;
  assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 >= delayMs + config.http.shutdownTimeout + GRACE_MARGIN_MS,
    `terminationGracePeriodSeconds covers shutdownDelay (${delayMs} ms) + shutdownTimeout (${config.http.shutdownTimeout} ms) + margin`);

  // The topology: a ConfigMap mounted as a folder (never subPath), the one actorrt start names, at
  // its place in the checkout (mirrored in the image) so its relative actor paths resolve there too.
  const args = container.args ?? [];
  const started = args[args.indexOf('start') + 1];
  assert.ok(started !== undefined && args.includes('start'), 'the container runs actorrt start <topology>');
  assert.equal(started, TOPOLOGY_IN_IMAGE);
  const mount = container.volumeMounts?.find((v) => v.mountPath === posix.dirname(started));
  assert.ok(mount !== undefined, `a volume is mounted at ${posix.dirname(started)}`);
  assert.equal(mount.subPath, undefined, 'no subPath: a subPath mount is never updated');
  const volume = pod.volumes?.find((v) => v.name === mount.name);
  const generator = kustomization().configMapGenerator.find((g) => g.name === volume?.configMap?.name);
  assert.ok(generator !== undefined, 'the mounted volume is the ConfigMap kustomization.yaml generates');
  assert.ok(generator.files.includes(posix.basename(started)), `the ConfigMap holds ${posix.basename(started)}`);

  // Every variable the topology needs is set, and workers follow the CPU limit.
  const env = new Map((container.env ?? []).map((e) => [e.name, e]));
  for (const name of readFileSync(join(K8S, 'actorrt.yml'), 'utf8').matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    assert.ok(env.has(name[1] as string), `the container sets ${name[1]}, which the topology reads without a default`);
  }
  assert.equal(env.get('ACTORRT_WORKERS')?.valueFrom?.resourceFieldRef?.resource, 'limits.cpu');

  // Memory: request = limit, and the limit holds the primary and every worker at its maxRss plus one replacement.
  const limits = container.resources?.limits ?? {};
  assert.equal(container.resources?.requests?.['memory'], limits['memory']);
  const workers = Math.ceil(Number(limits['cpu']));
  assert.ok(config.http.maxRss !== undefined);
  const mib = 1024 * 1024;
  const quantity = /^(\d+)(Mi|Gi)$/.exec(String(limits['memory']));
  assert.ok(quantity !== null, 'the memory limit is written in Mi or Gi');
  const memory = Number(quantity[1]) * (quantity[2] === 'Gi' ? 1024 : 1) * mib;
  assert.ok(memory >= 128 * mib + workers * config.http.maxRss + 128 * mib,
    `memory limit ${String(limits['memory'])} holds the primary, ${workers} workers at maxRss and a replacement`);

  // Unprivileged, read-only root; TMPDIR is a private folder inside the writable emptyDir.
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.notEqual(pod.securityContext?.runAsUser, 0);
  for (const c of [...pod.initContainers ?? [], container]) {
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${c.name}: read-only root`);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`);
  }
  const tmpdir = env.get('TMPDIR')?.value;
  const tmpMount = container.volumeMounts?.find((v) => tmpdir?.startsWith(`${v.mountPath}/`) === true);
  assert.ok(tmpdir !== undefined && tmpMount !== undefined, 'TMPDIR is inside a mounted volume');
  assert.ok(pod.volumes?.find((v) => v.name === tmpMount.name)?.emptyDir !== undefined);
  const init = pod.initContainers?.find((c) => c.volumeMounts?.some((v) => v.name === tmpMount.name) === true);
  assert.deepEqual(init?.command, ['mkdir', '-p', '-m', '0700', tmpdir], 'an init container makes TMPDIR private (an emptyDir is 0777 without the sticky bit)');
});

test('actorrt validate accepts the example topology and imports its actor', { timeout: 60_000 }, async () => {
  // Imports the actor as the image would (tsx, the 'actorrt' self-reference).
  const r = await runCli(['validate', TOPOLOGY], 40_000, ENV);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^ok: 1 pool, 4 routes, 2 resources, 1 cache/);
});

test('kubectl kustomize renders the folder into the same valid objects', { timeout: 60_000 }, (t) => {
  // kubectl is no Debian package this project can install (Debian's kubernetes-client is 1.20):
  // this check runs where the machine has it, and the ones above stand without it.
  let rendered: string;
  try {
    rendered = execFileSync('kubectl', ['kustomize', K8S], { encoding: 'utf8', timeout: 30_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      t.skip('kubectl is not installed');
      return;
    }
    throw err;
  }
  const manifests = manifestsIn(rendered, 'kubectl kustomize');
  assert.deepEqual(manifests.map((m) => m.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
  validateAll(manifests);
  const configMap = only<{ metadata: { name: string }; data: Record<string, string> }>(manifests, 'ConfigMap');
  assert.equal(configMap.metadata.name, 'notes-topology', 'the name is not hashed, so edits update it in place');
  assert.equal(configMap.data['actorrt.yml'], readFileSync(join(K8S, 'actorrt.yml'), 'utf8'));
});

test('the Dockerfile builds in stages, ships no dev dependencies, runs unprivileged under tini, and its context holds what it copies', () => {
  const dockerfile = DockerfileParser.parse(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
  const froms = dockerfile.getFROMs();
  const stages = froms.map((f) => f.getBuildStage());
  assert.ok(stages.includes('build'), 'a stage FROM ... AS build');
  const instructions = dockerfile.getInstructions();
  const runtimeStart = froms[froms.length - 1]?.getRange().start.line ?? 0;
  const runtime = instructions.filter((i) => i.getRange().start.line >= runtimeStart);
  const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue());
  const runs = instructions.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '');
  assert.ok(runs.some((r) => /npm ci\b[^&]*--omit=dev/.test(r)), 'production dependencies installed with npm ci --omit=dev');
  assert.ok(runs.some((r) => /npm run build/.test(r)), 'the build stage runs npm run build');

  // The runtime stage: a non-root USER, tini as PID 1, exec-form commands (a shell between tini
  // and actorrt would receive SIGTERM instead of actorrt).
  const workdirs = runtime.filter((i) => i.getKeyword() === 'WORKDIR').map((i) => args(i)[0]);
  assert.equal(workdirs[workdirs.length - 1], IMAGE_ROOT, 'the runtime stage works in the folder the checkout is mirrored to');
  const users = runtime.filter((i) => i.getKeyword() === 'USER').map((i) => args(i)[0]);
  assert.ok(users.length > 0 && !['root', '0'].includes((users[users.length - 1] ?? '').split(':')[0] ?? ''), 'the runtime stage runs as a non-root USER');
  const entrypoint = runtime.find((i) => i.getKeyword() === 'ENTRYPOINT');
  const cmd = runtime.find((i) => i.getKeyword() === 'CMD');
  const json = (i: Instruction | undefined): string[] => JSON.parse(i?.getArgumentsContent() ?? 'null') as string[];
  assert.deepEqual(json(entrypoint), ['/usr/bin/tini', '--']);
  const command = json(cmd);
  assert.deepEqual(command.slice(0, 2), ['actorrt', 'start']);
  const fromStage = (i: Instruction): string | undefined => dockerfile.getCOPYs().find((c) => c.getRange().start.line === i.getRange().start.line)?.getFromFlag()?.getValue() ?? undefined;
  assert.ok(!runtime.some((i) => i.getKeyword() === 'COPY' && args(i).some((a) => a.includes('node_modules')) && fromStage(i) !== 'deps'),
    'node_modules comes only from the production-dependency stage');

  // Every COPY from the build context exists and is let through by the Dockerfile's ignore file.
  const ignore = dockerignore({ ignorecase: false }).add(readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8').split('\n'));
  const copied: { src: string; dest: string }[] = [];
  for (const copy of dockerfile.getCOPYs()) {
    if (copy.getFromFlag() !== null) continue;
    const parts = args(copy).filter((a) => !a.startsWith('--'));
    const dest = parts[parts.length - 1] as string;
    for (const src of parts.slice(0, -1)) {
      const path = join(ROOT, src);
      assert.ok(existsSync(path), `COPY ${src}: not in the repository`);
      const files = statSync(path).isDirectory() ? walk(path) : [path];
      for (const f of files) assert.ok(!ignore.ignores(relative(ROOT, f)), `COPY ${src}: ${relative(ROOT, f)} is left out of the build context by Dockerfile.dockerignore`);
      copied.push({ src, dest });
    }
  }
  // The image's topology is the one the manifests mount, at the path actorrt start names, and the
  // actors it names are copied to their places in the checkout's layout, where its relative paths lead.
  assert.equal(command[2], TOPOLOGY_IN_IMAGE);
  const inImage = (c: { dest: string }): string => posix.resolve(IMAGE_ROOT, c.dest);
  assert.ok(copied.some((c) => c.src === relative(ROOT, TOPOLOGY) && inImage(c) === TOPOLOGY_IN_IMAGE), 'the image holds the topology');
  for (const pool of Object.values(topology().pools)) {
    const actor = relative(ROOT, pool.actor);
    assert.ok(copied.some((c) => actor.startsWith(`${c.src}/`) && inImage(c) === posix.join(IMAGE_ROOT, c.src)), `the image holds ${actor} at ${posix.join(IMAGE_ROOT, actor)}`);
  }
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
}


