// The one Driftless client of the page, made once and imported wherever the shop tracks.
import { createClient } from "@driftless/sdk";

const endpoint = document.querySelector<HTMLMetaElement>('meta[name="driftless-endpoint"]')?.content ?? "";
if (!/^https?:\/\//.test(endpoint)) {
  console.error(`driftless: no ingest endpoint on this page (got ${JSON.stringify(endpoint)}); serve it with the shop's server (npm run dev).`);
}

// The site's source key: public (it is in every page), tied to the shop's origins by the endpoint.
const key = document.querySelector<HTMLMetaElement>('meta[name="driftless-key"]')?.content || undefined;

export const driftless = createClient(endpoint, {
  key,
  onDrop: ({ reason, count, errors }) => console.warn(`driftless dropped ${count} event(s): ${reason}`, errors ?? ""),
});
