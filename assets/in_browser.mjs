// The explorer page's in-browser engine: G and D run in the page (gan_web.js on onnxruntime-web),
// fed by what the server sends once per model and per seed (the seed's z exactly as the server
// draws it, the slider directions, the model's ONNX files). A slider move then costs no request.
// A state found from a picture ("Draw or upload") carries its z itself (the seed box is empty):
// the page draws from that z, which the hidden JSON beside the sliders holds.
//
// Loaded by the Explore picture's drag path (assets/drag.js), which asks `window.ganWeb.draw(...)`
// first and falls back to the server when it answers false: while the runtime or a model or a seed
// is still loading, where WebAssembly or a file is unavailable, or when the page was opened with
// ?render=server (or the "Draw on the server" box is ticked).

let gan = null;  // the gan_web.js module, once the runtime is up
let server = null;  // the Explore picture's server functions: web_model, web_seed, web_keyframes
let status = {state: 'loading', reason: ''};
let forced = false;
let painted = 0;
const models = new Map();  // model name -> {ready, failed, reason, entry: {model, directions, count}}
const seeds = new Map();  // `${model}|${seed}` -> Float32Array(D) or a pending Promise
const keyframes = new Map();  // `${model}|${keys}|${start}` -> [Float32Array(D)] or a pending Promise

function setStatus(state, reason = '') {
  status = {state, reason};
  const line = document.querySelector('#render-status .gan-render-status');
  if (!line) return;
  const text = {
    loading: 'In-browser drawing: loading the runtime; pictures come from the server meanwhile.',
    ready: 'In-browser drawing: on. G and D run in this page (onnxruntime-web, WebAssembly, one thread); a slider move sends nothing to the server.',
    off: `In-browser drawing: off (${reason}). Every picture comes from the server.`,
    failed: `In-browser drawing: unavailable (${reason}). Every picture comes from the server.`,
  }[state];
  line.textContent = text;
  line.dataset.state = state;
}

function loadModel(name) {
  if (models.has(name)) return models.get(name);
  const record = {ready: false, failed: false, reason: '', entry: null, loaded: null};
  models.set(name, record);
  record.loaded = (async () => {
    const bundle = await server.web_model([name]);
    if (!bundle || bundle.error) throw new Error(bundle ? bundle.error : 'no answer');
    if (!bundle.generator_url) throw new Error(`model ${name} has no model.onnx (python -m gan_core.export)`);
    const model = await gan.loadModel({generatorUrl: bundle.generator_url, discriminatorUrl: bundle.discriminator_url,
                                       latentDim: bundle.latent_dim, channels: bundle.channels, imageSize: bundle.image_size});
    const directions = new Float32Array(bundle.directions.flat());
    record.entry = {model, directions, count: bundle.directions.length, dim: bundle.latent_dim};
    record.ready = true;
  })().catch((err) => {
    record.failed = true;
    record.reason = err.message;
    console.warn(`in-browser drawing of ${name} unavailable:`, err);
    setStatus('failed', `model ${name} did not load in the page: ${err.message}`);
  });
  return record;
}

function cached(map, key, fetcher) {
  const value = map.get(key);
  if (value instanceof Float32Array || Array.isArray(value)) return value;
  if (value === undefined) {
    const pending = fetcher().then((result) => { map.set(key, result); return result; }).catch((err) => { map.delete(key); console.warn(err); });
    map.set(key, pending);
  }
  return null;
}

function seedLatent(model, seed) {
  return cached(seeds, `${model}|${seed}`, async () => {
    const z = await server.web_seed([model, seed]);
    if (!Array.isArray(z)) throw new Error(z && z.error ? z.error : 'no seed latent');
    return new Float32Array(z);
  });
}

function keyLatents(model, keys, start) {
  return cached(keyframes, `${model}|${keys}|${start || ''}`, async () => {
    const rows = await server.web_keyframes([model, keys, start || '']);
    if (!Array.isArray(rows)) throw new Error(rows && rows.error ? rows.error : 'no keyframes');
    return rows.map((row) => new Float32Array(row));
  });
}

function usable() {
  return gan !== null && !forced && status.state !== 'off';
}

/** Warm the caches for a model and seed (called when the seed or model changes), so the next drag is local. */
export function prefetch(model, seed) {
  if (!usable() || model == null) return;
  loadModel(model);
  if (seed != null && seed !== '' && Number.isInteger(Number(seed)) && Number(seed) >= 0) seedLatent(model, Number(seed));
}

/** Warm the keyframe latents of an interpolation. */
export function prefetchWalk(model, keys, start) {
  if (!usable() || model == null) return;
  loadModel(model);
  keyLatents(model, keys, start);
}

