import { statSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import type { StatePaths } from '../common/state-dir.js';
import type { PortEntry } from './port-entry.js';
import { releasePorts, updateEntries, type RegistryOptions } from './host/registry.js';
import type { Log } from '../common/log.js';

const UNCHECKED = -1;

/** This forwarder's entries in the shared registry, kept equal to its forwards. */
export class OwnEntries {
  readonly registryOptions: RegistryOptions;
  /** The registry's inode when this forwarder's entries were last found right in it. */
  private registryInode = UNCHECKED;

  constructor(
    private readonly paths: StatePaths,
    private readonly pid: number,
    private readonly log: Log,
  ) {
    this.registryOptions = { onWarning: (message) => log(message) };
  }

  /** Has the next keep() look at the registry whether it changed or not. */
  recheck(): void {
    this.registryInode = UNCHECKED;
  }

  /**
   * Puts this forwarder's forwards back into the registry when they went missing from it (a damaged
   * registry set aside and rebuilt, the state dir deleted), and drops its entries for forwards it no
   * longer has (a release that failed while the state dir was read-only). Looked at only when the
   * file changed: every registry write makes a new inode, and a stat costs microseconds. Entries are
   * compared by identity only, so two forwarders never rewrite the file back and forth.
   */
  async keep(own: readonly PortEntry[]): Promise<void> {
    const inode = inodeOf(this.paths.registry);
    if (inode === this.registryInode) return;
    const { pid } = this;
    try {
      await updateEntries(
        this.paths,
        (entries) => {
          const mine = entries.filter((e) => e.forwarderPid === pid);
          if (identities(mine) === identities(own)) return entries;
          const others = entries.filter((e) => e.forwarderPid !== pid);
          const taken = new Set(others.map((e) => `${e.hostPort}/${e.protocol}`));
          return [...others, ...own.filter((e) => !taken.has(`${e.hostPort}/${e.protocol}`))];
        },
        this.registryOptions,
      );
      this.registryInode = inodeOf(this.paths.registry);
    } catch (error) {
      this.log("could not check this forwarder's registry entries", { error: errorMessage(error) });
    }
  }

  /** Writes one entry as it is now (its path and process changed). */
  async update(entry: PortEntry): Promise<void> {
    await updateEntries(
      this.paths,
      (entries) =>
        entries.map((e) =>
          e.forwarderPid === entry.forwarderPid &&
          e.hostPort === entry.hostPort &&
          e.protocol === entry.protocol
            ? { ...entry }
            : e,
        ),
      this.registryOptions,
    ).catch((error: unknown) => {
      this.recheck();
      this.log('could not update registry entry', { error: errorMessage(error) });
    });
  }

  /** Takes one entry out: its host port is free again. */
  async release(entry: PortEntry): Promise<void> {
    await releasePorts(
      this.paths,
      (e) =>
        e.forwarderPid === entry.forwarderPid &&
        e.hostPort === entry.hostPort &&
        e.protocol === entry.protocol,
      this.registryOptions,
    ).catch((error: unknown) => {
      this.recheck();
      this.log('could not release a registry entry', { error: errorMessage(error) });
    });
  }

  /** Takes every entry of this forwarder out. */
  async releaseAll(): Promise<void> {
    const { pid } = this;
    await releasePorts(this.paths, (entry) => entry.forwarderPid === pid, this.registryOptions).catch(
      (error: unknown) => this.log('could not release registry entries', { error: errorMessage(error) }),
    );
  }
}

/** The registry file's inode, or 0 when there is none. */
function inodeOf(path: string): number {
  try {
    return statSync(path).ino;
  } catch {
    return 0;
  }
}

/** Which forwards a set of entries records, in a comparable form. */
function identities(entries: readonly PortEntry[]): string {
  return entries
    .map((e) => `${e.containerId}:${e.containerPort}:${e.hostPort}/${e.protocol}`)
    .sort()
    .join(',');
}
