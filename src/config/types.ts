/**
 * A lifecycle command (onCreateCommand, postCreateCommand, …): a string runs through `/bin/sh -c`, an
 * array runs as argv without a shell, an object runs each named command in parallel.
 */
export type LifecycleCommand =
  | { kind: 'shell'; command: string }
  | { kind: 'argv'; argv: string[] }
  | { kind: 'parallel'; commands: Record<string, LifecycleCommand> };

/** A port to forward whatever listens: `3000` (service null) or `"db:5432"` (another Compose service). */
export interface DeclaredPort {
  service: string | null;
  port: number;
}

/** What to do when a port is auto-forwarded (portsAttributes.onAutoForward). */
export type OnAutoForward =
  'notify' | 'silent' | 'ignore' | 'openBrowser' | 'openBrowserOnce' | 'openPreview';

/** The options one portsAttributes entry (or otherPortsAttributes) sets; unset options are absent. */
export interface PortAttributes {
  label?: string;
  protocol?: 'http' | 'https';
  onAutoForward?: OnAutoForward;
  requireLocalPort?: boolean;
  elevateIfNeeded?: boolean;
}

/**
 * A portsAttributes key: `"3000"`, a range `"3000-3010"` (inclusive), `"db:5432"` (a port of another
 * Compose service), or else a regular expression tested against the listening process's command line.
 */
export type PortAttributesKey =
  | { kind: 'port'; port: number }
  | { kind: 'range'; from: number; to: number }
  | { kind: 'service'; service: string; port: number }
  | { kind: 'regex'; source: string; regex: RegExp };

/** An appPort entry: published with `docker run -p` when the container is created. */
export interface AppPort {
  /** The `-p` value: `127.0.0.1:P:P` for a number, a string passed to Docker unchanged. */
  publish: string;
  /** The container port, when the value names a single one. */
  containerPort: number | null;
}

/** How the dev container's image comes to be. Paths are absolute, resolved against the config's folder. */
export type ContainerSource =
  | { kind: 'image'; image: string }
  | {
      kind: 'dockerfile';
      dockerfile: string;
      context: string;
      args: Record<string, string>;
      target: string | null;
    }
  | { kind: 'compose'; files: string[]; service: string; runServices: string[] | null };

/** A devcontainer.json, validated, with defaults filled in and `${…}` variables substituted. */
export interface DevContainerConfig {
  /** Absolute path of the devcontainer.json read. */
  configFile: string;
  /** Absolute path of the local workspace folder. */
  workspaceFolderHost: string;
  name: string | null;
  source: ContainerSource;
  /** The workspace path in the container: default `/workspaces/<basename>`, or `/` for Compose. */
  workspaceFolder: string;
  /** The `--mount` value for the workspace; null for Compose or when set to "". */
  workspaceMount: string | null;
  containerEnv: Record<string, string>;
  runArgs: string[];
  /** `--mount` values; object mounts are turned into `type=…,src=…,dst=…`. */
  mounts: string[];
  appPort: AppPort[];
  /** Replace the image's command with a sleep loop: default true, false for Compose. */
  overrideCommand: boolean;
  forwardPorts: DeclaredPort[];
  portsAttributes: Array<{ key: PortAttributesKey; attributes: PortAttributes }>;
  otherPortsAttributes: PortAttributes | null;
  onCreateCommand: LifecycleCommand | null;
  postCreateCommand: LifecycleCommand | null;
  postStartCommand: LifecycleCommand | null;
  remoteUser: string | null;
  containerUser: string | null;
}
