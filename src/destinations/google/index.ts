import type { DestinationKind } from '../destination';
import { GoogleCustomerMatchDestination, type GoogleDestinationOptions } from './google-destination';
import {
  GoogleCustomerMatchConfigSchema,
  GoogleCustomerMatchCredentialsSchema,
  GOOGLE_KIND_DESCRIPTION,
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

export const googleDestinationKind: DestinationKind<GoogleCustomerMatchConfig, GoogleCustomerMatchCredentials, GoogleCustomerMatchDestination> = {
  kind: 'google_customer_match',
  platform: 'google',
  description: GOOGLE_KIND_DESCRIPTION,
  configSchema: GoogleCustomerMatchConfigSchema,
  credentialsSchema: GoogleCustomerMatchCredentialsSchema,
  create: ({ config, credentials, endpoints }) => new GoogleCustomerMatchDestination({ config, credentials, endpoints }),
};
