import { describe, expect, it } from 'vitest';
import { parseDevContainerConfig } from '../../../src/config/parse-config.js';

const CONFIG_FILE = '/home/dev/app/.devcontainer/devcontainer.json';
const WORKSPACE = '/home/dev/app';

function parse(text: string, env: Record<string, string> = {}) {
  return parseDevContainerConfig(text, CONFIG_FILE, WORKSPACE, env);
}

describe('parseDevContainerConfig: JSON with comments', () => {
  it('accepts line and block comments and trailing commas', () => {
    const config = parse(`{
      // the image
      "image": "node:20", /* block */
      "forwardPorts": [3000, 4000,],
    }`);
    expect(config.source).toEqual({ kind: 'image', image: 'node:20' });
    expect(config.forwardPorts).toEqual([
      { service: null, port: 3000 },
      { service: null, port: 4000 },
    ]);
  });

  it('accepts a leading byte order mark', () => {
    expect(parse('\uFEFF{"image": "alpine"}').source).toEqual({ kind: 'image', image: 'alpine' });
  });

  it('ignores unknown properties', () => {
    const config = parse(
      '{"image": "alpine", "features": {"x": {}}, "customizations": {"vscode": {}}, "zzz": 1}',
    );
    expect(config.name).toBeNull();
  });
});

describe('parseDevContainerConfig: sources', () => {
  it('reads an image', () => {
    expect(parse('{"image": "mcr.microsoft.com/devcontainers/base:ubuntu"}').source).toEqual({
      kind: 'image',
      image: 'mcr.microsoft.com/devcontainers/base:ubuntu',
    });
  });

  it('resolves build.dockerfile and build.context against the config folder', () => {
    const config = parse(`{"build": {"dockerfile": "Dockerfile", "context": "..",
      "args": {"VARIANT": "20"}, "target": "dev"}}`);
    expect(config.source).toEqual({
      kind: 'dockerfile',
      dockerfile: '/home/dev/app/.devcontainer/Dockerfile',
      context: '/home/dev/app',
      args: { VARIANT: '20' },
      target: 'dev',
    });
  });

  it("defaults the build context to the Dockerfile's folder", () => {
    const config = parse('{"build": {"dockerfile": "../docker/dev.Dockerfile"}}');
    expect(config.source).toEqual({
      kind: 'dockerfile',
      dockerfile: '/home/dev/app/docker/dev.Dockerfile',
      context: '/home/dev/app/docker',
      args: {},
      target: null,
    });
  });

  it('reads the older top-level dockerFile and context', () => {
    const config = parse('{"dockerFile": "Dockerfile", "context": ".."}');
    expect(config.source).toMatchObject({
      kind: 'dockerfile',
      dockerfile: '/home/dev/app/.devcontainer/Dockerfile',
      context: '/home/dev/app',
    });
  });

  it('reads Compose files (a string or an array), service and runServices', () => {
    const single = parse('{"dockerComposeFile": "compose.yml", "service": "app"}');
    expect(single.source).toEqual({
      kind: 'compose',
      files: ['/home/dev/app/.devcontainer/compose.yml'],
      service: 'app',
      runServices: null,
    });
    const many = parse(`{"dockerComposeFile": ["../compose.yml", "compose.dev.yml"], "service": "app",
      "runServices": ["app", "db"]}`);
    expect(many.source).toEqual({
      kind: 'compose',
      files: ['/home/dev/app/compose.yml', '/home/dev/app/.devcontainer/compose.dev.yml'],
      service: 'app',
      runServices: ['app', 'db'],
    });
  });

  it('prefers Compose over a Dockerfile over an image, as the Dev Containers CLI does', () => {
    expect(parse('{"image": "a", "build": {"dockerfile": "D"}}').source.kind).toBe('dockerfile');
    expect(parse('{"image": "a", "dockerComposeFile": "c.yml", "service": "s"}').source.kind).toBe('compose');
  });

  it('takes an image when build has no dockerfile', () => {
    expect(parse('{"image": "a", "build": {"args": {"X": "1"}}}').source).toEqual({
      kind: 'image',
      image: 'a',
    });
  });
});

