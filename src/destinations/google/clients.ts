/**
 * The seam between our code and the two Google SDKs: where their gRPC clients connect, how they
 * authenticate and how long gax may retry. Production leaves `endpoint` unset (Google's hosts,
 * TLS, OAuth refresh-token credentials); tests set it to a loopback fake (plaintext, no auth
 * client ever asked for a token, nothing leaves 127.0.0.1). Configuration, not monkey-patching.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { IngestionServiceClient } from '@google-ads/datamanager';
import { Customer, errors, type ClientOptions, type CustomerOptions } from 'google-ads-api';

export interface GrpcEndpoint {
  host: string;
  port: number;
  insecure: boolean;
}

export interface OAuthCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

/**
 * gax call settings. Our own retry policy lives in the sync engine, so gax never retries (its
 * defaults retry UNAVAILABLE for up to 600 s); every call gets a deadline instead.
 */
export interface GaxSettings {
  timeoutMs: number;
}

const require = createRequire(import.meta.url);
/** `google-ads-node` as `google-ads-api` resolves it (the GAPIC clients the library builds). */
const googleAdsNode = createRequire(require.resolve('google-ads-api'))('google-ads-node') as Record<string, unknown>;
const googleAdsNodeRequire = createRequire(require.resolve('google-ads-node'));

/**
 * A gax `clientConfig` override for one service: no retry codes, and every method bounded by
 * `timeoutMs`. Method names come from the service's own shipped config.
 */
export function boundedClientConfig(serviceName: string, methods: string[], timeoutMs: number) {
  return {
    interfaces: {
      [serviceName]: {
        retry_codes: { no_retry: [] as string[] },
        retry_params: {
          bounded: {
            initial_retry_delay_millis: 100,
            retry_delay_multiplier: 1.3,
            max_retry_delay_millis: timeoutMs,
            initial_rpc_timeout_millis: timeoutMs,
            rpc_timeout_multiplier: 1,
            max_rpc_timeout_millis: timeoutMs,
            total_timeout_millis: timeoutMs,
          },
        },
        methods: Object.fromEntries(
          methods.map((m) => [m, { timeout_millis: timeoutMs, retry_codes_name: 'no_retry', retry_params_name: 'bounded' }]),
        ),
      },
    },
  };
}

function methodsOf(config: { interfaces: Record<string, { methods: Record<string, unknown> }> }, serviceName: string): string[] {
  return Object.keys(config.interfaces[serviceName]?.methods ?? {});
}

/** Options every GAPIC client gets: channel, credentials, universe and call settings. */
function gapicOptions(endpoint: GrpcEndpoint | undefined, oauth: OAuthCredentials, clientConfig: unknown): Record<string, unknown> {
  // An explicit universe domain: otherwise gax asks google-auth-library for one, which looks for
  // Application Default Credentials and may probe the GCE metadata server.
  const base: Record<string, unknown> = { universeDomain: 'googleapis.com', clientConfig };
  const credentials = {
    type: 'authorized_user',
    client_id: oauth.clientId,
    client_secret: oauth.clientSecret,
    refresh_token: oauth.refreshToken,
  };
  if (!endpoint) return { ...base, credentials };
  if (endpoint.insecure) {
    // Plaintext loopback: channel credentials given explicitly, so gax never asks the auth
    // client for a token (and grpc-js cannot attach call credentials to an insecure channel).
    return { ...base, servicePath: endpoint.host, apiEndpoint: endpoint.host, port: endpoint.port, sslCreds: grpc.credentials.createInsecure() };
  }
  return { ...base, servicePath: endpoint.host, apiEndpoint: endpoint.host, port: endpoint.port, credentials };
}

/** A failed Google Ads call: the gRPC error and, when Google sent one, the decoded GoogleAdsFailure. */
export class GoogleAdsCallError extends Error {
  constructor(
    readonly grpcCode: number | undefined,
    readonly failure: errors.GoogleAdsFailure | undefined,
    readonly grpcError: unknown,
  ) {
    super(grpcError instanceof Error ? grpcError.message : 'Google Ads API call failed');
    this.name = 'GoogleAdsCallError';
  }
}

