import { Type, type Static } from '@sinclair/typebox';

/** Non-secret configuration of a `google_customer_match` destination. */
export const GOOGLE_KIND_DESCRIPTION =
  'Google Ads Customer Match lists (hashed email / phone / address, mobile ad ids or CRM ids) with lookalike segments; ' +
  'members upload through the Data Manager API, or OfflineUserDataJobService for allowlisted developer tokens.';

export const GoogleCustomerMatchConfigSchema = Type.Object(
  {
    customerId: Type.String({
      pattern: '^[0-9]{10}$',
      description: 'Google Ads customer id (10 digits, no dashes) that owns the Customer Match lists.',
    }),
    loginCustomerId: Type.Optional(
      Type.String({ pattern: '^[0-9]{10}$', description: 'Manager (MCC) account id to log in through, when access is via a manager.' }),
    ),
    uploadPath: Type.Optional(
      Type.Union([Type.Literal('data_manager'), Type.Literal('offline_user_data_job')], {
        default: 'data_manager',
        description:
          'How members are uploaded. `data_manager` (default): Data Manager API, required for developer tokens not allowlisted for ' +
          'Customer Match uploads through the Google Ads API (all new tokens since April 2026). `offline_user_data_job`: ' +
          'Google Ads API OfflineUserDataJobService, for allowlisted developer tokens only.',
      }),
    ),
    membershipLifeSpanDays: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: 540 }), Type.Literal(10000)], {
        default: 540,
        description: 'Days a member stays on a list created by this destination (≤ 540; 10000 = no expiry).',
      }),
    ),
  },
  { additionalProperties: false, $id: 'GoogleCustomerMatchConfig' },
);
export type GoogleCustomerMatchConfig = Static<typeof GoogleCustomerMatchConfigSchema>;

/** OAuth credentials (write-only in the API, never logged). */
export const GoogleCustomerMatchCredentialsSchema = Type.Object(
  {
    developerToken: Type.String({ minLength: 1, writeOnly: true, description: 'Google Ads API developer token.' }),
    clientId: Type.String({ minLength: 1, writeOnly: true, description: 'OAuth client id.' }),
    clientSecret: Type.String({ minLength: 1, writeOnly: true, description: 'OAuth client secret.' }),
    refreshToken: Type.String({
      minLength: 1,
      writeOnly: true,
      description: 'OAuth refresh token with the `adwords` scope (and `datamanager` for the Data Manager upload path).',
    }),
  },
  { additionalProperties: false, $id: 'GoogleCustomerMatchCredentials' },
);
export type GoogleCustomerMatchCredentials = Static<typeof GoogleCustomerMatchCredentialsSchema>;
