// A peer of the Switchyard interop tests (../h2_test.go): Node's built-in
// http2 module (nghttp2 underneath, no npm package) doing RFC 8441 extended
// CONNECT against the demo (examples/server), over TLS or over h2c with
// prior knowledge. WebSocket frames and echo/1's bytes are written and read
// by hand on the stream. It prints JSON lines and leaves every judgement to
// the Go test.
//
// Usage: node h2client.mjs <scenario> <base-url>
//
//	exchange  on one session: the refusals, each followed by a plain GET on
//	          the same session; then /ws (text, binary, 1 MiB and a 1000
//	          close), /chat (subprotocol chat.v1) and echo/1
//	limit     against a demo started with -max-conns 1: one WebSocket held,
//	          a second one and an echo/1 refused, a plain GET served
//	hold      opens /ws and /chat, prints {"open":true}, then waits for the
//	          server to close them (the test sends the demo SIGTERM)
import http2 from "node:http2";
import crypto from "node:crypto";

const [scenario, base] = process.argv.slice(2);
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");
// step names what the scenario was doing, for the report of a failure.
let step = "start";
const fail = (err) => {
  print({ error: `${step}: ${err && err.stack ? err.stack : err}` });
  process.exit(1);
};
setTimeout(() => fail("timed out after 40s"), 40000).unref();

// connect opens the session (TLS: the demo's self-signed certificate is
// accepted) and waits for the server's SETTINGS: nghttp2 refuses a
// :protocol request before the server has said it takes them.
async function connect() {
  const session = http2.connect(base, { rejectUnauthorized: false });
  session.on("error", () => {}); // reported through the streams
  await new Promise((resolve, reject) => {
    session.once("remoteSettings", resolve);
    session.once("error", reject);
  });
  return session;
}

// open sends a request and resolves with its response head and the stream.
// Pseudo-header fields come first: :method CONNECT with :protocol is an
// extended CONNECT (RFC 8441), which needs :scheme and :path too.
function open(session, headers, opts = {}) {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: false, ...opts });
    stream.on("error", reject);
    stream.on("response", (h) => resolve({ stream, head: h }));
  });
}

function connectHeaders(protocol, path, extra = {}) {
  return {
    ":method": "CONNECT",
    ":protocol": protocol,
    ":scheme": new URL(base).protocol.slice(0, -1),
    ":path": path,
    ":authority": new URL(base).host,
    ...extra,
  };
}

// describe is what the test checks of a response head: the status and the
// field names, with the WebSocket fields' values.
function describe(head) {
  const names = Object.keys(head).filter((k) => !k.startsWith(":")).sort();
  return {
    status: head[":status"],
    fields: names,
    protocol: head["sec-websocket-protocol"] || "",
    extensions: head["sec-websocket-extensions"] || "",
    retryAfter: head["retry-after"] || "",
  };
}

function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

// refusal sends a request that must be refused, and reads the answer to
// the end: an ordinary HTTP/2 response on its stream.
async function refusal(session, name, headers) {
  try {
    const { stream, head } = await open(session, headers);
    stream.end();
    const body = await readAll(stream);
    return { name, ...describe(head), body: body.toString("utf8").trim() };
  } catch (err) {
    return { name, error: String(err) };
  }
}

// get is a plain request on the same session.
async function get(session, path) {
  try {
    const { stream, head } = await open(session, { ":method": "GET", ":path": path }, { endStream: true });
    const body = await readAll(stream);
    return { status: head[":status"], body: body.toString("utf8").trim() };
  } catch (err) {
    return { error: String(err) };
  }
}