export interface ClosableClient {
  close(): Promise<void>;
}

/**
 * `google-ads-api`'s Customer, with the one method that builds GAPIC clients overridden:
 * `loadService` constructs `google-ads-node`'s client with our endpoint, credentials and call
 * settings, and caches it on this instance (not in the library's process-wide cache, keyed by
 * refresh token) so `close()` releases exactly our channels. Everything else — request building,
 * headers (developer-token, login-customer-id), GoogleAdsFailure decoding — is the library's.
 */
export class EndpointCustomer extends Customer {
  private readonly clients = new Map<string, ClosableClient>();

  constructor(
    clientOptions: ClientOptions,
    customerOptions: CustomerOptions,
    private readonly seam: { endpoint?: GrpcEndpoint; oauth: OAuthCredentials; gax: GaxSettings },
  ) {
    super(clientOptions, customerOptions);
  }

  protected override loadService<T>(service: string): T {
    const cached = this.clients.get(service);
    if (cached) return cached as T;
    const Ctor = googleAdsNode[service] as (new (opts: Record<string, unknown>) => ClosableClient) | undefined;
    if (typeof Ctor !== 'function') throw new Error(`Service "${service}" could not be found`);
    const base = service.replace(/Client$/, '');
    const serviceName = `google.ads.googleads.v24.services.${base}`;
    const snake = base.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    const shipped = googleAdsNodeRequire(`google-ads-node/build/src/v24/${snake}_client_config.json`);
    const clientConfig = boundedClientConfig(serviceName, methodsOf(shipped, serviceName), this.seam.gax.timeoutMs);
    const client = new Ctor(gapicOptions(this.seam.endpoint, this.seam.oauth, clientConfig));
    this.clients.set(service, client);
    return client as T;
  }

  /** Keeps the gRPC status next to the decoded GoogleAdsFailure (the library returns only the latter). */
  protected override getGoogleAdsError(error: Error): errors.GoogleAdsFailure | Error {
    const decoded = super.getGoogleAdsError(error);
    const raw = (error as unknown as { code?: unknown }).code;
    const code = typeof raw === 'number' ? raw : undefined;
    return new GoogleAdsCallError(code, decoded === error ? undefined : (decoded as errors.GoogleAdsFailure), error);
  }

  /**
   * GAQL over gRPC `GoogleAdsService.Search`. (The library's `query()` goes over REST to a fixed
   * googleads.googleapis.com URL with its own token fetch: it cannot be pointed anywhere else.)
   */
  async searchRows(gaql: string): Promise<Record<string, unknown>[]> {
    const { service, request } = this.buildSearchRequestAndService(gaql);
    try {
      const search = (service as unknown as {
        search(req: unknown, opts: unknown): Promise<[Record<string, unknown>[]]>;
      }).search.bind(service);
      const [rows] = await search(request, { otherArgs: { headers: this.callHeaders }, autoPaginate: true });
      return rows ?? [];
    } catch (err) {
      throw this.getGoogleAdsError(err as Error);
    }
  }

  /** The raw GAPIC client (for calls the library wraps without giving access to the gax Operation). */
  gapic<T>(service: string): T {
    return this.loadService<T>(service);
  }

  get headers(): Record<string, string> {
    return { ...this.callHeaders };
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

const dataManagerConfig = require('@google-ads/datamanager/build/src/v1/ingestion_service_client_config.json') as {
  interfaces: Record<string, { methods: Record<string, unknown> }>;
};
const INGESTION_SERVICE = 'google.ads.datamanager.v1.IngestionService';

/** The Data Manager IngestionService client: `{apiEndpoint, port, sslCreds}` when an endpoint is given. */
export function createIngestionClient(endpoint: GrpcEndpoint | undefined, oauth: OAuthCredentials, gax: GaxSettings): IngestionServiceClient {
  const clientConfig = boundedClientConfig(INGESTION_SERVICE, methodsOf(dataManagerConfig, INGESTION_SERVICE), gax.timeoutMs);
  return new IngestionServiceClient(gapicOptions(endpoint, oauth, clientConfig) as ConstructorParameters<typeof IngestionServiceClient>[0]);
}
