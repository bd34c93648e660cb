import type { FastifyReply } from 'fastify';

const serialized = new WeakMap<object, string>();

/**
 * Sends a value that is shared and frozen (a cached definition read) serialized once with the
 * route's response schema, not on every request: the load benchmark found serialization at ~15%
 * of a cached GET. The bytes are those the route's serializer writes; the memo lives as long as
 * the cached value.
 */
export function sendSerializedOnce(reply: FastifyReply, value: object): FastifyReply {
  if (!Object.isFrozen(value)) return reply.send(value);
  let body = serialized.get(value);
  if (body === undefined) {
    const serialize = reply.getSerializationFunction(String(reply.statusCode), 'application/json');
    // No schema for this status (not expected on these routes): let fastify serialize as usual.
    if (!serialize) return reply.send(value);
    body = serialize(value as Record<string, unknown>);
    serialized.set(value, body);
  }
  return reply.type('application/json; charset=utf-8').send(body);
}
