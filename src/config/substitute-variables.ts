import path from 'node:path';

/** What `${…}` variables in devcontainer.json resolve to. */
export interface SubstitutionContext {
  /** Absolute host path of the workspace folder. */
  localWorkspaceFolder: string;
  /** The workspace path in the container; null while it is itself being resolved. */
  containerWorkspaceFolder: string | null;
  /** The host environment `${localEnv:NAME}` reads. */
  env: Readonly<Record<string, string | undefined>>;
}

const VARIABLE = /\$\{(.*?)\}/g;

/**
 * Replaces the variables the Dev Container spec defines for devcontainer.json: `${localEnv:NAME}`
 * (alias `${env:NAME}`, unset gives "" or the `:default`), `${localWorkspaceFolder}`,
 * `${localWorkspaceFolderBasename}`, `${containerWorkspaceFolder}` and its `Basename`. Others, such as
 * `${containerEnv:NAME}` (resolved in the container) and `${devcontainerId}`, are left as written.
 */
export function substituteString(text: string, context: SubstitutionContext): string {
  return text.replace(VARIABLE, (match, inner: string) => {
    const [variable, ...args] = inner.split(':');
    switch (variable) {
      case 'env':
      case 'localEnv': {
        if (args.length === 0 || args[0] === '') return match;
        const value = context.env[args[0]];
        if (value !== undefined) return value;
        return args.length > 1 ? args.slice(1).join(':') : '';
      }
      case 'localWorkspaceFolder':
        return context.localWorkspaceFolder;
      case 'localWorkspaceFolderBasename':
        return path.basename(context.localWorkspaceFolder);
      case 'containerWorkspaceFolder':
        return context.containerWorkspaceFolder ?? match;
      case 'containerWorkspaceFolderBasename':
        return context.containerWorkspaceFolder === null
          ? match
          : path.posix.basename(context.containerWorkspaceFolder);
      default:
        return match;
    }
  });
}

/** Substitutes variables in every string value of a parsed JSON tree; object keys stay as written. */
export function substituteValues(value: unknown, context: SubstitutionContext): unknown {
  if (typeof value === 'string') return substituteString(value, context);
  if (Array.isArray(value)) return value.map((item: unknown) => substituteValues(item, context));
  if (typeof value === 'object' && value !== null) {
    // fromEntries defines own properties, so a "__proto__" key stays an ordinary key.
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteValues(item, context)]),
    );
  }
  return value;
}
