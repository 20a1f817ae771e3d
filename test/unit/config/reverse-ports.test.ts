import { describe, expect, it } from 'vitest';
import {
  parseReversePort,
  parseReversePorts,
  parseReversePortsSetting,
  reversePortText,
} from '../../../src/config/reverse-ports.js';

describe('parseReversePort', () => {
  it('takes a number as the same port on both sides', () => {
    expect(parseReversePort(5432, 'r[0]')).toEqual({ hostPort: 5432, containerPort: 5432 });
  });

  it('takes "PORT" and "PORT:CONTAINER_PORT" strings', () => {
    expect(parseReversePort('8080', 'r[0]')).toEqual({ hostPort: 8080, containerPort: 8080 });
    expect(parseReversePort('8080:80', 'r[0]')).toEqual({ hostPort: 8080, containerPort: 80 });
  });

  it.each([0, 65536, 1.5, -1, '', 'abc', '80:', ':80', '80:0', '80:70000', 'db:80', true, null, {}])(
    'refuses %j naming the value, what was expected and the fix',
    (value) => {
      expect(() => parseReversePort(value, 'customizations.portpilot.reversePorts[1]')).toThrow(
        /customizations\.portpilot\.reversePorts\[1\]: .* expected a port \(1-65535\) or "PORT:CONTAINER_PORT"/,
      );
      try {
        parseReversePort(value, 'x');
      } catch (error) {
        expect((error as { code?: string }).code).toBe('CONFIG_INVALID');
        expect((error as { description?: string }).description).toMatch(/^Set x to /);
      }
    },
  );
});

describe('parseReversePorts', () => {
  it('is none when absent', () => {
    expect(parseReversePorts(undefined, 'r')).toEqual([]);
    expect(parseReversePorts(null, 'r')).toEqual([]);
  });

  it('refuses a value that is not an array', () => {
    expect(() => parseReversePorts(5432, 'r')).toThrow(/r: 5432 is not an array/);
  });

  it('keeps each container port once and refuses two host ports at one container port', () => {
    expect(parseReversePorts([5432, '5432', '6000:7000'], 'r')).toEqual([
      { hostPort: 5432, containerPort: 5432 },
      { hostPort: 6000, containerPort: 7000 },
    ]);
    expect(() => parseReversePorts(['1000:80', '2000:80'], 'r')).toThrow(/both listen at container port 80/);
  });

  it('writes a port back as the user would', () => {
    expect(reversePortText({ hostPort: 1, containerPort: 1 })).toBe('1');
    expect(reversePortText({ hostPort: 1, containerPort: 2 })).toBe('1:2');
  });
});

describe('parseReversePortsSetting', () => {
  it('reads customizations.portpilot.reversePorts of devcontainer.json and of a merged configuration', () => {
    const own = { customizations: { portpilot: { reversePorts: [5432, '8080:80'] } } };
    expect(parseReversePortsSetting(own, 'devcontainer.json')).toEqual([
      { hostPort: 5432, containerPort: 5432 },
      { hostPort: 8080, containerPort: 80 },
    ]);
    const merged = { customizations: { portpilot: [{ reversePorts: [5432] }, { reversePorts: ['6000'] }] } };
    expect(parseReversePortsSetting(merged, 'm').map((p) => p.hostPort)).toEqual([5432, 6000]);
    expect(parseReversePortsSetting({}, 'm')).toEqual([]);
    expect(parseReversePortsSetting(undefined, 'm')).toEqual([]);
  });

  it('names the file a bad value came from', () => {
    const bad = { customizations: { portpilot: { reversePorts: ['x'] } } };
    expect(() => parseReversePortsSetting(bad, 'devcontainer.json')).toThrow(
      /customizations\.portpilot\.reversePorts\[0\]: "x" is not a reverse port/,
    );
    try {
      parseReversePortsSetting(bad, 'devcontainer.json');
    } catch (error) {
      expect((error as { description?: string }).description).toMatch(/^In devcontainer\.json: /);
    }
  });
});
