import { describe, expect, it } from 'vitest';
import { checkModelDefinition, ruleModelOf } from '../../src/models/model-check';
import type { ModelDefinition } from '../../src/models/model-schema';

const base: ModelDefinition = {
  slug: 'm', name: 'M', table: 't', primaryKey: 'id',
  attributes: [{ name: 'id', type: 'integer' }, { name: 'email', type: 'string' }, { name: 'ok', type: 'boolean' }, { name: 'dob', type: 'date' }],
};

describe('model definition checks', () => {
  it('accepts a consistent model', () => {
    expect(checkModelDefinition({ ...base, identifiers: { email: 'email', date_of_birth: 'dob', external_id: 'id' }, consent: { ad_user_data: 'ok' } })).toEqual([]);
  });

  it('reports identifiers and consent that name missing or mistyped attributes', () => {
    const problems = checkModelDefinition({ ...base, identifiers: { email: 'mail', phone: 'ok' }, consent: { ad_user_data: 'email', ad_personalization: 'nope' } });
    expect(problems).toEqual([
      { pointer: '/identifiers/email', message: 'identifier email names "mail", which is not an attribute of the model' },
      { pointer: '/identifiers/phone', message: 'identifier phone needs a string attribute; "ok" is boolean' },
      { pointer: '/consent/ad_user_data', message: 'consent ad_user_data needs a boolean attribute; "email" is string' },
      { pointer: '/consent/ad_personalization', message: 'consent ad_personalization names "nope", which is not an attribute of the model' },
    ]);
  });

  it('reports duplicate names, doubly mapped columns and relationship clashes', () => {
    const problems = checkModelDefinition({
      ...base,
      attributes: [...base.attributes, { name: 'email', column: 'e2', type: 'string' }, { name: 'other', column: 'ok', type: 'boolean' }],
      relationships: [
        { name: 'email', table: 'x', foreignKey: 'id', attributes: [{ name: 'a', type: 'string' }] },
        { name: 'orders', table: 'o', foreignKey: 'id', attributes: [{ name: 'a', type: 'string' }, { name: 'a', type: 'number' }] },
        { name: 'orders', table: 'o2', foreignKey: 'id', attributes: [{ name: 'b', type: 'string' }] },
      ],
    });
    expect(problems.map((p) => p.pointer)).toEqual([
      '/attributes/4/name', '/attributes/5/column', '/relationships/0/name', '/relationships/1/attributes/1/name', '/relationships/2/name',
    ]);
  });

  it('derives the names and types a rule may use', () => {
    const ruleModel = ruleModelOf({ ...base, relationships: [{ name: 'orders', table: 'o', foreignKey: 'id', timeColumn: 'at', attributes: [{ name: 'total', type: 'number' }] }] });
    expect([...ruleModel.attributes]).toEqual([['id', 'integer'], ['email', 'string'], ['ok', 'boolean'], ['dob', 'date']]);
    expect(ruleModel.relationships.get('orders')).toEqual({ attributes: new Map([['total', 'number']]), hasTimeColumn: true });
  });
});
