// The drag path of one picture (the js_on_load of a gr.HTML whose prop `drag` is {kind, fn, inputs, ganWeb, config}:
// ui/engine.py). A slider move is taken from the slider's own `input` event (one listener on the page, before
// Gradio's dispatch, which costs a frame): the values are read from the page's inputs (`inputs`: selectors in the
// order of the server function's arguments, null for a value the page does not show) and the frame is drawn at once,
// so it is on screen with the next animation frame. Gradio's .input event of the slider then hands over the whole
// state (window.ganDrag[kind]; it also holds a found picture's z) and is drawn only when it differs from what was just
// drawn.
// Each frame is drawn in the page by the in-browser engine (assets/in_browser.mjs, window.ganWeb) when it can, else
// by one POST to the picture's server function `fn`; one frame in flight, the latest values next (gan_web.js).
const {kind, fn, inputs} = props.drag;
const config = props.drag.config ? {...props.drag.config} : null;
const absolute = (url) => new URL(url, document.baseURI).href;  // import() resolves against the module, not the page
const RECENT_MS = 1000;  // Gradio's copy of a move arrives within this time of the move itself
const recent = new Map();  // JSON of the values asked for from the page's inputs -> when
let state = null;  // the values Gradio last handed over
let queue = null;  // gan_web.js's frameQueue, once loaded
let early = null;  // the newest frame asked for before that

async function run(args) {
  const engine = window.ganWeb;
  const drawn = engine ? await engine.draw(kind, args, element) : false;
  if (!drawn) {
    const out = await server[fn](args);
    if (out && !out.error) props.value = out;
  }
}

function ask(args) {
  if (queue) queue.request(args);
  else early = args;
}

/** One input's value as Gradio sends it: a range's number, a number box's (null when empty), a radio's choice, a text. */
function read(selector) {
  if (selector === null) return null;  // not in the page: a found picture's z, which a seed overrides
  const box = document.querySelector(selector);
  if (!box) return undefined;
  const range = box.querySelector('input[type=range]');
  if (range) return Number(range.value);
  const number = box.querySelector('input[type=number]');
  if (number) return number.value.trim() === '' ? null : Number(number.value);
  if (box.querySelector('input[type=radio]')) {
    const checked = box.querySelector('input[type=radio]:checked');
    return checked ? checked.value : undefined;
  }
  const text = box.querySelector('textarea, input');
  return text ? text.value : undefined;
}

/** The frame's values read from the page, or null where the page cannot say (Gradio's copy then draws it). */
function fromPage() {
  const args = inputs.map(read);
  // An input Gradio does not render (a slider the model does not use) holds what Gradio last sent for it.
  for (let i = 0; i < args.length; i++) {
    if (args[i] === undefined) {
      if (!state || state[i] === undefined) return null;
      args[i] = state[i];
    }
  }
  if (kind === 'explore' && args[1] === null) return null;  // no seed: the state's found z, which only Gradio's copy carries
  return args;
}

function onInput(event) {
  const target = event.target;
  if (!(target instanceof HTMLInputElement) || target.type !== 'range' || !inputs.some((selector) => target.closest(selector))) return;
  const args = fromPage();
  if (!args) return;
  const now = performance.now();
  for (const [key, when] of recent) if (now - when > RECENT_MS) recent.delete(key);
  recent.set(JSON.stringify(args), now);
  ask(args);
}

window.ganDrag = window.ganDrag || {};
window.ganDrag[kind] = (args) => {
  state = args;
  // Compared as the page reads it: where a seed is set, the found z does not count.
  const seeded = kind === 'explore' && args[1] !== null && args[1] !== undefined;
  const key = JSON.stringify(args.map((value, i) => (inputs[i] === null && seeded ? null : value)));
  if (!recent.has(key)) ask(args);
};
// One listener per picture kind for the page's life (a re-mounted picture takes it over), capturing: it runs before
// the slider's own listeners.
window.ganDragInput = window.ganDragInput || {};
if (!window.ganDragInput[kind]) document.addEventListener('input', (event) => window.ganDragInput[kind](event), true);
window.ganDragInput[kind] = onInput;

import(absolute(props.drag.ganWeb))
  .then((gan) => {
    queue = gan.frameQueue(run);
    if (early) queue.request(early);
    early = null;
  })
  .catch((err) => console.warn('the drag path could not load gan_web.js; pictures follow a slider on release only', err));

if (config) {
  for (const key of ['engine', 'ganWeb']) config[key] = absolute(config[key]);
  import(config.engine)
    .then((engine) => { window.ganWeb = engine; return engine.start({config, functions: server, initial: props.value}); })
    .catch((err) => console.warn('in-browser drawing unavailable; every picture comes from the server', err));
}
