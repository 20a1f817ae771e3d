import { describe, expect, it } from 'vitest';
import { explainReferenceFailure } from '../../../src/devcontainer/explain-failure.js';

const LOG = [
  '[2026-12-06T02:15:55.891Z] @devcontainers/cli 0.89.0. Node.js v20.20.2.',
  "[2026-12-06T02:15:56.146Z] Resolving Feature dependencies for 'ghcr.io/devcontainers/features/node:1'...",
  'Error: getaddrinfo ENOTFOUND ghcr.io',
].join('\n');

describe('explainReferenceFailure', () => {
  it('names the Feature and the registry that could not be reached, and says what to do', () => {
    const result = explainReferenceFailure(
      {
        outcome: 'error',
        message: 'getaddrinfo ENOTFOUND ghcr.io',
        description: 'An error occurred setting up the container.',
      },
      LOG,
    );
    expect(result.outcome).toBe('error');
    expect(result.message).toBe(
      "cannot fetch the Feature 'ghcr.io/devcontainers/features/node:1': registry ghcr.io is unreachable " +
        '(getaddrinfo ENOTFOUND ghcr.io)',
    );
    expect(result.description).toContain('This machine cannot reach ghcr.io');
  });

  it('leaves any other failure as the reference CLI reported it', () => {
    const other = { outcome: 'error', message: 'Command failed: docker pull 5', description: 'x' };
    expect(explainReferenceFailure(other, LOG)).toBe(other);
    const noFeature = { outcome: 'error', message: 'getaddrinfo ENOTFOUND example.com', description: 'x' };
    expect(explainReferenceFailure(noFeature, LOG)).toBe(noFeature);
  });
});
