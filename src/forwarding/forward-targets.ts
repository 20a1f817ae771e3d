import type { TargetContainer } from './forward-state.js';

/** The containers a forwarder serves: its primary, and other containers (Compose services) by id. */
export class ForwardTargets {
  /** The other containers by id; an id changes when its service's container is replaced. */
  private readonly others: Map<string, TargetContainer>;

  constructor(
    readonly primary: TargetContainer,
    others: ReadonlyMap<string, TargetContainer>,
  ) {
    this.others = new Map(others);
  }

  byId(containerId: string): TargetContainer | undefined {
    return containerId === this.primary.id ? this.primary : this.others.get(containerId);
  }

  all(): TargetContainer[] {
    return [this.primary, ...this.others.values()];
  }
  /** Ends every target's relay agent, namespace helper and mux channel (the forwarder stops). */
  async closeRelays(): Promise<void> {
    await Promise.all(
      this.all().flatMap((target) => [target.agent?.close(), target.netns?.close(), target.mux?.close()]),
    );
  }

  /**
   * Points a target at its container as it is now (restarted: new addresses, perhaps, and a new
   * relay agent and namespace helper); the ones it had are closed.
   */
  async refresh(
    containerId: string,
    fresh: Partial<Pick<TargetContainer, 'directAddresses' | 'relayProgram' | 'agent' | 'netns' | 'mux'>>,
  ): Promise<void> {
    const target = this.byId(containerId);
    if (!target) return;
    const previous = target.agent;
    const previousNetns = target.netns;
    const previousMux = target.mux;
    target.directAddresses = fresh.directAddresses ?? target.directAddresses;
    target.relayProgram = fresh.relayProgram ?? target.relayProgram;
    target.agent = fresh.agent === undefined ? target.agent : fresh.agent;
    target.netns = fresh.netns === undefined ? target.netns : fresh.netns;
    target.mux = fresh.mux === undefined ? target.mux : fresh.mux;
    if (previous && previous !== target.agent) await previous.close();
    if (previousNetns && previousNetns !== target.netns) await previousNetns.close();
    if (previousMux && previousMux !== target.mux) await previousMux.close();
  }

  /** Makes another container's target the one of its replacement; null when there is nothing to do. */
  replace(
    containerId: string,
    fresh: Pick<TargetContainer, 'id' | 'name' | 'directAddresses' | 'relayProgram'>,
  ): TargetContainer | null {
    const target = this.others.get(containerId);
    if (!target || fresh.id === containerId) return null;
    this.others.delete(containerId);
    Object.assign(target, fresh);
    this.others.set(target.id, target);
    return target;
  }
}
