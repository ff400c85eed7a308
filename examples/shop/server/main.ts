// `npm run dev` / `npm start`: the shop on one port, until SIGINT or SIGTERM, when the server
// client delivers what it still holds before the process exits.
//   DRIFTLESS_ENDPOINT  the ingest endpoint (default: the local stack's)
//   SHOP_PORT           default 5173
//   DRIFTLESS_GZIP      0 to send uncompressed bodies (the local stack needs it)
//   DRIFTLESS_WEB_KEY   the page's source key (a key with the shop's origins; default: none)
//   DRIFTLESS_KEY       the server client's source key (a key without origins; default: none)
import { startShop } from "./shop-server.js";

const endpoint = process.env["DRIFTLESS_ENDPOINT"] ?? "http://127.0.0.1:9000/lambda-url/ingest/v1/batch";
const port = Number(process.env["SHOP_PORT"] ?? 5173);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`SHOP_PORT must be a port number, got ${process.env["SHOP_PORT"]}`);
  process.exit(2);
}
const dev = process.argv.includes("--dev");

const shop = await startShop({
  endpoint,
  port,
  dev,
  gzip: process.env["DRIFTLESS_GZIP"] != "0",
  ...(process.env["DRIFTLESS_WEB_KEY"] ? { browserKey: process.env["DRIFTLESS_WEB_KEY"] } : {}),
  ...(process.env["DRIFTLESS_KEY"] ? { serverKey: process.env["DRIFTLESS_KEY"] } : {}),
});
console.log(`shop: ${shop.url}/   (${dev ? "development, rebuilt on change" : "built files from dist/"}; events to ${endpoint})`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log(`shop: ${signal}, delivering ${shop.driftless.pending} queued event(s) and stopping`);
    shop.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error("shop: stopping failed:", error);
        process.exit(1);
      },
    );
  });
}