// A WebSocket over a stream: masked frames out, frames in; a message may
// come in several frames.
class WS {
  constructor(stream) {
    this.stream = stream;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
    this.frames = [];
    this.ended = false;
    stream.on("data", (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.parse();
    });
    stream.on("end", () => {
      this.ended = true;
      this.wake();
    });
    stream.on("error", (err) => {
      this.err = err;
      this.wake();
    });
  }
  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b[1] & 0x80) {
        this.err = new Error("server sent a masked frame");
        return this.wake();
      }
      if (b.length < off + len) return;
      this.frames.push({ fin: (b[0] & 0x80) !== 0, rsv: b[0] & 0x70, opcode: b[0] & 0x0f, payload: b.subarray(off, off + len) });
      this.buf = b.subarray(off + len);
      this.wake();
    }
  }
  wake() {
    const w = this.waiting;
    this.waiting = [];
    w.forEach((f) => f());
  }
  async frame() {
    while (this.frames.length === 0) {
      if (this.err) throw this.err;
      if (this.ended) throw new Error("stream ended before a frame");
      await new Promise((resolve) => this.waiting.push(resolve));
    }
    return this.frames.shift();
  }
  // message returns the next data message, or the close frame.
  async message() {
    const first = await this.frame();
    if (first.opcode === 8) return { close: closeOf(first.payload) };
    if (first.opcode !== 1 && first.opcode !== 2) throw new Error(`unexpected opcode ${first.opcode}`);
    const parts = [first.payload];
    let f = first;
    while (!f.fin) {
      f = await this.frame();
      if (f.opcode !== 0) throw new Error(`opcode ${f.opcode} inside a fragmented message`);
      parts.push(f.payload);
    }
    return { binary: first.opcode === 2, rsv: first.rsv, data: Buffer.concat(parts) };
  }
  send(opcode, payload) {
    const mask = crypto.randomBytes(4);
    let head;
    if (payload.length < 126) {
      head = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 65536) {
      head = Buffer.alloc(4);
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 126;
      head.writeUInt16BE(payload.length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
    this.stream.write(Buffer.concat([head, mask, masked]));
  }
  close(code, reason = "") {
    const p = Buffer.alloc(2 + Buffer.byteLength(reason));
    p.writeUInt16BE(code, 0);
    p.write(reason, 2);
    this.send(8, p);
  }
  // waitEnd resolves when the server has ended its side of the stream.
  async waitEnd() {
    while (!this.ended) {
      if (this.err) throw this.err;
      await new Promise((resolve) => this.waiting.push(resolve));
    }
  }
}

function closeOf(p) {
  return p.length >= 2 ? { code: p.readUInt16BE(0), reason: p.subarray(2).toString("utf8") } : { code: 1005, reason: "" };
}

function bigMessage() {
  let big = "";
  for (let i = 0; big.length < 1 << 20; i++) {
    big += `switchyard interop line ${String(i).padStart(8, "0")}\n`;
  }
  return Buffer.from(big.slice(0, 1 << 20));
}

// openWS does the extended CONNECT for a WebSocket: no Sec-WebSocket-Key
// in RFC 8441, version 13 required, 200 on success.
async function openWS(session, path, extra = {}) {
  const { stream, head } = await open(
    session,
    connectHeaders("websocket", path, { "sec-websocket-version": "13", origin: base, ...extra }),
  );
  return { ws: new WS(stream), head };
}

// wsEcho: the echoes every peer does, then a clean close started by the
// client: the server answers 1000 and ends the stream.
async function wsEcho(session, out) {
  out.echoes = [];
  step = "/ws: CONNECT";
  const { ws, head } = await openWS(session, "/ws");
  Object.assign(out, describe(head));
  if (head[":status"] !== 200) return;
  const messages = [
    { name: "text", opcode: 1, data: Buffer.from("hello, switchyard ✓ — ünïcødé") },
    { name: "binary", opcode: 2, data: Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff]) },
    { name: "1 MiB", opcode: 2, data: bigMessage() },
  ];
  for (const m of messages) {
    step = `/ws: echo ${m.name}`;
    ws.send(m.opcode, m.data);
    const got = await ws.message();
    const e = { name: m.name, ok: true, detail: "" };
    if (got.close) {
      e.ok = false;
      e.detail = `closed ${got.close.code} ${got.close.reason}`;
    } else if (got.binary !== (m.opcode === 2)) {
      e.ok = false;
      e.detail = `echoed as binary=${got.binary}`;
    } else if (!got.data.equals(m.data)) {
      e.ok = false;
      e.detail = `echo differs: got ${got.data.length} bytes, want ${m.data.length}`;
    }
    out.echoes.push(e);
  }
  step = "/ws: close 1000";
  ws.close(1000, "done");
  const answer = await ws.message();
  out.closeCode = answer.close ? answer.close.code : 0;
  ws.stream.end();
  try {
    await ws.waitEnd();
    out.streamEnded = true;
  } catch (err) {
    out.endError = String(err);
  }
}

// chat: the room with its subprotocol; a member's message comes back to it.
async function chat(session, out) {
  step = "/chat: CONNECT";
  const { ws, head } = await openWS(session, "/chat", { "sec-websocket-protocol": "chat.v1" });
  Object.assign(out, describe(head));
  if (head[":status"] !== 200) return;
  step = "/chat: a line";
  ws.send(1, Buffer.from("hello room, from node over h2"));
  const got = await ws.message();
  out.message = got.close ? `closed ${got.close.code}` : got.data.toString("utf8");
  step = "/chat: close 1000";
  ws.close(1000, "bye");
  const answer = await ws.message();
  out.closeCode = answer.close ? answer.close.code : 0;
  ws.stream.end();
  await ws.waitEnd();
}

// echo1: echo/1 on any path; 256 KiB of every byte value, more than the
// stream's initial flow-control window, comes back whole; ending our side
// ends the server's.
async function echo1(session, out) {
  step = "echo/1";
  const { stream, head } = await open(session, connectHeaders("echo/1", "/any/path"));
  Object.assign(out, describe(head));
  if (head[":status"] !== 200) return;
  const data = Buffer.alloc(256 << 10);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
  const got = readAll(stream);
  stream.end(data);
  const back = await got;
  out.sent = data.length;
  out.received = back.length;
  out.same = back.equals(data);
}

