import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { FacebookAdsApi } from 'facebook-nodejs-business-sdk';

/**
 * The one place where we reach into `facebook-nodejs-business-sdk` to choose where it connects.
 *
 * The SDK builds every URL as `FacebookAdsApi.GRAPH + '/' + FacebookAdsApi.VERSION + '/' + path`
 * from two *static getters* (`https://graph.facebook.com`, `v24.0`), and sends it with its own
 * `require('axios')` without a timeout or an abort signal. There is no per-instance option for
 * either. So, once per process, this module:
 *
 *   1. redefines the static getters `GRAPH` and `VERSION` with `Object.defineProperty` (they are
 *      configurable) so that they read the base URL / version of the *current call* from an
 *      `AsyncLocalStorage`, and fall back to the SDK's own values outside one;
 *   2. adds one request interceptor to the SDK's axios instance that attaches the current call's
 *      `AbortSignal` (timeout + caller cancellation), and does nothing outside a call.
 *
 * The patch is global (the class and the axios instance are process-wide singletons), but its
 * effect is scoped: each destination runs its SDK calls inside `runWithGraph({ baseUrl, version,
 * signal }, …)`, so two destinations with different endpoints (a test fake and the real Graph
 * API, or two API versions) can run concurrently in one process, and SDK calls made by anyone
 * else still go to `https://graph.facebook.com` unchanged. We never call `FacebookAdsApi.init`
 * or `setDefaultApi`: every SDK object gets its own `FacebookAdsApi` instance, constructed with
 * the crash reporter off.
 */

export interface GraphCallContext {
  /** e.g. `https://graph.facebook.com` or `http://127.0.0.1:PORT` (no trailing slash). */
  baseUrl: string;
  /** e.g. `v24.0`. */
  version: string;
  /** Aborts the HTTP request (timeout, caller cancellation). */
  signal?: AbortSignal;
}

export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';

const store = new AsyncLocalStorage<GraphCallContext>();
let installed = false;

interface AxiosLike {
  interceptors: { request: { use(onFulfilled: (config: { signal?: unknown }) => unknown): number } };
}

function install(): void {
  if (installed) return;
  const sdkGraph = FacebookAdsApi.GRAPH;
  const sdkVersion = FacebookAdsApi.VERSION;
  Object.defineProperty(FacebookAdsApi, 'GRAPH', {
    configurable: true,
    enumerable: false,
    get: () => store.getStore()?.baseUrl ?? sdkGraph,
  });
  Object.defineProperty(FacebookAdsApi, 'VERSION', {
    configurable: true,
    enumerable: false,
    get: () => store.getStore()?.version ?? sdkVersion,
  });
  // The axios the SDK requires (resolved from the SDK's own location, so it is the same instance).
  const sdkEntry = createRequire(import.meta.url).resolve('facebook-nodejs-business-sdk');
  const axios = createRequire(sdkEntry)('axios') as AxiosLike;
  axios.interceptors.request.use((config) => {
    const context = store.getStore();
    if (context?.signal) config.signal = context.signal;
    return config;
  });
  installed = true;
}

/** Runs `fn` (which makes SDK calls synchronously at its start) against `context`'s endpoint. */
export function runWithGraph<T>(context: GraphCallContext, fn: () => Promise<T>): Promise<T> {
  install();
  return store.run(context, fn);
}

/** A fresh API object for one destination: never the SDK's global default, crash reporter off. */
export function newGraphApi(accessToken: string): FacebookAdsApi {
  // Third argument false: the SDK's crash reporter installs an uncaughtException hook that
  // phones home to graph.facebook.com.
  return new FacebookAdsApi(accessToken, 'en_US', false);
}
