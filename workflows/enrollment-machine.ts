// The state machine moved to domain/lifecycle.ts; kept as the legacy workflow's import path.
export * from '../domain/lifecycle.js';