describe('parseDevContainerConfig: defaults', () => {
  it('fills in image defaults', () => {
    const config = parse('{"image": "alpine"}');
    expect(config).toEqual({
      configFile: CONFIG_FILE,
      workspaceFolderHost: WORKSPACE,
      name: null,
      source: { kind: 'image', image: 'alpine' },
      workspaceFolder: '/workspaces/app',
      workspaceMount: 'type=bind,source=/home/dev/app,target=/workspaces/app',
      containerEnv: {},
      runArgs: [],
      mounts: [],
      appPort: [],
      overrideCommand: true,
      forwardPorts: [],
      portsAttributes: [],
      otherPortsAttributes: null,
      onCreateCommand: null,
      postCreateCommand: null,
      postStartCommand: null,
      remoteUser: null,
      containerUser: null,
    });
  });

  it('defaults overrideCommand to true for a Dockerfile and false for Compose', () => {
    expect(parse('{"build": {"dockerfile": "Dockerfile"}}').overrideCommand).toBe(true);
    expect(parse('{"dockerComposeFile": "c.yml", "service": "app"}').overrideCommand).toBe(false);
    expect(
      parse('{"dockerComposeFile": "c.yml", "service": "app", "overrideCommand": true}').overrideCommand,
    ).toBe(true);
    expect(parse('{"image": "a", "overrideCommand": false}').overrideCommand).toBe(false);
  });

  it('defaults the Compose workspace folder to / and has no workspace mount', () => {
    const config = parse('{"dockerComposeFile": "c.yml", "service": "app", "workspaceMount": "type=bind,x"}');
    expect(config.workspaceFolder).toBe('/');
    expect(config.workspaceMount).toBeNull();
  });

  it('keeps the default workspace mount when only workspaceFolder is set', () => {
    const config = parse('{"image": "a", "workspaceFolder": "/src"}');
    expect(config.workspaceFolder).toBe('/src');
    expect(config.workspaceMount).toBe('type=bind,source=/home/dev/app,target=/workspaces/app');
  });

  it('takes workspaceMount as written, and "" as no mount', () => {
    const written = parse(
      '{"image": "a", "workspaceMount": "type=volume,source=v,target=/w", "workspaceFolder": "/w"}',
    );
    expect(written.workspaceMount).toBe('type=volume,source=v,target=/w');
    expect(parse('{"image": "a", "workspaceMount": ""}').workspaceMount).toBeNull();
  });

  it('quotes a default mount source that holds a comma', () => {
    const config = parseDevContainerConfig('{"image": "a"}', '/x/a,b/.devcontainer.json', '/x/a,b');
    expect(config.workspaceFolder).toBe('/workspaces/a,b');
    expect(config.workspaceMount).toBe('type=bind,"source=/x/a,b","target=/workspaces/a,b"');
  });
});

