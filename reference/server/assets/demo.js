// The demo application on top of the client (spec/ssr.md, "The reference"): the page's forms
// are HTIP templates whose `submit` listeners the client routes through `on_event`; this
// module answers them. It logs in, calls an authenticated route, posts an item with the CSRF
// token, and shows any error envelope's message. It learns the routes and the CSRF header
// from the discovery document, as any client of a dx-www server can.

const LOGIN = 1;
const ADD_ITEM = 2;

const state = { discovery: null, access: null, csrf: null };

async function discovery() {
  state.discovery ??= await (await fetch("/.well-known/dx-www")).json();
  return state.discovery;
}

/** The CSRF token of this browser's session, fetched once (it sets the session cookie). */
async function csrfToken() {
  if (!state.csrf) {
    const { csrf } = await discovery();
    const answer = await fetch(csrf.token_endpoint, { credentials: "same-origin" });
    state.csrf = (await answer.json()).token;
  }
  return state.csrf;
}

/** An unsafe request with the CSRF token and, once logged in, the access token. */
async function send(method, path, body) {
  const { csrf } = await discovery();
  const headers = { "content-type": "application/json", [csrf.header]: await csrfToken() };
  if (state.access) headers.authorization = `Bearer ${state.access}`;
  const answer = await fetch(path, {
    method,
    headers,
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const json = await answer.json().catch(() => null);
  if (!answer.ok) {
    // The error envelope (spec/error-format.md): its message is meant for people.
    const message = json?.error?.message ?? `HTTP ${answer.status}`;
    throw new Error(message);
  }
  return json;
}

function show(root, selector, text, failed) {
  const place = root.querySelector(selector);
  if (!place) return;
  place.textContent = text;
  place.toggleAttribute("data-failed", failed);
  place.setAttribute("role", failed ? "alert" : "status");
}

async function login(root, form) {
  const data = new FormData(form);
  const auth = (await discovery()).auth;
  const base = auth?.endpoints?.login ?? "/api/v1/auth/login";
  try {
    const tokens = await send("POST", base, { email: data.get("email"), password: data.get("password") });
    state.access = tokens.access_token;
    const me = await fetch(auth?.endpoints?.me ?? "/api/v1/auth/me", {
      headers: { authorization: `Bearer ${state.access}` },
    });
    const who = await me.json();
    show(root, ".account-status", `Signed in as ${who.sub ?? who.user_id ?? "you"}`, false);
    root.dataset.dxSignedIn = "true";
    live(root);
  } catch (error) {
    show(root, ".account-status", error.message, true);
  }
}

async function addItem(root, form) {
  const data = new FormData(form);
  const items = (await discovery()).query?.items ?? "/api/v1/items";
  try {
    if (!state.access) throw new Error("Log in to add items");
    const item = await send("POST", items, { name: data.get("name"), body: "" });
    const list = root.querySelector(".list");
    const li = document.createElement("li");
    li.className = "item added";
    li.dataset.id = String(item.id);
    li.textContent = item.name;
    list?.append(li);
    form.reset();
    show(root, ".add-status", `Added ${item.name}`, false);
  } catch (error) {
    show(root, ".add-status", error.message, true);
  }
}

// The sync protocol's frames this page uses (spec/sync.md, "Frames").
const SUBSCRIBE = 0x01;
const WELCOME = 0x80;
const SUBSCRIBED = 0x81;
const MESSAGE = 0x83;
const utf8 = new TextEncoder();
const text = new TextDecoder();

function subscribeFrame(request, channel) {
  const name = utf8.encode(channel);
  const frame = new Uint8Array(6 + name.length);
  const view = new DataView(frame.buffer);
  frame[0] = SUBSCRIBE;
  view.setUint32(1, request, true);
  frame[5] = name.length;
  frame.set(name, 6);
  return frame;
}

/** Reads a `str8` at `at`: the text and where the next field starts. */
function str8(bytes, at) {
  const len = bytes[at];
  return [text.decode(bytes.subarray(at + 1, at + 1 + len)), at + 1 + len];
}

/** Follows the live list's channel over the sync WebSocket with the access token. */
async function live(root) {
  const list = root.querySelector(".messages[data-channel]");
  const sync = (await discovery()).sync;
  if (!list || !sync || !state.access) return;
  const url = new URL(sync.endpoint, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // Browsers cannot set Authorization on a WebSocket: the token rides in the subprotocols.
  const socket = new WebSocket(url, [sync.subprotocol, `dx-token.${state.access}`]);
  socket.binaryType = "arraybuffer";
  socket.addEventListener("message", (event) => {
    const bytes = new Uint8Array(event.data);
    const view = new DataView(bytes.buffer);
    if (bytes[0] === WELCOME) {
      socket.send(subscribeFrame(1, list.dataset.channel));
    } else if (bytes[0] === SUBSCRIBED) {
      root.dataset.dxLive = "subscribed";
    } else if (bytes[0] === MESSAGE) {
      let [, at] = str8(bytes, 1);
      at += 16; // epoch and offset
      const [sender, next] = str8(bytes, at);
      const len = view.getUint32(next, true);
      const payload = text.decode(bytes.subarray(next + 4, next + 4 + len));
      const li = document.createElement("li");
      li.textContent = `${sender}: ${payload}`;
      list.append(li);
    }
  });
  socket.addEventListener("close", () => {
    root.dataset.dxLive = "closed";
  });
}

export function attach(root) {
  root.addEventListener("dx:event", (event) => {
    const { handler, target } = event.detail;
    const form = target?.closest?.("form");
    if (handler === LOGIN && form) login(root, form);
    if (handler === ADD_ITEM && form) addItem(root, form);
  });
}
