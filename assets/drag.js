// The live path of one picture (the js_on_load of a gr.HTML; app.py fills in __KIND__, __FN__ and __CONFIG__).
// A slider move hands its values to window.ganLive[kind]: drawn in the page by the in-browser engine
// (assets/in_browser.mjs) when it can, else one POST to the picture's server function __FN__. One
// frame is in flight at a time and the latest values always follow: no pile-up. (Waiting for the next
// animation frame before drawing in the page was measured: it costs a whole frame of latency, so a
// frame is drawn as soon as the previous one is done.)
const kind = '__KIND__';
const config = __CONFIG__;
for (const key of ['engine', 'ganWeb', 'vendor']) {  // page-relative URLs -> absolute, as import() needs
  if (config[key]) config[key] = new URL(config[key], document.baseURI).href;
}
const live = {busy: false, pending: null};

async function run(args) {
  live.busy = true;
  try {
    const engine = window.ganWeb;
    const drawn = engine ? await engine.draw(kind, args, element) : false;
    if (!drawn) {
      const out = await server.__FN__(args);
      if (out && !out.error) props.value = out;
    }
  } catch (err) { console.warn('live update failed', err); }
  live.busy = false;
  if (live.pending) { const next = live.pending; live.pending = null; run(next); }
}

window.ganLive = window.ganLive || {};
window.ganLive[kind] = (args) => { if (live.busy) live.pending = args; else run(args); };

if (config.engine) {
  import(config.engine)
    .then((engine) => { window.ganWeb = engine; return engine.start({config, functions: server, initial: props.value}); })
    .catch((err) => console.warn('in-browser drawing unavailable; every picture comes from the server', err));
}
