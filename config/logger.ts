/**
 * Structured JSON logs (pino). Anything that looks like a credential is redacted by path, so a
 * careless `log.info({ headers })` cannot leak a bearer token.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'tandem'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        'authorization',
        '*.authorization',
        'headers.authorization',
        'req.headers.authorization',
        'token',
        '*.token',
        'password',
        '*.password',
        'otp',
        '*.otp',
        'masterKey',
        'privateKey',
        '*.privateKey',
      ],
      censor: '[redacted]',
    },
  });
}
