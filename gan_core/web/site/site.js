// The static explorer: Explore and Interpolate for one model, drawn in the visitor's browser.
//
// Everything comes from this folder (python -m gan_core.build_site wrote it): model.json (sizes,
// SeFa directions), seeds.bin (float32 (numSeeds, latentDim): the z the Gradio app draws for those
// seeds), generator.onnx / discriminator.onnx, and onnxruntime-web in vendor/ (gzip copies, checked
// against model.json's sha256 and decompressed here). After loading, no request leaves the page:
// every slider movement is one draw here, the latest values only.
//
// The latent math is the server's, in gan_web.js as in the Gradio page: Explore z = psi * z(seed) +
// sum_k amounts[k] * direction[k] (gan_core.pipeline.GanPipeline.latents); Interpolate walks the
// keyframes' z like gan_core.explorer.explorer.Explorer.interpolation_frame. The limits of a state
// (psi range, direction limit, keyframes) come with the model, in model.json.

import {frameQueue, interpolationLatent, latentFor, loadModel, loadRuntime, paint} from './gan_web.js';

const DIRECTION_STEP = 0.05;  // the Gradio app's direction sliders
const $ = (id) => document.getElementById(id);

// What tests (and the curious) can read: window.site.ready, .idle(), .draws, .state().
const site = {config: null, draws: 0, ready: null, idle: () => frames.idle(), state: () => exploreState()};
window.site = site;

let model = null;
let seeds = null;  // Float32Array (numSeeds * latentDim)
let directions = null;  // Float32Array (K * latentDim), strongest first
let count = 0;  // K: direction sliders in use

// ------------------------------------------------------------------ one draw at a time

// Slider events can come far faster than G runs: one frame in flight, the view asked for last drawn
// next (it reads the controls' values as they are then).
const frames = frameQueue(async (view) => {
  try {
    await view.draw();
  } catch (err) {
    console.warn('a frame failed', err);
    showStatus('A picture could not be drawn; reloading the page may help.');
  }
});

function makeView(prefix, latent) {
  const canvas = $(`${prefix}-picture`);
  return {
    async draw() {
      const z = latent();
      if (!z) return;  // the controls hold something invalid; its note says what
      const {pixels, pReal, ms} = await model.draw(z);
      paint(canvas, pixels, model.imageSize);
      $(`${prefix}-verdict`).textContent = pReal == null ? 'no D shipped' : `P(real) ${(100 * pReal).toFixed(1)}%`;
      $(`${prefix}-meter`).hidden = pReal == null;
      $(`${prefix}-meter`).value = pReal ?? 0;
      $(`${prefix}-timing`).textContent = `drawn in your browser · ${ms.toFixed(1)}\u00a0ms`;
      site.draws += 1;
    },
  };
}

const exploreView = makeView('explore', () => {
  const {seed, psi, amounts} = exploreState();
  return seed == null ? null : latentFor(seedLatent(seed), psi, directions, amounts);
});

const interpolateView = makeView('interpolate', () => {
  const keys = parseKeyframes($('keyframes').value);
  showFieldNote($('keyframes'), $('keyframes-hint'), keys.error, keyframesHint());
  if (keys.error) return null;
  const method = document.querySelector('input[name="method"]:checked').value;
  return interpolationLatent(keys.seeds.map(seedLatent), Number($('t').value), method);
});

function keyframesHint() {
  return `2 to ${site.config.maxKeyframes} seeds separated by commas; the path visits them in order.`;
}

// ------------------------------------------------------------------ state

function seedLatent(seed) {
  const dim = site.config.latentDim;
  return seeds.subarray(seed * dim, (seed + 1) * dim);
}

function seedError(text) {
  const max = site.config.numSeeds - 1;
  const value = Number(text);
  if (String(text).trim() === '' || !Number.isInteger(value) || value < 0 || value > max) {
    return `This site ships seeds 0 to ${max}; ${JSON.stringify(String(text).slice(0, 20))} is not one of them.`;
  }
  return null;
}

