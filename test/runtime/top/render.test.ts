import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeView, type ProcessRow, type TopView } from '../../../runtime/top/rates.js';
import { duration, plainText, rate, render, seconds, sortPools, sortProcesses, type RenderOptions } from '../../../runtime/top/render.js';
import { merge, processFamilies, requests, sampleAt, statusOf } from './samples.js';

const MIB = 1024 * 1024;
const OPTIONS: RenderOptions = { width: Infinity, height: Infinity, processSort: 'cpu', poolSort: 'name', keys: false };

/** An instance with traffic on both pools, five processes, a cache lookup and a reload. */
function busyView(): TopView {
  const processes = (cpuBase: number) => merge(
    processFamilies('primary', '', 0, 100, cpuBase, 50 * MIB, 0.001),
    processFamilies('front', '', 0, 101, cpuBase * 2, 90 * MIB, 0.002),
    processFamilies('front', '', 1, 102, cpuBase * 3, 80 * MIB, 0.030),
    processFamilies('pool', 'cpu', 0, 201, cpuBase * 4, 60 * MIB, 0.004),
    processFamilies('pool', 'cpu', 1, 202, cpuBase * 5, 70 * MIB, 0.003, 0),
  );
  const lastReload = { trigger: 'command' as const, at: '2025-01-01T00:00:00.000Z', ok: true, applied: true, dryRun: false, plan: ['pool api: size 4 -> 8'] };
  const status = statusOf({ lastReload });
  const before = sampleAt(0, merge(requests('api', 200, 100), requests('cpu', 200, 10), requests('cpu', 500, 1), processes(1)), status);
  const after = sampleAt(1, merge(requests('api', 200, 300), requests('cpu', 200, 60), requests('cpu', 500, 6), processes(1.1)), status);
  return computeView(before, after);
}

/** The display width of a line (the tables are ASCII; the ellipsis is one column). */
const width = (text: string): number => [...text].length;

test('a frame shows the header, every pool with its rates, every process and the last reload', () => {
  const text = plainText(render(busyView(), OPTIONS));
  assert.match(text, /actorrt http:\/\/127\.0\.0\.1:8080 {3}pid 100 {3}up 1h02m {3}front workers 2\/2 \(1 restarts\) {3}255 req\/s/);
  assert.match(text, /metrics http:\/\/127\.0\.0\.1:9464\/metrics {3}rates over 1\.0 s/);
  assert.match(text, /^api +inline +up +4 +2\/2 +200 +0 /m);
  assert.match(text, /^cpu +isolated +up +1 +- +55\.0 +5\.0 /m);
  assert.match(text, /^pool +cpu +1 +202 +50\.0 +70\.0M +3\.0ms +not answering$/m);
  assert.match(text, /last reload 2025-01-01T00:00:00\.000Z \(command\) applied: pool api: size 4 -> 8/);
  assert.doesNotMatch(text, /NaN|undefined/);
});

test('the first frame says rates come with the next sample and shows - for them', () => {
  const text = plainText(render(computeView(undefined, sampleAt(0, requests('api', 200, 5))), OPTIONS));
  assert.match(text, /first sample; rates from the next one/);
  assert.match(text, /^api +inline +up +4 +2\/2 +- +- +- +- /m);
});

test('no line is wider than the terminal: lines are cut with an ellipsis, wide characters counted as two columns', () => {
  for (const columns of [20, 45, 80]) {
    const lines = render(busyView(), { ...OPTIONS, width: columns });
    for (const l of lines) assert.ok(width(l.text) <= columns, `${JSON.stringify(l.text)} is wider than ${columns}`);
    assert.ok(lines.some((l) => l.text.endsWith('…')), 'long lines end with an ellipsis');
  }
  const wide = render(computeView(undefined, sampleAt(0, {}, statusOf({ file: '/srv/日本語/actorrt.yml' }))), { ...OPTIONS, width: 12 });
  assert.ok(wide.every((l) => [...l.text].reduce((n, ch) => n + (/[\u3000-\u9fff]/.test(ch) ? 2 : 1), 0) <= 12), JSON.stringify(wide.map((l) => l.text)));
});

test('a short terminal loses process rows first, saying how many, and never gets more lines than it has', () => {
  const all = render(busyView(), { ...OPTIONS, keys: true });
  for (const height of [all.length, all.length - 3, 12, 3]) {
    const lines = render(busyView(), { ...OPTIONS, keys: true, height });
    assert.ok(lines.length <= height, `${lines.length} lines for ${height}`);
    assert.match(lines[0]?.text ?? '', /^actorrt /, 'the header stays');
  }
  const short = plainText(render(busyView(), { ...OPTIONS, keys: true, height: all.length - 3 }));
  assert.match(short, /^POOL /m);
  assert.match(short, /\.\.\. 4 more \(a taller terminal shows them\)/);
  assert.match(short, /^q quit /m, 'the keys line stays');
});

test('the process table sorts by CPU, memory, lag (descending) or pid (ascending), unknown figures last', () => {
  const order = (by: Parameters<typeof sortProcesses>[1]): number[] => sortProcesses(busyView().processes, by).map((p) => p.pid);
  assert.deepEqual(order('cpu'), [202, 201, 102, 101, 100]);
  assert.deepEqual(order('memory'), [101, 102, 202, 201, 100]);
  assert.deepEqual(order('lag'), [102, 201, 202, 101, 100]);
  assert.deepEqual(order('pid'), [100, 101, 102, 201, 202]);
  const unknown: ProcessRow = { role: 'pool', pool: 'cpu', index: 2, pid: 203, up: true, cpu: undefined, rss: undefined, lagP99: undefined };
  assert.equal(sortProcesses([unknown, ...busyView().processes], 'cpu').at(-1)?.pid, 203);
  const text = plainText(render(busyView(), { ...OPTIONS, processSort: 'memory' }));
  assert.match(text, /processes \(5\) by memory/);
});

test('the pool table keeps the topology order, or sorts by req/s or errors/s', () => {
  const names = (by: Parameters<typeof sortPools>[1]): string[] => sortPools(busyView().pools, by).map((p) => p.name);
  assert.deepEqual(names('name'), ['api', 'cpu']);
  assert.deepEqual(names('rate'), ['api', 'cpu']);
  assert.deepEqual(names('errors'), ['cpu', 'api']);
  assert.match(plainText(render(busyView(), { ...OPTIONS, poolSort: 'errors' })), /pools by errors\/s/);
});

test('a pool given up shows why; a notice (the primary not answering) goes under the header', () => {
  const status = statusOf();
  const down = { ...status, pools: status.pools.map((p) => (p.name === 'cpu' ? { ...p, state: 'down' as const, down: 'gave up after 5 restarts within 10s' } : p)) };
  const text = plainText(render(computeView(undefined, sampleAt(0, {}, down)), { ...OPTIONS, notice: '! no answer' }));
  assert.match(text, /cpu is down: gave up after 5 restarts within 10s/);
  assert.equal(text.split('\n')[2], '! no answer');
});

test('figures are short and say their unit', () => {
  assert.deepEqual([rate(undefined), rate(0), rate(3.25), rate(512.4), rate(12_345)], ['-', '0', '3.3', '512', '12.3k']);
  assert.deepEqual([seconds(undefined), seconds(0.0025), seconds(0.042), seconds(1.5)], ['-', '2.5ms', '42ms', '1.50s']);
  assert.deepEqual([duration(45), duration(725), duration(3725), duration(180_000)], ['45s', '12m05s', '1h02m', '2d02h']);
});
