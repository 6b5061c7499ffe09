// The drag path of one picture (the js_on_load of a gr.HTML whose prop `drag` is {kind, fn, config}: ui/engine.py).
// A slider move hands its values to window.ganDrag[kind]: drawn in the page by the in-browser engine
// (assets/in_browser.mjs) when it can, else one POST to the picture's server function `fn`. One
// frame is in flight at a time and the latest values always follow: no pile-up. (Waiting for the next
// animation frame before drawing in the page was measured: it costs a whole frame of latency, so a
// frame is drawn as soon as the previous one is done.)
const {kind, fn} = props.drag;
const config = {...props.drag.config};
for (const key of ['engine', 'ganWeb', 'vendor']) {  // page-relative URLs -> absolute, as import() needs
  if (config[key]) config[key] = new URL(config[key], document.baseURI).href;
}
const drag = {busy: false, pending: null};

async function run(args) {
  drag.busy = true;
  try {
    const engine = window.ganWeb;
    const drawn = engine ? await engine.draw(kind, args, element) : false;
    if (!drawn) {
      const out = await server[fn](args);
      if (out && !out.error) props.value = out;
    }
  } catch (err) { console.warn('live update failed', err); }
  drag.busy = false;
  if (drag.pending) { const next = drag.pending; drag.pending = null; run(next); }
}

window.ganDrag = window.ganDrag || {};
window.ganDrag[kind] = (args) => { if (drag.busy) drag.pending = args; else run(args); };

if (config.engine) {
  import(config.engine)
    .then((engine) => { window.ganWeb = engine; return engine.start({config, functions: server, initial: props.value}); })
    .catch((err) => console.warn('in-browser drawing unavailable; every picture comes from the server', err));
}
