import type { FastifyInstance } from 'fastify';
import YAML from 'yaml';
import { buildApp, type AppServices } from './app';

/** The OpenAPI document, generated from the route schemas without touching any database. */
export async function generateOpenApi(): Promise<Record<string, unknown>> {
  // Handlers never run during generation, so the services are never used.
  const app: FastifyInstance = await buildApp({ services: {} as AppServices, logLevel: 'silent' });
  await app.ready();
  const document = app.swagger() as unknown as Record<string, unknown>;
  await app.close();
  return document;
}

export const openApiJson = (document: unknown): string => `${JSON.stringify(document, null, 2)}\n`;
export const openApiYaml = (document: unknown): string => YAML.stringify(document, { aliasDuplicateObjects: false, lineWidth: 0 });
