import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/common/errors.js';
import { parseDevContainerConfig } from '../../../src/config/parse-config.js';

const CONFIG_FILE = '/home/dev/app/.devcontainer/devcontainer.json';

function errorOf(text: string): UsageError {
  try {
    parseDevContainerConfig(text, CONFIG_FILE, '/home/dev/app');
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    const usage = error as UsageError;
    expect(usage.code).toBe('CONFIG_INVALID');
    expect(usage.description).toContain(CONFIG_FILE);
    return usage;
  }
  throw new Error(`expected ${text} to be rejected`);
}

function withImage(properties: string): string {
  return `{"image": "alpine", ${properties}}`;
}

describe('parseDevContainerConfig: malformed forwardPorts', () => {
  const EXPECTED = 'expected a number 1-65535 or "service:port"';
  it.each([
    ['70000', '70000'],
    ['-1', '-1'],
    ['0', '0'],
    ['3000.5', '3000.5'],
    ['"abc"', '"abc"'],
    ['"db:"', '"db:"'],
    ['":5432"', '":5432"'],
    ['"db:70000"', '"db:70000"'],
    ['{"a":1}', '{"a":1}'],
    ['true', 'true'],
    ['null', 'null'],
  ])('rejects %s', (item, shown) => {
    const error = errorOf(withImage(`"forwardPorts": [3000, ${item}]`));
    expect(error.message).toBe(`forwardPorts[1]: ${shown} is not a port; ${EXPECTED}`);
  });

  it('rejects a forwardPorts that is not an array', () => {
    expect(errorOf(withImage('"forwardPorts": 3000')).message).toBe(
      `forwardPorts: 3000 is not an array; expected an array of a number 1-65535 or "service:port"`,
    );
  });
});

describe('parseDevContainerConfig: malformed portsAttributes', () => {
  it('rejects a regex key that does not compile', () => {
    const error = errorOf(withImage('"portsAttributes": {"(": {"label": "x"}}'));
    expect(error.message).toMatch(
      /^portsAttributes\["\("\]: "\(" is not a valid regular expression \(.+\); expected/,
    );
  });

  it('rejects a range whose start is above its end', () => {
    expect(errorOf(withImage('"portsAttributes": {"5-3": {}}')).message).toBe(
      'portsAttributes["5-3"]: "5-3" is not a port range; expected "from-to" with 1 <= from <= to <= 65535',
    );
  });

  it('rejects a range past 65535 and a port key out of range', () => {
    expect(errorOf(withImage('"portsAttributes": {"1-70000": {}}')).message).toContain('is not a port range');
    expect(errorOf(withImage('"portsAttributes": {"70000": {}}')).message).toMatch(
      /^portsAttributes\["70000"\]: "70000" is not a port; expected a port 1-65535/,
    );
  });

  it('rejects a label that is not a string', () => {
    expect(errorOf(withImage('"portsAttributes": {"3000": {"label": 5}}')).message).toBe(
      'portsAttributes["3000"].label: 5 is not a string; expected a string',
    );
  });

  it('rejects an unknown onAutoForward action', () => {
    expect(errorOf(withImage('"otherPortsAttributes": {"onAutoForward": "sometimes"}')).message).toBe(
      'otherPortsAttributes.onAutoForward: "sometimes" is not an onAutoForward action; expected one of ' +
        '"notify", "silent", "ignore", "openBrowser", "openBrowserOnce", "openPreview"',
    );
  });

  it('rejects a bad protocol, a non-boolean flag and a non-object entry', () => {
    expect(errorOf(withImage('"portsAttributes": {"80": {"protocol": "tcp"}}')).message).toBe(
      'portsAttributes["80"].protocol: "tcp" is not a protocol; expected "http" or "https"',
    );
    expect(errorOf(withImage('"portsAttributes": {"80": {"requireLocalPort": "yes"}}')).message).toBe(
      'portsAttributes["80"].requireLocalPort: "yes" is not a boolean; expected true or false',
    );
    expect(errorOf(withImage('"portsAttributes": {"80": "web"}')).message).toMatch(
      /^portsAttributes\["80"\]: "web" is not an object; expected/,
    );
    expect(errorOf(withImage('"portsAttributes": [1]')).message).toMatch(
      /^portsAttributes: \[1\] is not an object/,
    );
  });
});