/** {seed (null when the box holds no valid seed), psi, amounts (K,)} as the controls show them. */
function exploreState() {
  const text = $('seed').value;
  return {
    seed: seedError(text) ? null : Number(text),
    psi: Number($('psi').value),
    amounts: Array.from({length: count}, (_, k) => Number($(`direction-${k + 1}`).value)),
  };
}

function parseKeyframes(text) {
  const items = text.trim().split(/[,\s]+/).filter(Boolean);
  const most = site.config.maxKeyframes;
  if (items.length < 2 || items.length > most) {
    return {error: `Give 2 to ${most} seeds separated by commas, like "0, 1"; got ${items.length}.`};
  }
  for (const item of items) {
    if (!/^\d{1,12}$/.test(item) || seedError(item)) return {error: seedError(item) ?? `${item} is not a seed.`};
  }
  return {seeds: items.map(Number)};
}

function formatNumber(value) {
  return String(Number(value.toFixed(4)));  // like Python's f"{round(a, 4):g}" for slider values
}

/** The share link's query, with the Gradio app's keys: model, seed, psi, amounts. */
function stateQuery({seed, psi, amounts}) {
  const query = new URLSearchParams({model: site.config.name, seed: String(seed), psi: formatNumber(psi)});
  return `?${query}&amounts=${amounts.map(formatNumber).join(',')}`;
}

/**
 * Read ?seed=..&psi=..&amounts=a,b,.. (keys of gan_core.explorer.state.ExploreState.to_query; the
 * last value of a repeated key wins, as there). A value this site cannot show falls back to its
 * default and is named in `notes`.
 */
function readLink(search) {
  const params = new URLSearchParams(search);
  const last = (key) => (params.has(key) ? params.getAll(key).at(-1) : null);
  const notes = [];
  const state = {seed: 0, psi: 1, amounts: new Array(count).fill(0)};
  const {name, psiRange, directionLimit} = site.config;
  if (last('model') != null && last('model') !== name) notes.push(`The link was made for model "${last('model').slice(0, 40)}"; this site shows ${name}.`);
  if (last('z') != null) notes.push('Links that carry z itself only open in the Gradio app; showing seed 0.');
  const seed = last('seed');
  if (seed != null) {
    if (seedError(seed)) notes.push(`${seedError(seed)} Showing seed 0.`);
    else state.seed = Number(seed);
  }
  const psi = last('psi');
  if (psi != null) {
    const value = Number(psi);
    if (psi.trim() === '' || !Number.isFinite(value) || value < psiRange[0] || value > psiRange[1]) {
      notes.push(`psi must be a number from ${psiRange[0]} to ${psiRange[1]}, got ${JSON.stringify(psi.slice(0, 20))}; showing psi 1.`);
    } else state.psi = value;
  }
  const amounts = last('amounts') ?? last('d');  // d= is the older name of amounts
  if (amounts != null) {
    const values = amounts.split(',').filter((item) => item.trim() !== '').map(Number);
    const bad = values.some((v) => !Number.isFinite(v) || Math.abs(v) > directionLimit);
    const beyond = values.slice(count).some((v) => v !== 0);
    if (bad) notes.push(`amounts must be numbers from -${directionLimit} to ${directionLimit}, got ${JSON.stringify(amounts.slice(0, 40))}; showing every direction at 0.`);
    else if (beyond) notes.push(`This model has ${count} directions; the link moves more. Showing every direction at 0.`);
    else values.slice(0, count).forEach((v, k) => { state.amounts[k] = v; });
  }
  return {state, notes};
}

function setExplore({seed, psi, amounts}) {
  $('seed').value = String(seed);
  $('psi').value = String(psi);
  amounts.forEach((value, k) => { $(`direction-${k + 1}`).value = String(value); });
  showExploreValues();
}

// ------------------------------------------------------------------ the page

