// Public API of the Driftless browser SDK. Importing it touches no browser global, so it is safe
// in server-side rendering; `createClient` on a server returns an inert client.
export { createClient } from "./client.js";
export { SDK_VERSION } from "./version.js";
export { SCHEMA_VERSIONS } from "./events.generated.js";
export type {
  CartItemAddedProperties,
  CheckoutCompletedProperties,
  DriftlessEvent,
  EventType,
  PageViewedProperties,
  ProductViewedProperties,
  PropertiesOf,
  SignedUpProperties,
} from "./events.generated.js";
export type {
  CommonProperties,
  Consent,
  Drop,
  DriftlessClient,
  DriftlessOptions,
  DropReason,
  Envelope,
  EventContext,
  Exactly,
  Ids,
  RejectedEvent,
  RejectReason,
  WireEvent,
} from "./types.js";
