// gan_web.js: run a gan_core generator (and its discriminator) in the visitor's browser.
//
// One ES module, no build step and no CDN, shared by the Gradio page (assets/in_browser.mjs,
// assets/drag.js) and the static site (site/site.js). The caller says where onnxruntime-web's
// files are and where the two .onnx files are (python -m gan_core.export MODEL_DIR writes
// generator/model.onnx and discriminator/model.onnx). It also runs in Node (pass a file: URL of a
// folder holding the runtime's plain files, and the .onnx bytes instead of URLs).
//
//   import {loadRuntime, loadModel, latentFor, paint} from './gan_web.js';
//   await loadRuntime(runtime);   // {files: {name: {url, integrity, gzip}}} (what the app and model.json give), or a folder URL
//   const model = await loadModel({generatorUrl: 'generator/model.onnx', discriminatorUrl: 'discriminator/model.onnx'});
//   const {pixels, pReal, ms} = await model.draw(latentFor(seedZ, 1.0, directions, amounts));
//   paint(canvas, pixels, model.imageSize);   // CSS: image-rendering: pixelated to scale it up
//
// Tensor layouts follow gan_core: z is (latent_dim,), G's output (1, C, H, W) in [-1, 1], D's
// output one logit. Everything runs on the CPU in WebAssembly with one thread (no
// SharedArrayBuffer, so no cross-origin isolation headers are needed).

const RUNTIME_MODULE = 'ort.wasm.min.mjs';
const RUNTIME_GLUE = 'ort-wasm-simd-threaded.mjs';
const RUNTIME_WASM = 'ort-wasm-simd-threaded.wasm';
// A one-node ONNX model (Identity on one float, 70 bytes): loadRuntime starts a session of it, so the runtime's
// WebAssembly is compiled and initialised (most of a second) while a real model may still be downloading.
const WARM_UP_MODEL = 'CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgR3YXJtWg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==';

let runtime = null;  // the onnxruntime-web module, once loaded
let loading = null;  // {key: where it comes from, promise}

function pageUrl(url) {
  return new URL(String(url), globalThis.document?.baseURI ?? import.meta.url);
}

function resolveBase(base) {
  const url = pageUrl(base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * One runtime file, checked by the browser against its Subresource Integrity string (the response
 * is refused when a single byte differs) and, when `gzip`, decompressed in the page.
 * @returns {Promise<ArrayBuffer>}
 */
async function checkedBytes({url, integrity, gzip = false}, name) {
  if (!url || !integrity) throw new Error(`the runtime description lacks the URL or integrity of ${name}.`);
  let response;
  try {
    response = await fetch(pageUrl(url), {integrity});
  } catch (err) {
    throw new Error(`${name} could not be fetched or does not match its recorded sha256 (${err.message}).`);
  }
  if (!response.ok) throw new Error(`${name} could not be fetched (HTTP ${response.status}).`);
  if (!gzip) return response.arrayBuffer();
  if (typeof DecompressionStream !== 'function') throw new Error('this browser cannot decompress the runtime (no DecompressionStream).');
  return new Response(response.body.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
}

function moduleUrl(bytes) {
  // A data: URL, not a blob: one: it stays inside the page (a blob: URL shows up as a request of its own).
  const view = new Uint8Array(bytes);
  let binary = '';
  for (let i = 0; i < view.length; i += 0x8000) binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return `data:text/javascript;base64,${btoa(binary)}`;
}

/**
 * Load onnxruntime-web's wasm build and set it up: the WebAssembly execution provider, one thread,
 * and every file from where `source` says, never from a CDN. It settles once the runtime is compiled
 * and initialised (a tiny model's session is started and released), so that loadModel() is quick.
 * Calling it again returns the same runtime; a second, different source is an error (the runtime can
 * only be initialised once per page).
 * @param {object|string|URL} source either {files: {'ort.wasm.min.mjs': {url, integrity, gzip},
 *   'ort-wasm-simd-threaded.mjs': ..., 'ort-wasm-simd-threaded.wasm': ...}} (every file fetched and
 *   checked against its integrity, gzip ones decompressed in the page), or the URL of a folder that
 *   holds the three plain files (relative to the page)
 * @returns {Promise<object>} the onnxruntime-web module (`ort`)
 */
export function loadRuntime(source) {
  const described = source != null && typeof source === 'object' && !(source instanceof URL);
  const key = described ? JSON.stringify(Object.values(source.files ?? {}).map((file) => file.url)) : resolveBase(source).href;
  if (loading) {
    if (key !== loading.key) return Promise.reject(new Error(`onnxruntime-web is already loaded from ${loading.key}; it cannot be loaded again from ${key}.`));
    return loading.promise;
  }
  loading = {key, promise: startRuntime(source, described)};
  return loading.promise;
}

async function startRuntime(source, described) {
  let ort;
  if (described) {
    const files = source.files ?? {};
    const [api, glue, wasm] = await Promise.all([RUNTIME_MODULE, RUNTIME_GLUE, RUNTIME_WASM].map((name) => checkedBytes(files[name] ?? {}, name)));
    ort = await import(moduleUrl(api));
    ort.env.wasm.wasmPaths = {mjs: moduleUrl(glue)};  // the glue, imported when the first session starts
    ort.env.wasm.wasmBinary = wasm;
  } else {
    const base = resolveBase(source);
    ort = await import(new URL(RUNTIME_MODULE, base).href);
    ort.env.wasm.wasmPaths = base.href;  // ort-wasm-simd-threaded.mjs and .wasm come from here
  }
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  const warmUp = Uint8Array.from(atob(WARM_UP_MODEL), (c) => c.charCodeAt(0));
  await (await ort.InferenceSession.create(warmUp, {executionProviders: ['wasm']})).release();
  runtime = ort;
  return ort;
}

/**
 * The bytes of an .onnx file (fetched from a URL relative to the page, or given as bytes). Needs no
 * runtime, so a page can download a model while the runtime downloads.
 * @param {string|URL|ArrayBuffer|Uint8Array} source
 * @param {string} what 'generator' or 'discriminator', for the error message
 * @returns {Promise<Uint8Array>}
 */
export async function modelBytes(source, what) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const url = pageUrl(source);
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`Could not fetch the ${what} from ${url} (${err.message}).`);
  }
  if (!response.ok) throw new Error(`Could not fetch the ${what} from ${url}: HTTP ${response.status}. Run python -m gan_core.export MODEL_DIR to write it.`);
  return new Uint8Array(await response.arrayBuffer());
}