function show(element, pixels, size, pReal, ms, caption) {
  // Paint straight into the picture's canvas (no PNG to encode and decode); the server's picture, when
  // one arrives, re-renders the template, which shows its <img> and hides the canvas again.
  const img = element.querySelector('img.gan-picture');
  const target = element.querySelector('canvas.gan-canvas');
  if (!img || !target) return false;
  gan.paint(target, pixels, size);
  target.dataset.frame = String(++painted);  // which paint is on screen (benchmarks and tests watch it)
  target.hidden = false;
  img.hidden = true;
  const fill = element.querySelector('.gan-meter-fill');
  if (fill) fill.style.height = pReal == null ? '0%' : `${(pReal * 100).toFixed(1)}%`;
  const verdict = element.querySelector('.gan-p-real');
  if (verdict && pReal != null) verdict.textContent = `P(real) ${(pReal * 100).toFixed(1)}%`;
  const title = element.querySelector('.gan-verdict-title[data-t]');
  if (title && caption) title.textContent = caption;
  const path = element.querySelector('.gan-path');
  if (path) {
    path.textContent = `drawn in your browser · ${ms.toFixed(1)} ms`;
    path.dataset.path = 'browser';
  }
  return true;
}

function finite(values) {
  return values.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** The starting z of an Explore state: the seed's (a seed wins, as on the server), else the state's own found z. */
function startLatent(model, seed, found, dim) {
  if (Number.isInteger(seed) && seed >= 0) return seedLatent(model, seed);
  if ((seed == null || seed === '') && Array.isArray(found) && found.length === dim && finite(found)) return new Float32Array(found);
  return null;  // anything else: the server says what is wrong
}

async function drawExplore(args, element) {
  const [model, seed, psi, ...rest] = args;  // rest: d1..d8, then the found z (null for a seed)
  const amounts = rest.slice(0, 8);
  const record = loadModel(model);
  if (!record.ready) return false;
  const z0 = startLatent(model, seed, rest[8], record.entry.dim);
  if (!z0 || !finite([psi, ...amounts]) || psi < 0 || psi > 2) return false;
  const {model: runtime, directions, count} = record.entry;
  if (amounts.some((a, k) => Math.abs(a) > 8 || (k >= count && a !== 0))) return false;  // the server says what is wrong
  const z = gan.latentFor(z0, psi, directions, amounts.slice(0, count));
  const {pixels, pReal, ms} = await runtime.draw(z);
  return show(element, pixels, runtime.imageSize, pReal, ms, null);
}

async function drawWalk(args, element) {
  const [model, keys, method, t, start] = args;
  const record = loadModel(model);
  if (!record.ready || !finite([t]) || t < 0 || t > 1 || (method !== 'slerp' && method !== 'lerp')) return false;
  const latents = keyLatents(model, keys, start);
  if (!latents || latents.length < 2) return false;
  // As Explorer.interpolation_frame: the segment t falls in, and the position inside it.
  const segments = latents.length - 1;
  const index = Math.min(Math.floor(t * segments), segments - 1);
  const local = t * segments - index;
  const z = (method === 'slerp' ? gan.slerp : gan.lerp)(latents[index], latents[index + 1], local);
  const {pixels, pReal, ms} = await record.entry.model.draw(z);
  return show(element, pixels, record.entry.model.imageSize, pReal, ms, `t = ${Number(t).toFixed(2)}`);
}

/**
 * Draw one live frame in the page. `kind` is 'explore' (args: model, seed, psi, d1..d8, z) or
 * 'interpolate' (args: model, keyframes, method, t, start state). Answers false when the page
 * cannot draw it now; the caller then asks the server.
 */
export async function draw(kind, args, element) {
  if (!usable()) return false;
  try {
    return kind === 'explore' ? await drawExplore(args, element) : await drawWalk(args, element);
  } catch (err) {
    console.warn('in-browser frame failed; using the server', err);
    return false;
  }
}

/** Tick or untick "Draw on the server". */
export function setForced(value) {
  forced = Boolean(value);
  if (forced) setStatus('off', 'the server path was asked for');
  else if (gan !== null) setStatus('ready');
}

export function currentStatus() {
  return {...status, forced};
}

/** Start the engine: load the runtime unless the server path is asked for; `initial` is the first picture's value. */
export async function start({config, functions, initial}) {
  server = functions;
  const asked = new URLSearchParams(window.location.search).get('render') === 'server';
  if (asked || config.forceServer) {
    forced = true;
    setStatus('off', asked ? 'the link asks for ?render=server' : 'the server path was asked for');
    return;
  }
  if (typeof WebAssembly !== 'object') {
    setStatus('failed', 'this browser has no WebAssembly');
    return;
  }
  setStatus('loading');
  try {
    const module = await import(config.ganWeb);
    await module.loadRuntime(config.vendor);
    gan = module;
  } catch (err) {
    setStatus('failed', `the runtime did not load: ${err.message}`);
    return;
  }
  // The runtime's WebAssembly is compiled with the first model: only then is drawing in the page known to work.
  if (initial && initial.model != null) {
    const record = loadModel(initial.model);
    if (Number.isInteger(initial.seed)) seedLatent(initial.model, initial.seed);
    await record.loaded;
    if (record.failed) return;
  }
  setStatus('ready');
}
