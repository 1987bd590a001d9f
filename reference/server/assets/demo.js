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

export function attach(root) {
  root.addEventListener("dx:event", (event) => {
    const { handler, target } = event.detail;
    const form = target?.closest?.("form");
    if (handler === LOGIN && form) login(root, form);
    if (handler === ADD_ITEM && form) addItem(root, form);
  });
}
