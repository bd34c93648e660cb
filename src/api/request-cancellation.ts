import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * fastify 5.12 aborts `request.signal` on the IncomingMessage's 'close', which Node emits as soon
 * as a request body has been read, not only when the client goes away (fastify/fastify#6725,
 * #7033, both open). Every POST with a body had its signal aborted before the handler ran and its
 * handlerTimeout timer cleared: previews were cancelled at once, and never answered 503.
 *
 * This swaps fastify's listener for one on the response, as #7033 does: the signal aborts (and the
 * timer stops) when the connection closes before the response has finished. The timeout abort
 * itself is fastify's and untouched. Without a handler timeout on a route there is nothing to swap.
 */
export function registerCancellationFix(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const key = onAbortKey(request);
    const onAbort = key ? (request as unknown as Record<symbol, unknown>)[key] : undefined;
    if (typeof onAbort !== 'function') return;
    request.raw.removeListener('close', onAbort as () => void);
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) (onAbort as () => void)();
    });
  });
}

let cachedKey: symbol | null | undefined;

/** fastify's own symbol for the listener (it does not export its symbols). */
function onAbortKey(request: FastifyRequest): symbol | null {
  if (cachedKey === undefined || cachedKey === null) {
    cachedKey = Object.getOwnPropertySymbols(request).find((s) => s.description === 'fastify.request.onAbort') ?? null;
  }
  return cachedKey;
}

/** Whether an error is the cancellation of a request whose client went away (not a fault of ours). */
export function isClientAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
