import { afterAll } from 'vitest';
import { makeStateDir, runCli } from './cli.js';
import {
  removeThisRunsTestContainers,
  startContainer,
  type StartContainerOptions,
  type TestContainer,
} from './containers.js';

/** A test file's state dir and the containers it starts there. */
export interface ContainerScope {
  readonly stateDir: string;
  /** Starts a container that `down --remove` takes away (forwarder and all) after the file. */
  start(image: string, options?: StartContainerOptions): Promise<TestContainer>;
}

/**
 * Call at the top of a test file: a fresh state dir, and after the file's last test every container
 * started through it brought down with its forwarder and removed, then any this run left behind.
 */
export function containerScope(): ContainerScope {
  const stateDir = makeStateDir();
  const started: TestContainer[] = [];
  afterAll(async () => {
    for (const container of started)
      await runCli(stateDir, ['down', '--container-id', container.id, '--remove']);
    await removeThisRunsTestContainers();
  });
  return {
    stateDir,
    async start(image, options) {
      const container = await startContainer(image, options);
      started.push(container);
      return container;
    },
  };
}
