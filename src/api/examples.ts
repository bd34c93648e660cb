import type { ModelDefinition } from '../models/model-schema';
import type { SegmentDefinition } from '../segments/segment-schema';

/** Examples shown in the OpenAPI document; they are valid against the demo warehouse. */
export const modelDefinitionExample: ModelDefinition = {
  slug: 'customers',
  name: 'Customers',
  description: 'One row per customer of the demo shop.',
  schema: 'demo',
  table: 'customers',
  primaryKey: 'customer_id',
  attributes: [
    { name: 'email', type: 'string' },
    { name: 'phone', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'ltv', type: 'number', description: 'Lifetime value in USD' },
    { name: 'created_at', type: 'timestamp' },
    { name: 'consent_ad_user_data', type: 'boolean' },
  ],
  identifiers: { email: 'email', phone: 'phone', country: 'country' },
  consent: { ad_user_data: 'consent_ad_user_data' },
  relationships: [
    {
      name: 'orders', table: 'orders', foreignKey: 'customer_id', timeColumn: 'ordered_at',
      attributes: [{ name: 'total', type: 'number' }, { name: 'status', type: 'string' }, { name: 'ordered_at', type: 'timestamp' }],
    },
  ],
};

export const segmentDefinitionExample: SegmentDefinition = {
  slug: 'us-high-value',
  name: 'US high-value customers',
  description: 'US customers with a lifetime value above 500.',
  model: 'customers',
  rule: { and: [{ '==': [{ var: 'country' }, 'US'] }, { '>': [{ var: 'ltv' }, 500] }] },
  tags: ['demo', 'value'],
};

export const timestamps = { createdAt: '2026-11-25T10:00:00.000Z', updatedAt: '2026-11-25T10:00:00.000Z' };
