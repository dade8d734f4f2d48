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