// phase runs one part of a scenario; its failure is reported in its place
// (with the step it failed at) rather than ending the run.
// f fills in its report as it goes, so that a failure keeps what came
// before it.
async function phase(f) {
  const out = {};
  try {
    await f(out);
  } catch (err) {
    out.error = `${step}: ${err}`;
  }
  return out;
}

async function exchange() {
  const session = await connect();
  const report = { enableConnectProtocol: session.remoteSettings.enableConnectProtocol === true, refusals: [] };
  const refusals = [
    ["bad origin", connectHeaders("websocket", "/ws", { "sec-websocket-version": "13", origin: "https://evil.example" })],
    ["no version", connectHeaders("websocket", "/ws", { origin: base })],
    ["bad version", connectHeaders("websocket", "/ws", { "sec-websocket-version": "8", origin: base })],
    ["unregistered on /ws", connectHeaders("nosuch/1", "/ws")],
    ["unregistered elsewhere", connectHeaders("nosuch/1", "/proto")],
    ["h2c", connectHeaders("h2c", "/proto")],
  ];
  for (const [name, headers] of refusals) {
    step = `refusal: ${name}`;
    const r = await refusal(session, name, headers);
    r.after = await get(session, "/proto");
    report.refusals.push(r);
  }
  report.websocket = await phase((out) => wsEcho(session, out));
  report.chat = await phase((out) => chat(session, out));
  report.echo = await phase((out) => echo1(session, out));
  report.proto = await get(session, "/proto");
  session.close();
  print(report);
}

async function limit() {
  const session = await connect();
  const report = { enableConnectProtocol: session.remoteSettings.enableConnectProtocol === true };
  step = "the held WebSocket";
  const held = await openWS(session, "/ws");
  report.first = describe(held.head);
  held.ws.send(1, Buffer.from("holding the only slot"));
  const m = await held.ws.message();
  report.firstEcho = m.close ? "" : m.data.toString("utf8");
  step = "refusals at the limit";
  report.second = await refusal(session, "second websocket", connectHeaders("websocket", "/ws", { "sec-websocket-version": "13", origin: base }));
  report.echoRefusal = await refusal(session, "echo/1", connectHeaders("echo/1", "/"));
  report.proto = await get(session, "/proto");
  step = "the held WebSocket: close 1000";
  held.ws.close(1000, "done");
  const answer = await held.ws.message();
  report.closeCode = answer.close ? answer.close.code : 0;
  held.ws.stream.end();
  await held.ws.waitEnd();
  // The slot is free once the server has let the stream go: a new
  // WebSocket switches on the same session.
  step = "waiting for the slot";
  const t0 = Date.now();
  for (let i = 0; i < 200; i++) {
    const st = await get(session, "/stats");
    if (st.status === 200 && JSON.parse(st.body).active.websocket === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  report.slotFreedMs = Date.now() - t0;
  step = "a WebSocket in the freed slot";
  const again = await openWS(session, "/ws");
  report.again = describe(again.head);
  again.ws.close(1000, "done");
  const bye = await again.ws.message();
  report.againCloseCode = bye.close ? bye.close.code : 0;
  again.ws.stream.end();
  await again.ws.waitEnd();
  session.close();
  print(report);
}

async function hold() {
  const session = await connect();
  let goaway = null;
  session.on("goaway", (code) => {
    goaway = code;
  });
  const report = { enableConnectProtocol: session.remoteSettings.enableConnectProtocol === true };
  step = "opening /ws and /chat";
  const a = await openWS(session, "/ws");
  const b = await openWS(session, "/chat", { "sec-websocket-protocol": "chat.v1" });
  report.ws = describe(a.head);
  report.chatHead = describe(b.head);
  a.ws.send(1, Buffer.from("before shutdown"));
  const echoed = await a.ws.message();
  report.echoText = echoed.close ? "" : echoed.data.toString("utf8");
  print({ open: true });
  step = "waiting for the server's close";
  // Each side answers the server's close as a client should, then waits
  // for the stream's end.
  const closed = async (x) => {
    let m;
    try {
      m = await x.ws.message();
    } catch (err) {
      return { error: `before the close: ${err}` };
    }
    if (!m.close) return { error: "a message instead of the close" };
    x.ws.close(m.close.code);
    x.ws.stream.end();
    try {
      await x.ws.waitEnd();
    } catch (err) {
      return { ...m.close, error: `after the close: ${err}` };
    }
    return m.close;
  };
  [report.wsClose, report.chatClose] = await Promise.all([closed(a), closed(b)]);
  report.goaway = goaway;
  session.destroy();
  print(report);
}

const scenarios = { exchange, limit, hold };
if (!scenarios[scenario]) fail(`unknown scenario ${scenario}`);
scenarios[scenario]().then(() => process.exit(0), fail);
