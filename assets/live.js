// The browser's live path for one picture: always send the latest slider values, one request at a time.
// __FN__ is the picture component's server function (replaced by app.py).
const live = {busy: false, pending: null};
async function run(args) {
  live.busy = true;
  try {
    const out = await server.__FN__(args);
    if (out && !out.error) props.value = out;
  } catch (err) { console.warn('live update failed', err); }
  live.busy = false;
  if (live.pending) { const next = live.pending; live.pending = null; run(next); }
}
window.ganLive = window.ganLive || {};
window.ganLive['__FN__'] = (args) => { if (live.busy) live.pending = args; else run(args); };
