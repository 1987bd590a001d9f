// The suite's side of Chromium (properties/src/client/browser): one WebSocket to the suite,
// modules compiled once by Chromium's own WebAssembly engine, and one worker per client
// instance, so a call that never returns ends with its worker (the suite terminates it)
// and never takes the page down. The page holds no state of a client: it relays.

const token = new URLSearchParams(location.search).get("token");
const socket = new WebSocket(`ws://${location.host}/socket?token=${encodeURIComponent(token)}`);
const modules = new Map();
const workers = new Map();

function reply(message) {
  socket.send(JSON.stringify(message));
}

function bytesOf(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

async function compile(request) {
  try {
    modules.set(request.module, await WebAssembly.compile(bytesOf(request.wasm)));
    reply({ id: request.id, ok: true });
  } catch (error) {
    reply({ id: request.id, error: String(error) });
  }
}

function spawn(request) {
  const module = modules.get(request.module);
  if (!module) {
    reply({ id: request.id, error: `module ${request.module} was never compiled` });
    return;
  }
  const worker = new Worker("/worker.js");
  worker.onmessage = (event) => reply(event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    reply({ worker: request.worker, failed: String(event.message) });
  };
  workers.set(request.worker, worker);
  worker.postMessage({ id: request.id, op: "instantiate", module, nextNode: request.nextNode });
}

function end(request) {
  const worker = workers.get(request.worker);
  if (worker) {
    worker.terminate();
    workers.delete(request.worker);
  }
  reply({ id: request.id, ok: true });
}

socket.onmessage = (event) => {
  const request = JSON.parse(event.data);
  switch (request.op) {
    case "compile":
      compile(request);
      break;
    case "spawn":
      spawn(request);
      break;
    case "end":
      end(request);
      break;
    default: {
      const worker = workers.get(request.worker);
      if (worker) {
        worker.postMessage(request);
      } else {
        reply({ id: request.id, gone: true });
      }
    }
  }
};

socket.onopen = () => reply({ hello: navigator.userAgent });
