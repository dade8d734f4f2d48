/**
 * These machines have no Docker engine, so the production topology is checked as data: every
 * service is present with a pinned image, ports and health checks, and every variable Tandem's
 * processes require is provided (and every one provided is a variable Tandem knows).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { requiredByRole, variables } from '../../config/env.js';

const root = new URL('../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8'), { merge: true });
const services = compose.services as Record<string, any>;
const envOf = (name: string) => services[name].environment as Record<string, unknown>;

describe('docker-compose.yml', () => {
  it('has the production services with pinned images', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'postgres', 'temporal', 'temporal-ui', 'worker']);
    expect(services.postgres.image).toMatch(/^postgres:\d+/);
    expect(services.temporal.image).toBe('temporalio/auto-setup:1.29.1');
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(services.api.build).toBe('.');
    expect(services.worker.image).toBe(services.api.image);
  });

  it('publishes the API, Temporal and the Temporal UI', () => {
    expect(services.api.ports).toContain('8080:8080');
    expect(services.temporal.ports).toContain('7233:7233');
    expect(services['temporal-ui'].ports).toContain('8233:8080');
  });

  it('starts each service after what it needs is healthy', () => {
    for (const name of Object.keys(services)) expect(services[name].healthcheck?.test, name).toBeDefined();
    expect(services.temporal.depends_on.postgres.condition).toBe('service_healthy');
    expect(services.api.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, temporal: { condition: 'service_healthy' } });
    expect(services.api.healthcheck.test.join(' ')).toContain('/readyz');
  });

  it('gives the API and the worker every variable they require, and only known ones', () => {
    for (const role of ['api', 'worker'] as const) {
      const env = envOf(role);
      for (const name of requiredByRole[role]) expect(env[name], `${role} needs ${name}`).toBeDefined();
      for (const name of Object.keys(env)) expect(Object.keys(variables), `${role}: unknown variable ${name}`).toContain(name);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(String(env.DATABASE_URL)).toMatch(/@postgres:5432\/tandem$/);
    }
    expect(envOf('api').TANDEM_ADMIN_TOKEN).toBeDefined();
    expect(envOf('temporal')).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(envOf('temporal-ui').TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('runs entry points that exist in the image', () => {
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
    for (const name of ['api', 'worker']) {
      const entry = services[name].command.at(-1) as string;
      expect(existsSync(new URL(entry, root)), entry).toBe(true);
      expect(dockerfile).toContain(`COPY ${entry.split('/')[0]} `);
    }
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
  });
});
