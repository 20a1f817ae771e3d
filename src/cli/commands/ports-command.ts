import { Command } from 'commander';
import type { PortEvent, PublicPortEntry } from '../../forwarding/port-entry.js';
import { listForwardedPorts, type Scope } from '../../operations/ports.js';
import { watchPortEvents } from '../../operations/watch-ports.js';
import {
  commonOptions,
  printJson,
  reportFailure,
  stateDirOption,
  warn,
  DOCKER_PATH_HELP,
} from '../command-context.js';
import { resolveScope } from '../../operations/scope.js';
import { findBrowserOpener, openInBrowser } from '../browser-opener.js';
import { formatTable, terminalSafe } from '../terminal-text.js';

interface PortsFlags {
  containerId?: string;
  workspaceFolder?: string;
  json?: boolean;
  watch?: boolean;
}

/** `portpilot ports`: what is forwarded, as a table, JSON, or a stream of events. */
export function portsCommand(): Command {
  return new Command('ports')
    .description('List forwarded ports (all containers unless scoped)')
    .option('--container-id <id>', "only this container's ports")
    .option('--workspace-folder <dir>', "only the workspace's containers' ports")
    .option(
      '--json',
      'print one JSON array (with --watch: one JSON object a line, first {"type":"watching","ports":[…]})',
    )
    .option(
      '--watch',
      'keep running: print the ports forwarded now and a "watching" line, then port events as they happen',
    )
    .option('--docker-path <path>', DOCKER_PATH_HELP)
    .addOption(stateDirOption())
    .action(async (flags: PortsFlags, command: Command) => {
      try {
        const common = commonOptions(command);
        const scope = await resolveScope(common, flags, { required: false });
        if (flags.watch) {
          await watch(common.stateDir, scope, flags.json === true);
          return;
        }
        const entries = await listForwardedPorts(common.stateDir, scope, warn);
        if (flags.json) printJson(entries);
        else process.stdout.write(entries.length === 0 ? 'No ports are forwarded.\n' : table(entries));
      } catch (error) {
        reportFailure(error);
      }
    });
}

async function watch(stateDir: string, scope: Scope, json: boolean): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.stdout.on('error', onSignal); // the reader went away (a closed pipe)
  // onAutoForward openBrowser(Once) opens the URL only for a person watching at a terminal.
  const opener = !json && process.stdout.isTTY ? findBrowserOpener() : null;
  const opened = new Set<string>();
  const onEvent = (event: PortEvent): void => {
    if (json) return printJson(event);
    if (event.notify === false) return; // onAutoForward: silent
    printEvent(event);
    const wantsBrowser = event.onAutoForward === 'openBrowser' || event.onAutoForward === 'openBrowserOnce';
    const key = `${event.containerId}:${event.containerPort}`;
    if (event.type !== 'forwarded' || !wantsBrowser || !opener || event.hostPort === null) return;
    if (event.protocol === 'udp') return; // no browser speaks UDP
    if (event.onAutoForward === 'openBrowserOnce' && opened.has(key)) return;
    opened.add(key);
    openInBrowser(opener, `${event.urlScheme ?? 'http'}://127.0.0.1:${event.hostPort}/`);
  };
  await watchPortEvents(
    stateDir,
    scope,
    {
      onWatching(ports, at) {
        if (json) return printJson({ type: 'watching', at, ports });
        process.stdout.write(ports.length === 0 ? 'No ports are forwarded.\n' : table(ports));
        process.stdout.write(`${at} watching for port events (Ctrl-C stops)\n`);
      },
      onEvent,
      onWarning: warn,
    },
    stop.signal,
  );
}

function hostOf(
  entry: Pick<PublicPortEntry, 'hostAddress' | 'urlScheme'> & { hostPort: number | null },
): string {
  const address = entry.hostAddress.includes(':') ? `[${entry.hostAddress}]` : entry.hostAddress;
  const hostPort = `${address}:${entry.hostPort ?? '-'}`;
  return entry.urlScheme ? `${entry.urlScheme}://${hostPort}` : hostPort;
}

function table(entries: PublicPortEntry[]): string {
  return formatTable(
    ['CONTAINER', 'PORT', 'HOST', 'ORIGIN', 'ALLOCATION', 'PATH', 'LABEL', 'PROCESS'],
    entries.map((e) => [
      e.service ? `${e.containerName} (${e.service})` : e.containerName,
      portText(e),
      hostOf(e),
      e.direction === 'reverse' ? 'reverse' : e.origin,
      e.allocation,
      e.path,
      e.label ?? '',
      e.process ?? '',
    ]),
  );
}

/** `3000` for TCP, `5353/udp` for UDP. */
function portText(entry: Pick<PortEvent, 'containerPort' | 'protocol'>): string {
  return entry.protocol === 'udp' ? `${entry.containerPort}/udp` : String(entry.containerPort);
}

function printEvent(event: PortEvent): void {
  const what = `${event.containerName}:${portText(event)}`;
  const detail =
    event.type === 'failed'
      ? `: ${event.reason ?? ''}`
      : ` -> ${hostOf(event)}${event.label ? ` (${event.label})` : ''}`;
  process.stdout.write(terminalSafe(`${event.at} ${event.type} ${what}${detail}`) + '\n');
}
