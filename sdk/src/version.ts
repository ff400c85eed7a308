/** The package version, sent as `context.sdk.version` by the browser and the server client. */
export const SDK_VERSION = "0.1.0";
