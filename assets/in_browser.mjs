// The explorer page's in-browser engine: G and D run in the page (gan_web.js on onnxruntime-web),
// fed by what the server sends once per model and per seed (the seed's z exactly as the server
// draws it, the slider directions, the limits of a state, the model's ONNX files). A slider move
// then costs no request. A state found from a picture ("Draw or upload") carries its z itself (the
// seed box is empty): the page draws from that z, which the hidden JSON beside the sliders holds.
//
// Started by the Explore picture's drag path (assets/drag.js), which asks `window.ganWeb.draw(...)`
// first and falls back to the server when it answers false: while the runtime or a model or a seed
// is still loading, where WebAssembly or a file is unavailable, or when the page was opened with
// ?render=server (or the "Draw on the server" box is ticked). (The runtime and the first model are
// already downloading by then: the page's answer preloads them, ui/engine.py.) The status line under
// the picture says in one sentence which it is; the details go to the browser's console.

let web = null;  // the gan_web.js module
let runtimeReady = null;  // settles when onnxruntime-web is up
let gan = null;  // gan_web.js once the runtime is up: drawing in the page works
let server = null;  // the Explore picture's server functions: web_model, web_seed, web_keyframes
let engine = {state: 'loading', sentence: 'loading'};  // what the engine can do (the line shows 'off' while forced)
let forced = false;
let painted = 0;
let current = null;  // the model the page shows
const models = new Map();  // model name -> {ready, failed, entry: {model, dim, limits}}
const directionSets = new Map();  // `${model}|${kind}` -> {directions: Float32Array(K * D), count: K} or a pending Promise
const seeds = new Map();  // `${model}|${seed}` -> Float32Array(D) or a pending Promise
const keyframes = new Map();  // `${model}|${keys}|${start}` -> [Float32Array(D)] or a pending Promise

// One calm sentence per state, for a visitor (what the page does and, where it helps, what they can do).
const SENTENCES = {
  loading: 'In-browser drawing is loading; the server draws meanwhile.',
  ready: 'In-browser drawing is on: dragging sends nothing to the server.',
  off: 'In-browser drawing is off, as asked: the server draws every picture.',
  failed: 'In-browser drawing is unavailable here, so the server draws every picture; reloading the page may help.',
  browser: 'In-browser drawing is unavailable in this browser, so the server draws every picture.',
  model: 'This model is drawn on the server.',
};

function setStatus(state, sentence = state) {
  engine = {state, sentence};
  showStatus();
}

function showStatus() {
  const line = document.querySelector('#render-status .gan-render-status');
  if (!line) return;
  const {state, sentence} = forced ? {state: 'off', sentence: 'off'} : engine;
  line.textContent = SENTENCES[sentence];
  line.dataset.state = state;
}

/** The status line for the model the page shows now (a model that cannot be drawn in the page says so). */
function showModelStatus() {
  if (gan === null) return;
  const record = current == null ? null : models.get(current);
  setStatus(record && record.failed ? 'failed' : 'ready', record && record.failed ? 'model' : 'ready');
}

function loadModel(name) {
  if (models.has(name)) return models.get(name);
  const record = {ready: false, failed: false, entry: null, loaded: null};
  models.set(name, record);
  record.loaded = (async () => {
    const bundle = await within(server.web_model([name]), 3 * ANSWER_MS, `the model ${name}`);
    if (!bundle || bundle.error) throw new Error(bundle ? bundle.error : 'no answer');
    if (!bundle.generator_url) throw new Error(`model ${name} has no model.onnx (python -m gan_core.export MODEL_DIR writes it)`);
    // The model's files download while the runtime does; the sessions start once it is up.
    const [generator, discriminator] = await Promise.all([
      web.modelBytes(bundle.generator_url, 'generator'),
      bundle.discriminator_url == null ? null : web.modelBytes(bundle.discriminator_url, 'discriminator'),
    ]);
    await runtimeReady;
    const model = await web.loadModel({generatorUrl: generator, discriminatorUrl: discriminator,
                                       latentDim: bundle.latent_dim, channels: bundle.channels, imageSize: bundle.image_size});
    directionSets.set(`${name}|${bundle.kind}`, directionsOf(bundle));
    const limits = {sliders: bundle.sliders, psi: bundle.psi_range, amount: bundle.direction_limit};
    record.entry = {model, dim: bundle.latent_dim, limits};
    record.ready = true;
  })().catch((err) => {
    record.failed = true;
    console.warn(`in-browser drawing of model ${name} is unavailable; the server draws it:`, err);
    if (name === current) showModelStatus();
  });
  return record;
}

function directionsOf(bundle) {
  return {directions: new Float32Array(bundle.directions.flat()), count: bundle.directions.length};
}

const ANSWER_MS = 10000;  // a server function that has not answered by then is asked again at the next frame

