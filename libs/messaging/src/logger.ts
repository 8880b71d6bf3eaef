/** The slice of a pino-style logger the messaging layer needs; apps pass their own. */
export interface MessagingLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const silentLogger: MessagingLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
