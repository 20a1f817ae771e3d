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

/** Base class of every error portpilot raises on purpose. */
export class PortpilotError extends Error {
  override name = 'PortpilotError';
  readonly code: ErrorCode;
  /** A longer, human explanation: what to do about it. */
  readonly description: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; description?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.description = options.description;
  }
}

/** The user asked for something malformed: a flag value, a config property. */
export class UsageError extends PortpilotError {
  override name = 'UsageError';
  constructor(message: string, options: { cause?: unknown; description?: string; code?: ErrorCode } = {}) {
    super(options.code ?? 'USAGE', message, options);
  }
}

/** The container runtime (docker) refused or failed. */
export class RuntimeError extends PortpilotError {
  override name = 'RuntimeError';
  constructor(message: string, options: { cause?: unknown; description?: string; code?: ErrorCode } = {}) {
    super(options.code ?? 'RUNTIME_FAILED', message, options);
  }
}

/** The forwarder could not start or do its job. */
export class ForwarderError extends PortpilotError {
  override name = 'ForwarderError';
  constructor(message: string, options: { cause?: unknown; description?: string; code?: ErrorCode } = {}) {
    super(options.code ?? 'FORWARDER_FAILED', message, options);
  }
}

/** State on disk (state dir, registry, markers) is unusable. */
export class StateError extends PortpilotError {
  override name = 'StateError';
  constructor(message: string, options: { cause?: unknown; description?: string; code?: ErrorCode } = {}) {
    super(options.code ?? 'STATE_DIR_UNUSABLE', message, options);
  }
}

/** The message of any thrown value, for logs and JSON results. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
