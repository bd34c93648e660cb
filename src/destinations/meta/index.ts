export {
  MetaCustomAudienceDestination,
  metaDestinationKind,
  metaSessionId,
  META_MAX_ROWS_PER_REQUEST,
  META_MIN_LOOKALIKE_SEED,
} from './destination';
export {
  MetaCustomAudienceConfigSchema,
  MetaCustomAudienceCredentialsSchema,
  META_DEFAULT_API_VERSION,
  META_DEFAULT_REQUEST_TIMEOUT_MS,
  type MetaCustomAudienceConfig,
  type MetaCustomAudienceCredentials,
} from './schemas';
export { classifyGraphFailure, retryAfterFromHeaders, scrub, DEFAULT_RATE_LIMIT_WAIT_MS } from './errors';
export { META_KEY_BY_KIND, buildUsersPayload } from './payload';