describe('parseDevContainerConfig: malformed documents', () => {
  it('names line and column of a JSON syntax error', () => {
    const error = errorOf('{\n  "image": "alpine"\n  "name": "x"\n}');
    expect(error.message).toMatch(
      /^\/home\/dev\/app\/\.devcontainer\/devcontainer\.json:3:3: syntax error \(CommaExpected\)/,
    );
    expect(error.description).toContain('line 3, column 3');
  });

  it('rejects empty text', () => {
    expect(errorOf('').message).toMatch(/devcontainer\.json:1:1: syntax error/);
  });

  it('rejects a top-level array', () => {
    expect(errorOf('[{"image": "alpine"}]').message).toBe(
      'devcontainer.json: [{"image":"alpine"}] is not an object; expected a JSON object of devcontainer.json properties',
    );
  });

  it('rejects a config with neither image nor build nor dockerComposeFile', () => {
    const error = errorOf('{"name": "x", "forwardPorts": [3000]}');
    expect(error.message).toBe(
      'devcontainer.json has no "image", "build.dockerfile" or "dockerComposeFile"; expected one of them',
    );
    expect(error.description).toContain('Add "image"');
  });

  it('rejects a Compose config without a service', () => {
    expect(errorOf('{"dockerComposeFile": "c.yml"}').message).toBe(
      'service is missing; expected the name of the Compose service to work in',
    );
  });
});

describe('parseDevContainerConfig: wrong types', () => {
  it.each([
    ['"image": 5', 'image: 5 is not a string; expected an image name'],
    ['"name": ["x"]', 'name: ["x"] is not a string; expected a string'],
    ['"runArgs": "--init"', 'runArgs: "--init" is not an array; expected an array of strings'],
    ['"runArgs": ["--init", 1]', 'runArgs[1]: 1 is not a string; expected a string'],
    ['"containerEnv": {"A": 1}', 'containerEnv.A: 1 is not a string; expected a string'],
    ['"containerEnv": {"MY VAR": true}', 'containerEnv["MY VAR"]: true is not a string; expected a string'],
    ['"overrideCommand": "yes"', 'overrideCommand: "yes" is not a boolean; expected true or false'],
    ['"workspaceFolder": "src"', 'workspaceFolder: "src" is not an absolute path; expected an absolute path'],
    ['"appPort": [0]', 'appPort[0]: 0 is not a port; expected a number 1-65535 or a "host:container" string'],
    ['"mounts": [5]', 'mounts[0]: 5 is not a mount; expected a --mount string'],
    ['"mounts": [{"type": "tmpfs", "target": "/t"}]', 'mounts[0].type: "tmpfs" is not a mount type'],
    ['"build": {"dockerfile": 1}', 'build.dockerfile: 1 is not a string; expected a Dockerfile path'],
    ['"build": "Dockerfile"', 'build: "Dockerfile" is not an object; expected an object'],
    ['"build": {"dockerfile": "D", "args": {"A": 1}}', 'build.args.A: 1 is not a string; expected a string'],
    [
      '"postCreateCommand": 5',
      'postCreateCommand: 5 is not a command; expected a string, an array of strings',
    ],
    ['"postCreateCommand": ["npm", 5]', 'postCreateCommand[1]: 5 is not a string; expected a string'],
    [
      '"postStartCommand": {"a": {"b": "c"}}',
      'postStartCommand.a: {"b":"c"} is not a command; expected a string or',
    ],
    ['"dockerComposeFile": [], "service": "s"', 'dockerComposeFile: [] is not a file list'],
    ['"dockerComposeFile": "c.yml", "service": ""', 'service: "" is empty; expected a Compose service name'],
  ])('%s', (properties, message) => {
    expect(errorOf(withImage(properties)).message).toContain(message);
  });

  it('escapes control characters and truncates long values', () => {
    const message = errorOf(withImage(`"name": ["a\\u0001b\\u0085${'x'.repeat(100)}"]`)).message;
    expect(message).toContain('["a\\u0001b\\u0085xx');
    expect(message).toMatch(/x…/);
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
