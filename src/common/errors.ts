/** Stable error codes: scripts may match on these, so they only ever gain members. */
export type ErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'CONTAINER_NOT_FOUND'
  | 'CONTAINER_NOT_RUNNING'
  | 'RUNTIME_FAILED'
  | 'NO_RELAY_PROGRAM'
  | 'FORWARDER_FAILED'
  | 'STATE_DIR_UNUSABLE'
  | 'REGISTRY_FAILED'
  | 'PORT_UNAVAILABLE';

/** The classes of the errors portpilot raises on purpose, by name. */
export type ErrorClassName = 'UsageError' | 'RuntimeError' | 'ForwarderError' | 'StateError';

/** Which class raises each code: a code always comes with the same class, wherever it is raised. */
export const ERROR_CLASS_OF_CODE = {
  USAGE: 'UsageError',
  CONFIG_INVALID: 'UsageError',
  CONFIG_NOT_FOUND: 'UsageError',
  CONTAINER_NOT_FOUND: 'RuntimeError',
  CONTAINER_NOT_RUNNING: 'RuntimeError',
  RUNTIME_FAILED: 'RuntimeError',
  NO_RELAY_PROGRAM: 'ForwarderError',
  FORWARDER_FAILED: 'ForwarderError',
  PORT_UNAVAILABLE: 'ForwarderError',
  STATE_DIR_UNUSABLE: 'StateError',
  REGISTRY_FAILED: 'StateError',
} as const satisfies Record<ErrorCode, ErrorClassName>;

/** The codes the class named `Name` raises. */
export type CodeOf<Name extends ErrorClassName> = {
  [Code in ErrorCode]: (typeof ERROR_CLASS_OF_CODE)[Code] extends Name ? Code : never;
}[ErrorCode];

/** What every error class takes besides its message: the cause, a longer explanation, one of its codes. */
export interface ErrorOptions<Name extends ErrorClassName> {
  cause?: unknown;
  /** A longer, human explanation: what to do about it. */
  description?: string;
  code?: CodeOf<Name>;
}

/** Base class of every error portpilot raises on purpose; raised through one of its subclasses. */
export abstract class PortpilotError extends Error {
  override name = 'PortpilotError';
  readonly code: ErrorCode;
  /** A longer, human explanation: what to do about it. */
  readonly description: string | undefined;

  protected constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; description?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.description = options.description;
  }
}

/** The user asked for something malformed: a flag value, a config property. */
export class UsageError extends PortpilotError {
  override name = 'UsageError';
  constructor(message: string, options: ErrorOptions<'UsageError'> = {}) {
    super(options.code ?? 'USAGE', message, options);
  }
}

/** The container runtime (docker) refused or failed, or a container is not there or not running. */
export class RuntimeError extends PortpilotError {
  override name = 'RuntimeError';
  constructor(message: string, options: ErrorOptions<'RuntimeError'> = {}) {
    super(options.code ?? 'RUNTIME_FAILED', message, options);
  }
}

/** The forwarder could not start or do its job. */
export class ForwarderError extends PortpilotError {
  override name = 'ForwarderError';
  constructor(message: string, options: ErrorOptions<'ForwarderError'> = {}) {
    super(options.code ?? 'FORWARDER_FAILED', message, options);
  }
}

/** State on disk (state dir, registry, markers, specs) is unusable. */
export class StateError extends PortpilotError {
  override name = 'StateError';
  constructor(message: string, options: ErrorOptions<'StateError'> = {}) {
    super(options.code ?? 'STATE_DIR_UNUSABLE', message, options);
  }
}

/**
 * The error of `code`, of the class that code belongs to (ERROR_CLASS_OF_CODE): for a code that
 * crossed a process boundary, such as a forwarder's failed start reported to `up`.
 */
export function errorOfCode(
  code: ErrorCode,
  message: string,
  options: { cause?: unknown; description?: string } = {},
): PortpilotError {
  switch (ERROR_CLASS_OF_CODE[code]) {
    case 'UsageError':
      return new UsageError(message, { ...options, code: code as CodeOf<'UsageError'> });
    case 'RuntimeError':
      return new RuntimeError(message, { ...options, code: code as CodeOf<'RuntimeError'> });
    case 'ForwarderError':
      return new ForwarderError(message, { ...options, code: code as CodeOf<'ForwarderError'> });
    case 'StateError':
      return new StateError(message, { ...options, code: code as CodeOf<'StateError'> });
  }
}

/** Pure: true for one of the stable codes (a code read from another process is checked with it). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CLASS_OF_CODE, value);
}

/** The message of any thrown value, for logs and JSON results. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