function checkedSize(given, fromModel, name, what) {
  // A config value given by the caller must agree with the shape stored in the .onnx file.
  if (given != null && typeof fromModel === 'number' && given !== fromModel) {
    throw new Error(`${name}=${given} does not fit the ${what}, which was exported with ${name}=${fromModel}.`);
  }
  const value = given ?? fromModel;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} is unknown: pass ${name} to loadModel (the ${what} does not record it).`);
  return value;
}

/**
 * Load an exported generator and, optionally, its discriminator.
 * @param {object} options
 * @param {string|URL|ArrayBuffer|Uint8Array} options.generatorUrl G's model.onnx: a URL or the file's bytes
 * @param {string|URL|ArrayBuffer|Uint8Array} [options.discriminatorUrl] D's model.onnx; without it pReal is null
 * @param {number} [options.latentDim] checked against the file (read from it when left out); same for
 * @param {number} [options.channels] 1 (grey) or 3 (RGB)
 * @param {number} [options.imageSize] side of the square picture in pixels
 * @returns {Promise<{latentDim: number, channels: number, imageSize: number, hasDiscriminator: boolean,
 *   draw: (z: Float32Array) => Promise<{pixels: Uint8ClampedArray, pReal: number|null, logit: number|null, ms: number}>,
 *   release: () => Promise<void>}>}
 */
export async function loadModel({generatorUrl, discriminatorUrl = null, latentDim, channels, imageSize} = {}) {
  if (!runtime) throw new Error('Call loadRuntime(source) before loadModel().');
  if (generatorUrl == null) throw new Error('loadModel needs generatorUrl: the URL (or bytes) of generator/model.onnx.');
  const ort = runtime;
  const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
  const [generatorBytes, discriminatorBytes] = await Promise.all([
    modelBytes(generatorUrl, 'generator'),
    discriminatorUrl == null ? null : modelBytes(discriminatorUrl, 'discriminator'),
  ]);
  const generator = await ort.InferenceSession.create(generatorBytes, options);
  const discriminator = discriminatorBytes && await ort.InferenceSession.create(discriminatorBytes, options);
  if (generator.inputNames[0] !== 'z' || generator.outputNames[0] !== 'images') {
    throw new Error(`The generator file has input ${generator.inputNames} and output ${generator.outputNames}; expected z -> images (export it with python -m gan_core.export).`);
  }
  if (discriminator && (discriminator.inputNames[0] !== 'images' || discriminator.outputNames[0] !== 'logits')) {
    throw new Error(`The discriminator file has input ${discriminator.inputNames} and output ${discriminator.outputNames}; expected images -> logits.`);
  }
  // Shapes recorded in the files: z (batch, latent_dim), images (batch, C, H, W).
  const zShape = generator.inputMetadata?.[0]?.shape ?? [];
  const imageShape = generator.outputMetadata?.[0]?.shape ?? [];
  const size = {
    latentDim: checkedSize(latentDim, zShape[1], 'latentDim', 'generator'),
    channels: checkedSize(channels, imageShape[1], 'channels', 'generator'),
    imageSize: checkedSize(imageSize, imageShape[2], 'imageSize', 'generator'),
  };
  if (discriminator) {
    const dShape = discriminator.inputMetadata?.[0]?.shape ?? [];
    checkedSize(size.channels, dShape[1], 'channels', 'discriminator');
    checkedSize(size.imageSize, dShape[2], 'imageSize', 'discriminator');
  }

  /**
   * One picture for latent z (latentDim,): G, then D on G's output.
   * pixels: RGBA, imageSize * imageSize * 4, as torch's round((clamp(x, -1, 1) + 1) * 127.5);
   * pReal: sigmoid(D's logit), D's probability that the picture is real (null without D);
   * ms: wall time of the whole call.
   */
  async function draw(z) {
    const start = performance.now();
    if (!(z instanceof Float32Array) || z.length !== size.latentDim) {
      throw new Error(`draw(z) needs a Float32Array of length latentDim=${size.latentDim}, got ${z?.constructor?.name} of length ${z?.length}.`);
    }
    const {images} = await generator.run({z: new ort.Tensor('float32', z, [1, size.latentDim])});
    let logit = null;
    if (discriminator) {
      const {logits} = await discriminator.run({images});  // G's output tensor feeds D directly
      logit = logits.data[0];
    }
    const pixels = toPixels(images.data, size.channels, size.imageSize);
    images.dispose?.();
    const pReal = logit == null ? null : 1 / (1 + Math.exp(-logit));
    return {pixels, pReal, logit, ms: performance.now() - start};
  }

  async function release() {
    await generator.release();
    if (discriminator) await discriminator.release();
  }

  return {...size, hasDiscriminator: Boolean(discriminator), draw, release};
}

/**
 * G's output (C, H, W) float32 in [-1, 1] -> RGBA pixels (H * W * 4), exactly as gan_core's
 * images.to_uint8: round((clamp(x, -1, 1) + 1) * 127.5) computed in float32 and rounded half to even.
 * Math.fround reproduces torch's float32 add and multiply bit for bit, and storing into a
 * Uint8ClampedArray rounds half to even (the spec's ToUint8Clamp) like torch.round, so for the same
 * x the bytes are identical. The runtimes' x differ by ~1e-6, which can move a value across a
 * rounding boundary: at most 1 grey level apart from torch, and rarely even that.
 * @param {Float32Array} values (C * H * W) planar, C = 1 or 3
 * @returns {Uint8ClampedArray} (H * W * 4) RGBA, alpha 255
 */
export function toPixels(values, channels, imageSize) {
  const area = imageSize * imageSize;
  if (values.length !== channels * area) throw new Error(`expected ${channels} x ${imageSize} x ${imageSize} values, got ${values.length}.`);
  const level = (x) => Math.fround(Math.fround(Math.min(Math.max(x, -1), 1) + 1) * 127.5);
  const pixels = new Uint8ClampedArray(area * 4);
  for (let i = 0; i < area; i++) {
    const red = level(values[i]);
    pixels[4 * i] = red;
    pixels[4 * i + 1] = channels === 3 ? level(values[area + i]) : red;
    pixels[4 * i + 2] = channels === 3 ? level(values[2 * area + i]) : red;
    pixels[4 * i + 3] = 255;
  }
  return pixels;
}

/**
 * Put RGBA `pixels` on `canvas` at 1:1 (a size x size canvas; scale it up with CSS
 * `image-rendering: pixelated`).
 * @param {HTMLCanvasElement|OffscreenCanvas} canvas
 * @param {Uint8ClampedArray} pixels size * size * 4
 * @param {number} size
 */
export function paint(canvas, pixels, size) {
  if (canvas.width !== size) canvas.width = size;
  if (canvas.height !== size) canvas.height = size;
  canvas.getContext('2d').putImageData(new ImageData(pixels, size, size), 0, 0);
}

/**
 * The explorer's latent: z = psi * seedZ + sum_k amounts[k] * directions[k]
 * (gan_core.core.latent.truncate, then move).
 * @param {Float32Array} seedZ (D,)
 * @param {number} psi truncation, 1 = unchanged
 * @param {Float32Array} directions (K * D) row-major, K >= amounts.length
 * @param {ArrayLike<number>} amounts (K,) steps along the first amounts.length directions
 * @returns {Float32Array} (D,)
 */
export function latentFor(seedZ, psi, directions = new Float32Array(0), amounts = []) {
  const dim = seedZ.length;
  if (directions.length < amounts.length * dim) {
    throw new Error(`got ${amounts.length} amounts but directions holds only ${Math.floor(directions.length / dim)} rows of ${dim}.`);
  }
  const z = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    let moved = seedZ[j] * psi;
    for (let k = 0; k < amounts.length; k++) moved += amounts[k] * directions[k * dim + j];
    z[j] = moved;
  }
  return z;
}

/**
 * Linear interpolation a + t (b - a) of two latents (D,); t = 0 gives a, t = 1 gives b.
 * @returns {Float32Array}
 */
export function lerp(a, b, t) {
  const out = new Float32Array(a.length);
  for (let j = 0; j < a.length; j++) out[j] = a[j] + (b[j] - a[j]) * t;
  return out;
}

/**
 * Spherical interpolation along the great circle from a to b (White 2016), as
 * gan_core.core.latent.slerp: norms are interpolated linearly; for (anti)parallel inputs
 * (|sin omega| < 1e-4) it falls back to lerp. Computed in float64, so it agrees with torch's
 * float32 result to ~1e-6.
 * @param {Float32Array} a (D,)
 * @param {Float32Array} b (D,)
 * @param {number} t 0 gives a, 1 gives b
 * @returns {Float32Array} (D,)
 */
export function slerp(a, b, t, eps = 1e-7) {
  let aNorm = 0;
  let bNorm = 0;
  for (let j = 0; j < a.length; j++) {
    aNorm += a[j] * a[j];
    bNorm += b[j] * b[j];
  }
  aNorm = Math.sqrt(aNorm);
  bNorm = Math.sqrt(bNorm);
  const aScale = 1 / Math.max(aNorm, eps);
  const bScale = 1 / Math.max(bNorm, eps);
  let cos = 0;
  for (let j = 0; j < a.length; j++) cos += a[j] * aScale * b[j] * bScale;
  const omega = Math.acos(Math.min(Math.max(cos, -1), 1));
  const sin = Math.sin(omega);
  if (Math.abs(sin) < 1e-4) return lerp(a, b, t);
  const radius = aNorm + (bNorm - aNorm) * t;
  const wa = (Math.sin((1 - t) * omega) / sin) * aScale * radius;
  const wb = (Math.sin(t * omega) / sin) * bScale * radius;
  const out = new Float32Array(a.length);
  for (let j = 0; j < a.length; j++) out[j] = wa * a[j] + wb * b[j];
  return out;
}

/**
 * The latent at position t of a walk through keyframes, as gan_core's Explorer.interpolation_frame:
 * K keyframes make K - 1 equal segments; t in [0, 1] picks one and the place inside it.
 * @param {Float32Array[]} keyframes K >= 2 latents (D,)
 * @param {number} t 0 gives the first keyframe, 1 the last
 * @param {'slerp'|'lerp'} method
 * @returns {Float32Array} (D,)
 */
export function interpolationLatent(keyframes, t, method) {
  const segments = keyframes.length - 1;
  if (!(segments >= 1)) throw new Error(`an interpolation needs at least 2 keyframes, got ${keyframes.length}.`);
  const index = Math.min(Math.floor(t * segments), segments - 1);
  return (method === 'lerp' ? lerp : slerp)(keyframes[index], keyframes[index + 1], t * segments - index);
}

/**
 * One frame in flight, the latest request next: slider events come far faster than a frame is
 * drawn, so while `draw(job)` runs, later requests only replace the one waiting; when it is done
 * the waiting one (the newest) is drawn. Nothing piles up and the last values are always drawn.
 * (Waiting for an animation frame before drawing was measured: it costs a whole frame of latency,
 * so a frame is drawn as soon as the previous one is done.)
 * @param {(job: any) => Promise<void>} draw errors are logged, never thrown
 * @returns {{request: (job: any) => void, idle: () => Promise<void>}} `idle()` settles once nothing runs or waits
 */
export function frameQueue(draw) {
  let busy = false;
  let waiting = null;  // {job} of the newest request made while busy
  const idlers = [];
  async function run(job) {
    busy = true;
    try {
      await draw(job);
    } catch (err) {
      console.warn('a frame failed', err);
    }
    const next = waiting;
    waiting = null;
    if (next) return run(next.job);
    busy = false;
    for (const resolve of idlers.splice(0)) resolve();
  }
  return {
    request(job) {
      if (busy) waiting = {job};
      else run(job);
    },
    idle() {
      return busy ? new Promise((resolve) => idlers.push(resolve)) : Promise.resolve();
    },
  };
}
