import type { PortListener } from './proc-net-tcp.js';
import type { SocketOwnerFinder } from './socket-owners.js';

/** The command lines owning listening sockets, looked up once per socket: only new sockets cost a lookup. */
export class SocketOwnerCache {
  /** Socket inodes whose owner was already looked up. */
  private knownInodes = new Set<number>();
  private readonly ownerByInode = new Map<number, string>();

  constructor(private readonly finder: SocketOwnerFinder | null) {}

  /** Looks up the owners of the sockets not seen before, and forgets the sockets gone. */
  async lookUp(listeners: readonly PortListener[]): Promise<void> {
    const current = new Set(listeners.flatMap((l) => l.sockets.map((socket) => socket.inode)));
    const fresh = new Set([...current].filter((inode) => !this.knownInodes.has(inode)));
    for (const inode of this.ownerByInode.keys()) if (!current.has(inode)) this.ownerByInode.delete(inode);
    this.knownInodes = current;
    if (fresh.size === 0 || !this.finder) return;
    for (const [inode, commandLine] of await this.finder.find(fresh))
      this.ownerByInode.set(inode, commandLine);
  }

  /** The command line listening, when it could be seen. */
  ownerOf(listener: PortListener): string | null {
    for (const socket of listener.sockets) {
      const owner = this.ownerByInode.get(socket.inode);
      if (owner !== undefined) return owner;
    }
    return null;
  }
}
