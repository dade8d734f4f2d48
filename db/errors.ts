/** A request that conflicts with what is stored (answered 409 with this code by the API). */
export class ConflictError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Connection-level failures (refused, reset, timeout, shutting down): the request can be retried. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006'].includes(e.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|not queryable/i.test(e.message ?? '')
  );
}
