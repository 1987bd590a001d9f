// The dx-www client's host in a browser (spec/client-abi.md): every import of module `env`
// implemented over the real DOM, the page's HTIP stream fetched (with DXDP delta patches for
// a version the browser already holds, RFC 3229, spec/delta.md) and rendered by the WASM
// client into the shell's root element. Served as a file so the page's Content-Security-
// Policy needs no inline script.

const EVENTS = ["click", "input", "change", "submit", "keydown", "keyup"];
const CACHE = "dx-assets-v1";
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Runs `client` (a WebAssembly module's URL) on `root`, returning its exports and host. */
export async function start(root, clientUrl) {
  const nodes = new Map([[0, root]]);
  const templates = new Map();
  let nextNode = 1;
  let exports = null;
  const text = (ptr, len) => decoder.decode(new Uint8Array(exports.memory.buffer, ptr, len));
  const node = (id) => {
    const n = nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  };
  const env = {
    host_cache_template(id, ptr, len) {
      const template = document.createElement("template");
      template.innerHTML = text(ptr, len);
      templates.set(id, template);
    },
    host_clone_template(id) {
      const first = templates.get(id)?.content.firstElementChild;
      if (!first) return -1;
      const id2 = nextNode++;
      nodes.set(id2, first.cloneNode(true));
      return id2;
    },
    host_append(parent, child) {
      node(parent).appendChild(node(child));
    },
    host_remove(id) {
      node(id).remove();
    },
    host_set_text(id, ptr, len) {
      node(id).textContent = text(ptr, len);
    },
    host_set_attr(id, kp, kl, vp, vl) {
      node(id).setAttribute(text(kp, kl), text(vp, vl));
    },
    host_toggle_class(id, ptr, len, enable) {
      node(id).classList.toggle(text(ptr, len), enable === 1);
    },
    host_listen(id, event, handler) {
      const name = EVENTS[event];
      node(id).addEventListener(name, (e) => {
        // A submit is the client's to handle: the page does not navigate.
        if (name === "submit") e.preventDefault();
        const code = exports.on_event(handler);
        root.dispatchEvent(
          new CustomEvent("dx:event", { detail: { handler, code, type: name, target: e.target } }),
        );
      });
    },
    host_log(value) {
      console.debug("dx client:", value);
    },
  };
  const { instance } = await WebAssembly.instantiateStreaming(fetch(clientUrl), { env });
  exports = instance.exports;
  if (exports.init() !== 0) throw new Error("the client did not start");
  return { exports, nodes, templates };
}

/** Copies `bytes` into the client's memory; returns the address. */
function put(exports, bytes) {
  const ptr = exports.alloc(bytes.length, 1);
  if (ptr === 0 && bytes.length > 0) throw new Error("the client has no memory for the stream");
  new Uint8Array(exports.memory.buffer, ptr, bytes.length).set(bytes);
  return ptr;
}

/** Renders the stream `bytes`; throws with the client's error code. */
export function render(exports, bytes) {
  exports.reset_heap();
  const code = exports.render_stream(put(exports, bytes), bytes.length);
  if (code !== 0) throw new Error(`the client refused the stream (code ${-code})`);
}

/** Applies a DXDP patch to `base` with the client; the target's bytes. */
export function applyPatch(exports, base, patch) {
  for (let cap = base.length * 2 + patch.length + 65536; cap <= 1 << 30; cap *= 4) {
    exports.reset_heap();
    const b = put(exports, base);
    const p = put(exports, patch);
    const out = exports.alloc(cap, 1);
    if (out === 0) break;
    const len = exports.apply_patch(b, base.length, p, patch.length, out, cap);
    if (len >= 0) return new Uint8Array(exports.memory.buffer, out, len).slice();
    if (len !== -17) throw new Error(`the client refused the patch (code ${-len})`);
  }
  throw new Error("the patched stream does not fit the client's memory");
}

/**
 * Fetches `url`, sending the version the browser holds so the server can answer 304 or a
 * patch (226 IM Used) instead of the whole stream. Returns the bytes and how they came.
 */
export async function fetchStream(exports, url) {
  const cache = "caches" in self ? await caches.open(CACHE) : null;
  const held = cache ? await cache.match(url) : undefined;
  const headers = {};
  let base = null;
  if (held?.headers.get("etag")) {
    base = new Uint8Array(await held.arrayBuffer());
    headers["A-IM"] = "dxdp";
    headers["If-None-Match"] = held.headers.get("etag");
  }
  const response = await fetch(url, { headers, cache: "no-store" });
  let bytes;
  let how;
  if (response.status === 304 && base) {
    bytes = base;
    how = "cached";
  } else if (response.status === 226 && base) {
    bytes = applyPatch(exports, base, new Uint8Array(await response.arrayBuffer()));
    how = "patched";
  } else if (response.ok) {
    bytes = new Uint8Array(await response.arrayBuffer());
    how = "full";
  } else {
    throw new Error(`the stream answered ${response.status}`);
  }
  const etag = response.headers.get("etag");
  if (cache && etag && how !== "cached") {
    await cache.put(url, new Response(bytes, { headers: { etag } }));
  }
  return { bytes, how, transferred: Number(response.headers.get("content-length") ?? 0) };
}

async function main() {
  const root = document.getElementById("dx-root");
  if (!root?.dataset.dxStream || !root.dataset.dxClient) return;
  try {
    const { exports } = await start(root, root.dataset.dxClient);
    const { bytes, how, transferred } = await fetchStream(exports, root.dataset.dxStream);
    render(exports, bytes);
    // The page's content is in the DOM: what a reader waits for (benches/first_render reads it).
    performance.mark("dx-rendered");
    if (root.dataset.dxApp) {
      // The page's application, if it names one: it answers the events the client routes.
      const app = await import(root.dataset.dxApp);
      app.attach?.(root);
    }
    root.dataset.dxRendered = how;
    root.dataset.dxTransferred = String(transferred);
    root.dispatchEvent(new CustomEvent("dx:rendered", { detail: { how, transferred } }));
  } catch (error) {
    console.error(error);
    root.dataset.dxRendered = "failed";
    const p = document.createElement("p");
    p.setAttribute("role", "alert");
    p.textContent = "This page could not be shown.";
    root.replaceChildren(p);
  }
}

main();
