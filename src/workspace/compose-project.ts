import path from 'node:path';
import { UsageError } from '../common/errors.js';
import type { ContainerSource, DevContainerConfig } from '../config/types.js';
import { KEEP_ALIVE_ARGS, KEEP_ALIVE_ENTRYPOINT } from './keep-alive.js';

/** A Compose source, as devcontainer.json gives it. */
export type ComposeSource = Extract<ContainerSource, { kind: 'compose' }>;

/** The project name when nothing better can be made of the folder name. */
export const FALLBACK_PROJECT_NAME = 'devcontainer';

/**
 * The Compose project name, as the Dev Containers CLI chooses it: COMPOSE_PROJECT_NAME from the
 * environment when set; else from the workspace's `.env` file (`dotEnv`, its text, null when there is
 * none); else, when the first Compose file sits in the workspace's `.devcontainer` folder,
 * `<workspace>_devcontainer`; else the name of the first Compose file's folder. Lowercased, keeping
 * only `a-z 0-9 - _`.
 */
export function composeProjectName(
  config: Pick<DevContainerConfig, 'workspaceFolderHost'>,
  source: ComposeSource,
  env: Readonly<Record<string, string | undefined>>,
  dotEnv: string | null = null,
): string {
  const fromEnv = toProjectName(env.COMPOSE_PROJECT_NAME ?? '');
  if (fromEnv) return fromEnv;
  const fromDotEnv = toProjectName(/^COMPOSE_PROJECT_NAME=(.+)$/m.exec(dotEnv ?? '')?.[1]?.trim() ?? '');
  if (fromDotEnv) return fromDotEnv;
  const composeFolder = path.dirname(source.files[0] ?? path.join(config.workspaceFolderHost, 'x'));
  const name =
    composeFolder === path.join(config.workspaceFolderHost, '.devcontainer')
      ? `${path.basename(config.workspaceFolderHost)}_devcontainer`
      : path.basename(composeFolder);
  return toProjectName(name) || FALLBACK_PROJECT_NAME;
}

function toProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^-_a-z0-9]/g, '')
    .replace(/^[-_]+/, '');
}

/** The top-level `version:` of a Compose file's text, or null when it has none. */
export function composeFileVersion(text: string): string | null {
  const match = /^version:[ \t]*["']?([^"'\s#]+)/m.exec(text);
  return match?.[1] ?? null;
}

/** One devcontainer.json mount, as the override file gives it to Compose. */
export type ComposeMount =
  /** A `volumes:` entry (short syntax); `named` is the volume to declare at the top level, if any. */
  | { kind: 'volume'; entry: string; named: { name: string; external: boolean } | null }
  /** A `tmpfs:` entry: the path in the container. */
  | { kind: 'tmpfs'; target: string };

/**
 * Pure: a `--mount` value (`type=bind,source=/a,target=/b[,readonly]`, as devcontainer.json's `mounts`
 * give it) as Compose takes it. Like the Dev Containers CLI, a named volume is declared in the
 * project (Compose prefixes its name with the project's) unless `external=true` says it exists.
 */
export function composeMount(mount: string): ComposeMount {
  const fields = new Map<string, string>();
  for (const part of mount.split(',')) {
    const at = part.indexOf('=');
    const key = (at < 0 ? part : part.slice(0, at)).trim().toLowerCase();
    if (key !== '') fields.set(key, at < 0 ? 'true' : part.slice(at + 1).trim());
  }
  const type = fields.get('type') ?? 'volume';
  const source = fields.get('source') ?? fields.get('src') ?? '';
  const target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination') ?? '';
  const flag = (key: string) => ['true', '1'].includes(fields.get(key)?.toLowerCase() ?? 'false');
  if (target === '' || !['bind', 'volume', 'tmpfs'].includes(type)) {
    throw new UsageError(`mounts: '${mount}' cannot be given to Compose`, {
      code: 'CONFIG_INVALID',
      description:
        'Expected type=bind|volume|tmpfs and a target, e.g. "source=/host/dir,target=/data,type=bind". Fix the entry in devcontainer.json\'s mounts.',
    });
  }
  if (type === 'tmpfs') return { kind: 'tmpfs', target: escapeDollars(target) };
  const readOnly = flag('readonly') || flag('ro');
  const entry = source === '' ? target : `${source}:${target}${readOnly ? ':ro' : ''}`;
  const named = type === 'volume' && source !== '' ? { name: source, external: flag('external') } : null;
  return { kind: 'volume', entry: escapeDollars(entry), named };
}

/** What the generated override file adds to the dev container's service. */
export interface ComposeOverrideInput {
  service: string;
  labels: Readonly<Record<string, string>>;
  overrideCommand: boolean;
  containerEnv: Readonly<Record<string, string>>;
  containerUser: string | null;
  /** devcontainer.json's `mounts` (`--mount` values); none when absent. */
  mounts?: readonly string[];
  /** The first Compose file's `version:`; Compose v1 refuses files whose versions differ. */
  version: string | null;
}

/**
 * The override Compose file that makes the service a dev container, as the Dev Containers CLI writes
 * one: the workspace labels (so the container is found again), containerEnv, containerUser, mounts
 * and, when overrideCommand is true, the keep-alive entrypoint. It is JSON, which is YAML too. Every
 * `$` is doubled, because Compose would otherwise read `$!` or `${…}` as a variable to interpolate.
 */
export function composeOverride(input: ComposeOverrideInput): Record<string, unknown> {
  const service: Record<string, unknown> = { labels: escapeRecord(input.labels) };
  if (input.overrideCommand) {
    service.entrypoint = [KEEP_ALIVE_ENTRYPOINT, ...KEEP_ALIVE_ARGS].map(escapeDollars);
  }
  if (Object.keys(input.containerEnv).length > 0) service.environment = escapeRecord(input.containerEnv);
  if (input.containerUser) service.user = escapeDollars(input.containerUser);
  const mounts = (input.mounts ?? []).map(composeMount);
  const volumes = mounts.flatMap((mount) => (mount.kind === 'volume' ? [mount.entry] : []));
  const tmpfs = mounts.flatMap((mount) => (mount.kind === 'tmpfs' ? [mount.target] : []));
  if (volumes.length > 0) service.volumes = volumes;
  if (tmpfs.length > 0) service.tmpfs = tmpfs;
  const named = mounts.flatMap((mount) => (mount.kind === 'volume' && mount.named ? [mount.named] : []));
  const override: Record<string, unknown> = {};
  if (input.version !== null) override.version = input.version;
  override.services = { [input.service]: service };
  if (named.length > 0) {
    override.volumes = Object.fromEntries(
      named.map(({ name, external }) => [escapeDollars(name), external ? { external: true } : {}]),
    );
  }
  return override;
}

function escapeDollars(text: string): string {
  return text.replace(/\$/g, '$$$$');
}

function escapeRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, escapeDollars(value)]));
}
