// A peer of the Switchyard interop tests (../websocket_test.go): Node's ws client
// does the exchange every peer does against the echo server and prints one
// line of JSON describing what happened.
//
// Usage: node client.mjs <ws-url> <deflate|plain>
import { WebSocket } from "ws";

const [url, mode] = process.argv.slice(2);
const report = { echoes: [] };
const done = (code) => {
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(code);
};
const fail = (err) => {
  report.error = String(err && err.stack ? err.stack : err);
  done(1);
};
setTimeout(() => fail("timed out after 30s"), 30000).unref();

let big = "";
for (let i = 0; big.length < 1 << 20; i++) {
  big += `switchyard interop line ${String(i).padStart(8, "0")}\n`;
}
const messages = [
  { name: "text", binary: false, data: Buffer.from("hello, switchyard ✓ — ünïcødé") },
  { name: "binary", binary: true, data: Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff]) },
  { name: "1 MiB", binary: true, data: Buffer.from(big.slice(0, 1 << 20)) },
];

const ws = new WebSocket(url, {
  perMessageDeflate: mode === "deflate",
  handshakeTimeout: 10000,
});
ws.on("upgrade", (res) => {
  report.status = res.statusCode;
  report.upgrade = res.headers["upgrade"] || "";
  report.connection = res.headers["connection"] || "";
  report.extensions = res.headers["sec-websocket-extensions"] || "";
});
ws.on("error", fail);

// Replies are awaited in order.
const waiting = [];
ws.on("message", (data, isBinary) => {
  const w = waiting.shift();
  if (w) w({ data, isBinary });
  else fail("unexpected message");
});
const next = () => new Promise((resolve) => waiting.push(resolve));

ws.on("open", async () => {
  for (const m of messages) {
    const reply = next();
    ws.send(m.data, { binary: m.binary });
    const { data, isBinary } = await reply;
    const e = { name: m.name, ok: true, detail: "" };
    if (isBinary !== m.binary) {
      e.ok = false;
      e.detail = `echoed as binary=${isBinary}, want ${m.binary}`;
    } else if (!data.equals(m.data)) {
      e.ok = false;
      e.detail = `echo differs: got ${data.length} bytes, want ${m.data.length}`;
    }
    report.echoes.push(e);
  }
  ws.close(1000, "done");
});
// code is the one in the server's answering close frame.
ws.on("close", (code) => {
  report.closeCode = code;
  done(0);
});