/** `promise`, or an error once `ms` have passed. */
function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The value under `key`, else null while `fetcher()` gets it (once; asked again after a failure or no answer). */
function cached(map, key, fetcher) {
  const value = map.get(key);
  if (value !== undefined && !(value instanceof Promise)) return value;
  if (value === undefined) {
    const pending = within(fetcher(), ANSWER_MS, key).then((result) => { map.set(key, result); return result; }).catch((err) => { map.delete(key); console.warn(err); });
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

/** A kind of slider directions of a model (SeFa's come with the model; another kind is asked for once). */
function directionSet(model, kind) {
  return cached(directionSets, `${model}|${kind}`, async () => {
    const bundle = await server.web_model([model, kind]);
    if (!bundle || bundle.error) throw new Error(bundle ? bundle.error : 'no directions');
    return directionsOf(bundle);
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
  return gan !== null && !forced;
}

/** Warm the caches for a model and seed (called when the seed or model changes), so the next drag is local. */
export function prefetch(model, seed) {
  if (model == null) return;
  current = model;
  if (!usable()) return;
  loadModel(model);
  showModelStatus();
  if (seed != null && seed !== '' && Number.isInteger(Number(seed)) && Number(seed) >= 0) seedLatent(model, Number(seed));
}

/** Warm the keyframe latents of an interpolation. */
export function prefetchInterpolation(model, keys, start) {
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
  const [model, seed, psi, ...rest] = args;  // rest: the amounts of the page's sliders, the found z (null for a seed), the kind
  const record = loadModel(model);
  if (!record.ready) return false;
  const {model: runtime, dim, limits} = record.entry;
  const amounts = rest.slice(0, limits.sliders);
  const z0 = startLatent(model, seed, rest[limits.sliders], dim);
  const set = directionSet(model, rest[limits.sliders + 1] ?? 'sefa');
  // Values the server would refuse are left to it: it says what is wrong.
  if (!z0 || !set || !finite([psi, ...amounts]) || psi < limits.psi[0] || psi > limits.psi[1]) return false;
  const {directions, count} = set;
  if (amounts.some((a, k) => Math.abs(a) > limits.amount || (k >= count && a !== 0))) return false;
  const z = gan.latentFor(z0, psi, directions, amounts.slice(0, count));
  const {pixels, pReal, ms} = await runtime.draw(z);
  return show(element, pixels, runtime.imageSize, pReal, ms, null);
}

async function drawInterpolation(args, element) {
  const [model, keys, method, t, start] = args;
  const record = loadModel(model);
  if (!record.ready || !finite([t]) || t < 0 || t > 1 || (method !== 'slerp' && method !== 'lerp')) return false;
  const latents = keyLatents(model, keys, start);
  if (!latents || latents.length < 2) return false;
  const {pixels, pReal, ms} = await record.entry.model.draw(gan.interpolationLatent(latents, t, method));
  return show(element, pixels, record.entry.model.imageSize, pReal, ms, `t = ${Number(t).toFixed(2)}`);
}

/**
 * Draw one frame in the page. `kind` is 'explore' (args: model, seed, psi, d1..d8, z) or
 * 'interpolate' (args: model, keyframes, method, t, start state). Answers false when the page
 * cannot draw it now; the caller then asks the server.
 */
export async function draw(kind, args, element) {
  if (!usable()) return false;
  try {
    return kind === 'explore' ? await drawExplore(args, element) : await drawInterpolation(args, element);
  } catch (err) {
    console.warn('in-browser frame failed; using the server', err);
    return false;
  }
}

/** Tick or untick "Draw on the server". */
export function setForced(value) {
  forced = Boolean(value);
  showStatus();
}

export function currentStatus() {
  return {...engine, forced};
}

function usableBrowser() {
  return typeof WebAssembly === 'object' && typeof DecompressionStream === 'function';
}

/** Start the engine: load the runtime unless the server path is asked for; `initial` is the first picture's value. */
export async function start({config, functions, initial}) {
  server = functions;
  current = initial && initial.model != null ? initial.model : null;
  const asked = new URLSearchParams(window.location.search).get('render') === 'server';
  if (asked || config.forceServer) {
    forced = true;
    setStatus('off');
    return;
  }
  if (!usableBrowser()) {
    console.warn('in-browser drawing is unavailable: this browser lacks', typeof WebAssembly !== 'object' ? 'WebAssembly' : 'DecompressionStream');
    setStatus('failed', 'browser');
    return;
  }
  if (!config.runtime) {
    console.warn('in-browser drawing is unavailable: the server has no usable onnxruntime-web (its log says why)');
    setStatus('failed');
    return;
  }
  setStatus('loading');
  try {
    web = await import(config.ganWeb);
  } catch (err) {
    console.warn('in-browser drawing is unavailable: gan_web.js did not load', err);
    setStatus('failed');
    return;
  }
  runtimeReady = web.loadRuntime(config.runtime);
  // The first model and seed are asked for while the runtime downloads.
  const first = current != null ? loadModel(current) : null;
  if (first && Number.isInteger(initial.seed)) seedLatent(current, initial.seed);
  try {
    await runtimeReady;
  } catch (err) {
    console.warn('in-browser drawing is unavailable: the runtime did not load', err);
    setStatus('failed');
    return;
  }
  // The first model's sessions have started and its seed's z is here: the next drag is drawn in the page.
  if (first) await first.loaded;
  const seed = first && Number.isInteger(initial.seed) ? seeds.get(`${current}|${initial.seed}`) : null;
  if (seed instanceof Promise) await seed;
  gan = web;
  showModelStatus();
}
