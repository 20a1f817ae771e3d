import fs from 'node:fs';
import { STATE_DIR_MODE } from './state-dir.js';

/**
 * The file system proper-lockfile is given: its lock is a directory made beside the file it guards,
 * made here with the state dir's own mode (0700) rather than whatever the umask leaves.
 */
export const privateLockFs = {
  ...fs,
  mkdir(path: fs.PathLike, callback: (error: NodeJS.ErrnoException | null) => void): void {
    fs.mkdir(path, { mode: STATE_DIR_MODE }, (error) => callback(error));
  },
};
