import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The program that opens a URL in the user's browser on this platform, if one is installed. */
export function findBrowserOpener(env: NodeJS.ProcessEnv = process.env): string | null {
  const names = process.platform === 'darwin' ? ['open'] : ['xdg-open', 'sensible-browser'];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/** Opens `url` with `opener`, detached; the URL is one argv element, never shell text. */
export function openInBrowser(opener: string, url: string): void {
  const child = spawn(opener, [url], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}
