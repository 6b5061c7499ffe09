// Per-frame time of G + D in onnxruntime-web (wasm, 1 thread), the runtime the browser uses, run in Node.
//
//   python -m gan_core.export weights/fashion-mnist    # generator/model.onnx, discriminator/model.onnx (shipped models have them)
//   node benchmarks/web_runtime_node.mjs weights/fashion-mnist [MODEL_DIR ...] [--frames 200] [--warmup 20] [--json out.json]
//
// Each MODEL_DIR holds generator/model.onnx and optionally discriminator/model.onnx. A frame is one
// gan_web.js draw(z) call on a fresh z ~ N(0, 1): G, D on G's picture, and the RGBA conversion, as
// the page does it. Reports median and p95 over --frames frames after --warmup frames, the time to
// create the sessions, and the bytes of each file. A width-32 model to compare with the shipped
// width-64 ones (untrained weights time the same as trained ones):
//
//   python -c "from gan_core.core.hub import save_model; from gan_core.core.models import Generator, Discriminator; \
//   save_model(Generator(g_features=32).eval(), '/tmp/width32/generator'); save_model(Discriminator(d_features=32).eval(), '/tmp/width32/discriminator')"
//   python -m gan_core.export /tmp/width32

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME = path.join(ROOT, 'assets', 'onnxruntime-web');  // the gzip copies in git
const RUNTIME_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

/** The runtime's three files decompressed into a temporary folder (Node loads them from a file: URL). */
function unpackRuntime() {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'onnxruntime-web-'));
  for (const name of RUNTIME_FILES) fs.writeFileSync(path.join(folder, name), zlib.gunzipSync(fs.readFileSync(path.join(RUNTIME, `${name}.gz`))));
  return folder;
}

function parseArgs(argv) {
  const args = {models: [], frames: 200, warmup: 20, json: null};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--frames') args.frames = Number(argv[++i]);
    else if (arg === '--warmup') args.warmup = Number(argv[++i]);
    else if (arg === '--json') args.json = argv[++i];
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else args.models.push(arg);
  }
  if (!args.models.length) args.models.push(path.join(ROOT, 'weights', 'fashion-mnist'));
  if (!(args.frames >= 1 && args.warmup >= 0)) throw new Error('--frames must be >= 1 and --warmup >= 0');
  return args;
}

// A seeded N(0, 1) source (mulberry32 + Box-Muller), so every run draws the same latents.
function normals(seed) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n) => Float32Array.from({length: n}, () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));
}

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const low = Math.floor(pos);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (pos - low);
}

async function benchmark(gan, folder, frames, warmup) {
  const generatorPath = path.join(folder, 'generator', 'model.onnx');
  const discriminatorPath = path.join(folder, 'discriminator', 'model.onnx');
  if (!fs.existsSync(generatorPath)) throw new Error(`${generatorPath} is missing: run python -m gan_core.export ${folder}`);
  const hasD = fs.existsSync(discriminatorPath);
  const config = JSON.parse(fs.readFileSync(path.join(folder, 'generator', 'config.json'), 'utf8'));
  const start = performance.now();
  const model = await gan.loadModel({
    generatorUrl: new Uint8Array(fs.readFileSync(generatorPath)),
    discriminatorUrl: hasD ? new Uint8Array(fs.readFileSync(discriminatorPath)) : null,
  });
  const loadMs = performance.now() - start;
  const sample = normals(0);
  const firstStart = performance.now();
  await model.draw(sample(model.latentDim));
  const firstFrameMs = performance.now() - firstStart;
  for (let i = 1; i < warmup; i++) await model.draw(sample(model.latentDim));
  const times = [];
  for (let i = 0; i < frames; i++) times.push((await model.draw(sample(model.latentDim))).ms);
  await model.release();
  times.sort((a, b) => a - b);
  return {
    model: path.resolve(folder).startsWith(ROOT + path.sep) ? path.relative(ROOT, path.resolve(folder)) : path.resolve(folder),
    g_features: config.g_features,
    image_size: config.image_size,
    latent_dim: config.latent_dim,
    with_discriminator: hasD,
    generator_onnx_bytes: fs.statSync(generatorPath).size,
    discriminator_onnx_bytes: hasD ? fs.statSync(discriminatorPath).size : 0,
    session_create_ms: loadMs,
    first_frame_ms: firstFrameMs,
    frames,
    frame_median_ms: quantile(times, 0.5),
    frame_p95_ms: quantile(times, 0.95),
    frame_min_ms: times[0],
    fps_at_median: 1000 / quantile(times, 0.5),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const unpacked = unpackRuntime();
  const gan = await import(pathToFileURL(path.join(ROOT, 'gan_core', 'web', 'gan_web.js')).href);
  const ort = await gan.loadRuntime(pathToFileURL(unpacked + path.sep).href);
  const runtimeBytes = RUNTIME_FILES.reduce((sum, name) => sum + fs.statSync(path.join(unpacked, name)).size, 0);
  fs.rmSync(unpacked, {recursive: true, force: true});
  const results = [];
  for (const folder of args.models) results.push(await benchmark(gan, folder, args.frames, args.warmup));
  const report = {
    benchmark: 'web_runtime_node',
    machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}, onnxruntime-web ${ort.env.versions?.web ?? '?'} (wasm, 1 thread)`,
    command: `node benchmarks/web_runtime_node.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    runtime_bytes: runtimeBytes,
    results,
  };
  console.log(report.machine);
  console.log(`runtime files: ${runtimeBytes.toLocaleString('en')} bytes`);
  for (const r of results) {
    console.log(
      `${r.model} (width ${r.g_features}, ${r.image_size}px${r.with_discriminator ? ', G+D' : ', G only'}): ` +
      `median ${r.frame_median_ms.toFixed(2)} ms, p95 ${r.frame_p95_ms.toFixed(2)} ms over ${r.frames} frames ` +
      `(${r.fps_at_median.toFixed(0)} fps); sessions ${r.session_create_ms.toFixed(0)} ms, first frame ${r.first_frame_ms.toFixed(1)} ms; ` +
      `onnx ${(r.generator_onnx_bytes + r.discriminator_onnx_bytes).toLocaleString('en')} bytes`,
    );
  }
  if (args.json) {
    fs.mkdirSync(path.dirname(path.resolve(args.json)), {recursive: true});
    fs.writeFileSync(args.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`wrote ${args.json}`);
  }
}

main().catch((err) => {
  console.error(`web_runtime_node: ${err.message}`);
  process.exit(2);
});
