// Public API of the Driftless server client for Node.js (`@driftless/sdk/server`). It shares the
// event types generated from schema/ with the browser SDK, and reads no browser global.
export { createServerClient, SERVER_SDK_NAME } from "./client.js";
export { SDK_VERSION } from "../version.js";
export { SCHEMA_VERSIONS } from "../events.generated.js";
export type * from "../events.generated.js";
export type { Envelope, RejectedEvent, RejectReason } from "../types.js";
export type {
  ServerClient,
  ServerClientOptions,
  ServerContext,
  ServerDrop,
  ServerDropReason,
  ServerEvent,
  ShutdownOptions,
  TrackOptions,
} from "./types.js";
