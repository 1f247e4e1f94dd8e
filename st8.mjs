const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
function hexLoop(s) { let x = 0; for (let i = 0; i < 55; i++) x += s.charCodeAt(i); return x; }
function run() { const N = 500000; let sink = 0; const t = performance.now(); for (let i = 0; i < N; i++) sink += hexLoop(tp); return ((performance.now() - t) * 1e6 / N).toFixed(0); }
run(); run();
const { createRequire } = await import('node:module');
const require = createRequire(import.meta.url);
require(process.argv[2]);
console.log(process.argv[2], run(), run());