describe('parseDevContainerConfig: other properties', () => {
  it('reads name, env, runArgs, users and mounts', () => {
    const config = parse(`{"image": "a", "name": "App", "containerEnv": {"A": "1"}, "runArgs": ["--init"],
      "remoteUser": "node", "containerUser": "root",
      "mounts": ["type=volume,src=cache,dst=/cache", {"type": "bind", "source": "/tmp", "target": "/t"},
        {"type": "volume", "target": "/anon"}]}`);
    expect(config.name).toBe('App');
    expect(config.containerEnv).toEqual({ A: '1' });
    expect(config.runArgs).toEqual(['--init']);
    expect(config.remoteUser).toBe('node');
    expect(config.containerUser).toBe('root');
    expect(config.mounts).toEqual([
      'type=volume,src=cache,dst=/cache',
      'type=bind,src=/tmp,dst=/t',
      'type=volume,dst=/anon',
    ]);
  });

  it('reads appPort as a number, a string or an array', () => {
    expect(parse('{"image": "a", "appPort": 3000}').appPort).toEqual([
      { publish: '127.0.0.1:3000:3000', containerPort: 3000 },
    ]);
    expect(
      parse('{"image": "a", "appPort": ["8000:8010", 22, "127.0.0.1:53:53/udp", "9000-9001:9000-9001"]}')
        .appPort,
    ).toEqual([
      { publish: '8000:8010', containerPort: 8010 },
      { publish: '127.0.0.1:22:22', containerPort: 22 },
      { publish: '127.0.0.1:53:53/udp', containerPort: 53 },
      { publish: '9000-9001:9000-9001', containerPort: null },
    ]);
  });

  it('reads forwardPorts with services, dropping repeats', () => {
    const config = parse(
      '{"image": "a", "forwardPorts": [3000, "db:5432", "3000", "localhost:8080", "db:5432"]}',
    );
    expect(config.forwardPorts).toEqual([
      { service: null, port: 3000 },
      { service: 'db', port: 5432 },
      { service: null, port: 8080 },
    ]);
  });

  it('reads portsAttributes keys and otherPortsAttributes', () => {
    const config = parse(`{"image": "a",
      "portsAttributes": {
        "3000": {"label": "Web", "protocol": "https", "onAutoForward": "openBrowserOnce"},
        "9000-9100": {"onAutoForward": "ignore", "requireLocalPort": true, "elevateIfNeeded": false},
        "db:5432": {"label": "Postgres"},
        ".+/server\\\\.js": {"label": "Server", "unknownOption": 1}
      },
      "otherPortsAttributes": {"onAutoForward": "silent"}}`);
    expect(config.portsAttributes.map((e) => ({ ...e.key, regex: undefined }))).toEqual([
      { kind: 'port', port: 3000, regex: undefined },
      { kind: 'range', from: 9000, to: 9100, regex: undefined },
      { kind: 'service', service: 'db', port: 5432, regex: undefined },
      { kind: 'regex', source: '.+/server\\.js', regex: undefined },
    ]);
    expect(config.portsAttributes.map((e) => e.attributes)).toEqual([
      { label: 'Web', protocol: 'https', onAutoForward: 'openBrowserOnce' },
      { onAutoForward: 'ignore', requireLocalPort: true, elevateIfNeeded: false },
      { label: 'Postgres' },
      { label: 'Server' },
    ]);
    const regexKey = config.portsAttributes[3].key;
    expect(regexKey.kind === 'regex' && regexKey.regex.test('node /app/server.js')).toBe(true);
    expect(config.otherPortsAttributes).toEqual({ onAutoForward: 'silent' });
  });

  it('reads lifecycle commands in all three forms', () => {
    const config = parse(`{"image": "a", "onCreateCommand": "npm ci && npm run build",
      "postCreateCommand": ["echo", "foo='bar'"],
      "postStartCommand": {"server": "npm start", "db": ["mysql", "-u", "root"]}}`);
    expect(config.onCreateCommand).toEqual({ kind: 'shell', command: 'npm ci && npm run build' });
    expect(config.postCreateCommand).toEqual({ kind: 'argv', argv: ['echo', "foo='bar'"] });
    expect(config.postStartCommand).toEqual({
      kind: 'parallel',
      commands: {
        server: { kind: 'shell', command: 'npm start' },
        db: { kind: 'argv', argv: ['mysql', '-u', 'root'] },
      },
    });
  });

  it('treats null as an absent property', () => {
    const config = parse('{"image": "a", "name": null, "forwardPorts": null, "postCreateCommand": null}');
    expect(config.name).toBeNull();
    expect(config.forwardPorts).toEqual([]);
    expect(config.postCreateCommand).toBeNull();
  });
});

describe('parseDevContainerConfig: variables', () => {
  it('substitutes local workspace, container workspace and localEnv variables', () => {
    const config = parse(
      `{"image": "a", "workspaceFolder": "/src/\${localWorkspaceFolderBasename}",
        "workspaceMount": "source=\${localWorkspaceFolder},target=\${containerWorkspaceFolder},type=bind",
        "containerEnv": {"HOME_DIR": "\${localEnv:HOME}", "MISSING": "\${localEnv:NOPE}",
          "DEFAULTED": "\${localEnv:NOPE:fallback}", "BASE": "\${containerWorkspaceFolderBasename}",
          "LATER": "\${containerEnv:PATH}"}}`,
      { HOME: '/home/dev' },
    );
    expect(config.workspaceFolder).toBe('/src/app');
    expect(config.workspaceMount).toBe('source=/home/dev/app,target=/src/app,type=bind');
    expect(config.containerEnv).toEqual({
      HOME_DIR: '/home/dev',
      MISSING: '',
      DEFAULTED: 'fallback',
      BASE: 'app',
      LATER: '${containerEnv:PATH}',
    });
  });
});
