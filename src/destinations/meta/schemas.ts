import { Type, type Static } from '@sinclair/typebox';

export const META_DEFAULT_API_VERSION = 'v24.0';
export const META_KIND_DESCRIPTION =
  'Meta (Facebook/Instagram) Custom Audiences from a customer list: hashed identifiers added and removed through the Graph API, lookalikes from them.';
export const META_DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

export const MetaCustomAudienceConfigSchema = Type.Object(
  {
    adAccountId: Type.String({
      pattern: '^act_[0-9]+$',
      description: 'The ad account that owns the audiences, as `act_<digits>`.',
      examples: ['act_1234567890'],
    }),
    apiVersion: Type.Optional(
      Type.String({
        pattern: '^v[0-9]+\\.[0-9]+$',
        default: META_DEFAULT_API_VERSION,
        description: 'Graph API version used for every call.',
      }),
    ),
    customerFileSource: Type.Optional(
      Type.Union(
        [Type.Literal('USER_PROVIDED_ONLY'), Type.Literal('PARTNER_PROVIDED_ONLY'), Type.Literal('BOTH_USER_AND_PARTNER_PROVIDED')],
        {
          default: 'USER_PROVIDED_ONLY',
          description: 'How the customer information was collected (`customer_file_source` of the audiences we create).',
        },
      ),
    ),
    requestTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 600_000,
        default: META_DEFAULT_REQUEST_TIMEOUT_MS,
        description: 'Per-request timeout; a request that takes longer fails as retryable.',
      }),
    ),
  },
  {
    $id: 'MetaCustomAudienceConfig',
    additionalProperties: false,
    description: 'Meta Custom Audiences (customer list) destination: non-secret settings.',
  },
);
export type MetaCustomAudienceConfig = Static<typeof MetaCustomAudienceConfigSchema>;

export const MetaCustomAudienceCredentialsSchema = Type.Object(
  {
    accessToken: Type.String({
      minLength: 1,
      description: 'A system-user (or user) access token with `ads_management` on the ad account.',
    }),
    appSecret: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'The app secret: when given, every call carries `appsecret_proof` (HMAC-SHA256 of the token).',
      }),
    ),
  },
  {
    $id: 'MetaCustomAudienceCredentials',
    additionalProperties: false,
    description: 'Meta Custom Audiences destination: secrets (write-only).',
  },
);
export type MetaCustomAudienceCredentials = Static<typeof MetaCustomAudienceCredentialsSchema>;
