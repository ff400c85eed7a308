// The one Driftless client of the page, made once and imported wherever the shop tracks.
import { createClient } from "@driftless/sdk";

const endpoint = document.querySelector<HTMLMetaElement>('meta[name="driftless-endpoint"]')?.content ?? "";
if (!/^https?:\/\//.test(endpoint)) {
  console.error(`driftless: no ingest endpoint on this page (got ${JSON.stringify(endpoint)}); serve it with the shop's server (npm run dev).`);
}

export const driftless = createClient(endpoint, {
  onDrop: ({ reason, count, errors }) => console.warn(`driftless dropped ${count} event(s): ${reason}`, errors ?? ""),
});
