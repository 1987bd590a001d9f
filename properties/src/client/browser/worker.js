// One client instance in Chromium's WebAssembly engine, with every host import of
// spec/client-abi.md. The imports do what the suite's MockHost does and nothing else: each
// call is recorded, with its text read from the client's memory (or why it could not be read,
// in the words the suite's wasmi host uses), and sent back with the reply for the suite to
// replay into its MockHost. So both runtimes are judged by the same host.

let instance = null;
let memory = null;
let records = [];
let nextNode = 0;
const decoder = new TextDecoder("utf-8", { fatal: true });

function readText(ptr, len) {
  if (ptr < 0 || len < 0) return { err: `range ${ptr}+${len} has a negative part` };
  const size = memory ? memory.buffer.byteLength : 0;
  if (ptr + len > size) return { err: `range ${ptr}+${len} is outside the memory of ${size}` };
  try {
    return { ok: decoder.decode(new Uint8Array(memory.buffer, ptr, len)) };
  } catch {
    return { err: `${len} bytes at ${ptr} are not UTF-8` };
  }
}

const env = {
  host_clone_template(template) {
    records.push(["clone", template]);
    if (template < 0) return -1;
    nextNode += 1;
    return nextNode;
  },
  host_cache_template(template, ptr, len) {
    records.push(["cache", template, readText(ptr, len)]);
  },
  host_append(parent, child) {
    records.push(["append", parent, child]);
  },
  host_remove(node) {
    records.push(["remove", node]);
  },
  host_set_text(node, ptr, len) {
    records.push(["text", node, readText(ptr, len)]);
  },
  host_set_attr(node, keyPtr, keyLen, valuePtr, valueLen) {
    records.push(["attr", node, readText(keyPtr, keyLen), readText(valuePtr, valueLen)]);
  },
  host_toggle_class(node, ptr, len, enable) {
    records.push(["class", node, readText(ptr, len), enable]);
  },
  host_listen(node, event, handler) {
    records.push(["listen", node, event, handler]);
  },
  host_log(value) {
    records.push(["log", value]);
  },
};

function base64Of(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function bytesOf(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function inside(ptr, len) {
  return ptr >= 0 && len >= 0 && memory && ptr + len <= memory.buffer.byteLength;
}

function handle(request) {
  switch (request.op) {
    case "instantiate":
      nextNode = request.nextNode;
      records = [];
      try {
        instance = new WebAssembly.Instance(request.module, { env });
        memory = instance.exports.memory instanceof WebAssembly.Memory ? instance.exports.memory : null;
        return { ok: true, records };
      } catch (error) {
        return { error: String(error), records };
      }
    case "call": {
      nextNode = request.nextNode;
      records = [];
      try {
        const value = instance.exports[request.name](...request.args);
        return { result: value === undefined ? null : value, records };
      } catch (error) {
        return { trap: String(error), records };
      }
    }
    case "write": {
      const bytes = bytesOf(request.data);
      if (!inside(request.ptr, bytes.length)) return { outside: true };
      new Uint8Array(memory.buffer, request.ptr, bytes.length).set(bytes);
      return { ok: true };
    }
    case "read":
      if (!inside(request.ptr, request.len)) return { outside: true };
      return { data: base64Of(new Uint8Array(memory.buffer, request.ptr, request.len)) };
    default:
      return { error: `unknown request ${request.op}` };
  }
}

onmessage = (event) => {
  const reply = handle(event.data);
  reply.id = event.data.id;
  reply.memory = memory ? memory.buffer.byteLength : 0;
  postMessage(reply);
};
