/** A result object the reference CLI prints on stdout (`outcome`, `containerId`, …). */
export type ReferenceResult = Record<string, unknown> & { outcome?: unknown };

// Node's errors for a host that cannot be reached: "getaddrinfo ENOTFOUND ghcr.io", "connect ECONNREFUSED 1.2.3.4:443".
const UNREACHABLE = /\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH)\s+([^\s:]+)/;
// Feature ids as the reference CLI's log quotes them: 'ghcr.io/devcontainers/features/node:1'.
const QUOTED_ID = /'([a-z0-9.-]+(?::\d+)?\/[^'\s]+)'/gi;

/**
 * Pure: the reference CLI's error result, made clear when it failed because a registry could not be
 * reached: the message names the Features it was fetching from there (found in its log, `stderr`) and
 * the registry, and the description says what to do. Any other result comes back unchanged.
 */
export function explainReferenceFailure(result: ReferenceResult, stderr: string): ReferenceResult {
  const message = typeof result.message === 'string' ? result.message : '';
  const registry = UNREACHABLE.exec(message)?.[1];
  if (!registry) return result;
  const features = [...new Set([...stderr.matchAll(QUOTED_ID)].map((match) => match[1] ?? ''))].filter((id) =>
    id.startsWith(`${registry}/`),
  );
  if (features.length === 0) return result;
  const named = features.map((id) => `'${id}'`).join(', ');
  return {
    ...result,
    message: `cannot fetch the Feature${features.length > 1 ? 's' : ''} ${named}: registry ${registry} is unreachable (${message})`,
    description:
      `This machine cannot reach ${registry}. Connect it to that registry, or remove ${named} from ` +
      'devcontainer.json ("features"), or copy the Feature into the workspace and name its folder ("./name").',
  };
}
