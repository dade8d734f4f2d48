import { expect } from 'vitest';
import { DeliveryError } from '../../integrations/provider-errors.js';

/** The DeliveryError a provider call rejects with (fails the test if it resolves or throws otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<DeliveryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}
