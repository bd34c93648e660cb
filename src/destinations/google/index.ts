import type { DestinationKind } from '../destination';
import { GoogleCustomerMatchDestination, type GoogleDestinationOptions } from './google-destination';
import {
  GoogleCustomerMatchConfigSchema,
  GoogleCustomerMatchCredentialsSchema,
  type GoogleCustomerMatchConfig,
  type GoogleCustomerMatchCredentials,
} from './schemas';

export * from './schemas';
export { GoogleCustomerMatchDestination, DEFAULT_GOOGLE_TUNING, GOOGLE_LOOKALIKE_MIN_SEED, type GoogleTuning, type GoogleDestinationOptions } from './google-destination';
export { EndpointCustomer, createIngestionClient, boundedClientConfig, GoogleAdsCallError, type GrpcEndpoint } from './clients';
export { toDestinationError, decodeAdsFailure, decodePartialFailure } from './errors';
export { uploadKeyTypeFor, type UploadKeyType } from './members';

export function createGoogleDestination(options: GoogleDestinationOptions): GoogleCustomerMatchDestination {
  return new GoogleCustomerMatchDestination(options);
}

export const googleDestinationKind: DestinationKind<GoogleCustomerMatchConfig, GoogleCustomerMatchCredentials> = {
  kind: 'google_customer_match',
  platform: 'google',
  description:
    'Google Ads Customer Match lists (hashed email / phone / address, mobile ad ids or CRM ids) with lookalike segments; ' +
    'members upload through the Data Manager API, or OfflineUserDataJobService for allowlisted developer tokens.',
  configSchema: GoogleCustomerMatchConfigSchema,
  credentialsSchema: GoogleCustomerMatchCredentialsSchema,
  create: ({ config, credentials, endpoints }) => new GoogleCustomerMatchDestination({ config, credentials, endpoints }),
};
