import { describe, expect, it } from 'vitest';
import {
  ERROR_CLASS_OF_CODE,
  errorOfCode,
  ForwarderError,
  isErrorCode,
  RuntimeError,
  StateError,
  UsageError,
  type ErrorCode,
} from '../../../src/common/errors.js';

const CLASSES = { UsageError, RuntimeError, ForwarderError, StateError };

describe('error codes and classes', () => {
  it('gives every code one class, and errorOfCode raises that class with that code', () => {
    for (const [code, className] of Object.entries(ERROR_CLASS_OF_CODE)) {
      const error = errorOfCode(code as ErrorCode, 'it failed', { description: 'do this' });
      expect(error, code).toBeInstanceOf(CLASSES[className]);
      expect(error.name).toBe(className);
      expect(error.code).toBe(code);
      expect(error.message).toBe('it failed');
      expect(error.description).toBe('do this');
    }
  });

  it('raises a container that is not running or not there as a RuntimeError', () => {
    expect(errorOfCode('CONTAINER_NOT_RUNNING', 'x')).toBeInstanceOf(RuntimeError);
    expect(errorOfCode('CONTAINER_NOT_FOUND', 'x')).toBeInstanceOf(RuntimeError);
  });

  it("gives each class's default code to that class", () => {
    for (const [className, ErrorClass] of Object.entries(CLASSES)) {
      const { code } = new ErrorClass('x');
      expect(ERROR_CLASS_OF_CODE[code], code).toBe(className);
    }
  });

  it('does not compile a code raised with a class it does not belong to', () => {
    // @ts-expect-error CONTAINER_NOT_RUNNING belongs to RuntimeError (npm run typecheck checks this line)
    const error = new ForwarderError('x', { code: 'CONTAINER_NOT_RUNNING' });
    expect(error).toBeInstanceOf(ForwarderError);
  });

  it('knows the stable codes and nothing else', () => {
    expect(isErrorCode('REGISTRY_FAILED')).toBe(true);
    for (const value of ['registry_failed', 'toString', '__proto__', '', 7, null, undefined]) {
      expect(isErrorCode(value), String(value)).toBe(false);
    }
  });
});