function showStatus(text) {
  $('status').textContent = text;
}

function showNotes(notes) {
  $('note').textContent = notes.join(' ');
  $('note').hidden = notes.length === 0;
}

function showFieldNote(input, hint, error, normal) {
  input.setAttribute('aria-invalid', error ? 'true' : 'false');
  hint.textContent = error ?? normal;
}

function showExploreValues() {
  $('psi-value').textContent = Number($('psi').value).toFixed(2);
  for (let k = 0; k < count; k++) $(`direction-${k + 1}-value`).textContent = Number($(`direction-${k + 1}`).value).toFixed(2);
  showFieldNote($('seed'), $('seed-hint'), seedError($('seed').value), `seeds 0 to ${site.config.numSeeds - 1} ship with this site`);
}

function writeLink() {
  const state = exploreState();
  if (state.seed == null) return;
  const query = stateQuery(state);
  $('share').href = query;
  history.replaceState(null, '', query);
}

function buildDirectionSliders(strengths, limit) {
  const fieldset = $('directions');
  for (let k = 0; k < site.config.numDirections; k++) {
    const id = `direction-${k + 1}`;
    const row = document.createElement('div');
    row.className = 'slider';
    row.hidden = k >= count;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = k < count ? `Direction ${k + 1} · strength ${strengths[k].toFixed(2)}` : `Direction ${k + 1}`;
    const output = document.createElement('output');
    output.id = `${id}-value`;
    output.htmlFor = id;
    output.textContent = '0.00';
    const input = document.createElement('input');
    Object.assign(input, {type: 'range', id, min: String(-limit), max: String(limit), step: String(DIRECTION_STEP), value: '0'});
    row.append(label, output, input);
    fieldset.append(row);
  }
}

/** Picture size on screen: a whole multiple of the image size, so every pixel is the same square. */
function sizePictures() {
  const size = model.imageSize;
  const phone = matchMedia('(max-width: 640px)').matches;
  const target = phone ? Math.min(innerWidth * 0.46, innerHeight * 0.26) : Math.min(392, innerWidth * 0.42);
  const side = `${size * Math.max(1, Math.floor(target / size))}px`;
  for (const canvas of document.querySelectorAll('canvas.picture')) {
    canvas.style.width = side;
    canvas.style.height = side;
  }
}

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute('aria-controls')).hidden = !selected;
  }
  frames.request(tab.id === 'tab-explore' ? exploreView : interpolateView);
}

function wire() {
  const explore = () => {
    showExploreValues();
    frames.request(exploreView);
  };
  for (const input of document.querySelectorAll('#explore input')) {
    input.addEventListener('input', explore);
    input.addEventListener('change', writeLink);  // once a drag ends: the address bar is not rewritten per frame
  }
  $('random').addEventListener('click', () => {
    setExplore({seed: Math.floor(Math.random() * site.config.numSeeds), psi: 1, amounts: new Array(count).fill(0)});
    explore();
    writeLink();
  });
  $('reset').addEventListener('click', () => {
    const seed = exploreState().seed ?? 0;
    setExplore({seed, psi: 1, amounts: new Array(count).fill(0)});
    explore();
    writeLink();
  });
  const interpolate = () => {
    $('t-value').textContent = Number($('t').value).toFixed(2);
    frames.request(interpolateView);
  };
  for (const input of document.querySelectorAll('#interpolate input')) input.addEventListener('input', interpolate);
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => selectTab(tab));
    tab.addEventListener('keydown', (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      selectTab(next);
    });
  });
  addEventListener('resize', sizePictures);
}

function describe(config) {
  document.title = `${config.name} · DCGAN explorer`;
  $('title').textContent = `${config.name}: a DCGAN in your browser`;
  const trained = config.dataset ? `trained on ${config.dataset}` : 'a DCGAN generator';
  const judge = config.discriminator ? ' and its discriminator' : '';
  $('about').textContent = `A generator ${trained}${judge}, running in your browser with onnxruntime-web: no server, nothing sent anywhere.`;
  const made = config.ganCore.commit ? `gan_core ${config.ganCore.version}, commit ${config.ganCore.commit}` : `gan_core ${config.ganCore.version}`;
  $('footer').textContent = `${config.channels}×${config.imageSize}×${config.imageSize} pictures from ${config.latentDim}-dimensional ${config.noise} noise · seeds 0–${config.numSeeds - 1} · built with ${made}.`;
  if (config.verdictNote) {
    $('verdict-note').textContent = config.verdictNote;
    $('verdict-note').hidden = false;
  }
  if (config.timeline) {
    const details = $('timeline');
    details.hidden = false;
    $('timeline-caption').textContent = `A fixed batch of noise after epoch ${config.timeline.epoch}, the last of training.`;
    // Only fetched when opened: the page's first load stays the model and the seeds.
    details.addEventListener('toggle', () => { if (details.open) $('timeline-picture').src = config.timeline.file; }, {once: true});
  }
}

async function fetchBytes(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not fetch ${what} (${url}: HTTP ${response.status}); rebuild the site with python -m gan_core.build_site.`);
  return response.arrayBuffer();
}

async function start() {
  if (typeof WebAssembly !== 'object' || typeof DecompressionStream !== 'function') {
    throw new BrowserTooOld('this browser lacks WebAssembly or DecompressionStream');
  }
  const config = JSON.parse(new TextDecoder().decode(await fetchBytes('model.json', 'the model description')));
  site.config = config;
  describe(config);
  count = config.directions.length;
  directions = Float32Array.from(config.directions.flat());
  buildDirectionSliders(config.strengths, config.directionLimit);
  Object.assign($('psi'), {min: String(config.psiRange[0]), max: String(config.psiRange[1])});
  $('seed').max = String(config.numSeeds - 1);

  showStatus('Loading the model and the runtime…');
  if (!config.runtime) throw new Error('model.json names no runtime; rebuild the site with python -m gan_core.build_site.');
  const [seedBytes] = await Promise.all([fetchBytes(config.seeds, 'the seeds'), loadRuntime(config.runtime)]);
  const expected = config.numSeeds * config.latentDim * 4;
  if (seedBytes.byteLength !== expected) throw new Error(`${config.seeds} holds ${seedBytes.byteLength} bytes; expected ${expected} (${config.numSeeds} seeds of ${config.latentDim} float32).`);
  seeds = new Float32Array(seedBytes);  // little-endian, as every browser's platform is
  model = await loadModel({
    generatorUrl: config.generator,
    discriminatorUrl: config.discriminator,
    latentDim: config.latentDim,
    channels: config.channels,
    imageSize: config.imageSize,
  });

  const {state, notes} = readLink(location.search);
  setExplore(state);
  // Range inputs snap to their step; say so when a link's value was between two steps.
  const shown = exploreState();
  if (shown.psi !== state.psi || shown.amounts.some((value, k) => value !== state.amounts[k])) {
    notes.push(`The link's values were rounded to the sliders' steps (psi ${$('psi').step}, directions ${DIRECTION_STEP}).`);
  }
  showNotes(notes);
  $('share').href = stateQuery(state);
  $('t-value').textContent = Number($('t').value).toFixed(2);
  sizePictures();
  wire();
  showStatus('');
  $('keyframes-hint').textContent = keyframesHint();
  frames.request(exploreView);
  await frames.idle();
}

/** A browser that cannot run the model at all (the visitor can try another one). */
class BrowserTooOld extends Error {}

// A visitor reads one calm sentence; what went wrong goes to the console.
site.ready = start().catch((err) => {
  console.warn('the explorer did not start', err);
  showStatus(err instanceof BrowserTooOld
    ? 'This browser cannot run the model; a current Chrome, Firefox or Safari can.'
    : 'The model could not be loaded; reloading the page may help.');
  throw err;
});
