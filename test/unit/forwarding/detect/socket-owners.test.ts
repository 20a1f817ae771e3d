import { describe, expect, it } from 'vitest';
import {
  commandLineOf,
  MAX_COMMAND_LINE_CHARS,
  parseCgroupDirs,
  parseOwnersProbe,
  socketInodeOfLink,
} from '../../../../src/forwarding/detect/socket-owners.js';

const NONCE = '0123456789abcdef';

/** The probe's output for these owners, as the in-container script prints it. */
function probeOutput(records: ReadonlyArray<readonly [number | string, string]>, nonce = NONCE): string {
  const body = records.map(([inode, raw]) => `\n${nonce} ${inode}\n${raw}`).join('');
  return `PORTPILOT-SOCKET-OWNERS ${nonce}\n${body}\n${nonce} end\n`;
}

describe('socketInodeOfLink', () => {
  it('reads the inode of a socket link', () => {
    expect(socketInodeOfLink('socket:[12345]')).toBe(12345);
    expect(socketInodeOfLink('socket:[0]')).toBe(0);
  });

  it('rejects every other link target', () => {
    for (const target of [
      '/dev/null',
      'pipe:[12345]',
      'anon_inode:[eventpoll]',
      'socket:[]',
      'socket:[12a]',
      'socket:[-1]',
      ' socket:[1]',
      'socket:[1] ',
      'socket:[1]\n',
      '/tmp/socket:[1]',
      '',
    ]) {
      expect(socketInodeOfLink(target), target).toBeNull();
    }
  });

  it('rejects an inode beyond the safe integers', () => {
    expect(socketInodeOfLink('socket:[99999999999999999999]')).toBeNull();
    expect(socketInodeOfLink(`socket:[${Number.MAX_SAFE_INTEGER}]`)).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('commandLineOf', () => {
  it('joins the arguments with spaces and drops the trailing NUL', () => {
    expect(commandLineOf('python3\0-m\0http.server\0--bind\x00127.0.0.1\x008000\0')).toBe(
      'python3 -m http.server --bind 127.0.0.1 8000',
    );
  });

  it('keeps a command line without a trailing NUL (a rewritten process title)', () => {
    expect(commandLineOf('nginx: master process nginx -g daemon off;')).toBe(
      'nginx: master process nginx -g daemon off;',
    );
  });

  it('drops a run of trailing NULs but keeps empty arguments inside', () => {
    expect(commandLineOf('postgres: checkpointer\0\0\0\0\0\0')).toBe('postgres: checkpointer');
    expect(commandLineOf('echo\0\0x\0')).toBe('echo  x');
  });

  it('passes other characters through unchanged: display code sanitises them', () => {
    expect(commandLineOf('sh\0-c\0printf "a\tb\\n"\nexit\0')).toBe('sh -c printf "a\tb\\n"\nexit');
    expect(commandLineOf('/usr/bin/python3\0/srv/é ü.py\0')).toBe('/usr/bin/python3 /srv/é ü.py');
  });

  it('is empty for an empty cmdline (a kernel thread or a zombie)', () => {
    expect(commandLineOf('')).toBe('');
    expect(commandLineOf('\0')).toBe('');
  });

  it('keeps a line of exactly the cap whole', () => {
    const raw = `${'a'.repeat(MAX_COMMAND_LINE_CHARS)}\0`;
    expect(commandLineOf(raw)).toBe('a'.repeat(MAX_COMMAND_LINE_CHARS));
  });

  it('cuts a longer line to the cap, ending in an ellipsis', () => {
    const classpath = Array.from({ length: 5000 }, (_, i) => `/opt/lib/dep-${i}.jar`).join(':');
    const line = commandLineOf(`java\0-cp\0${classpath}\0com.example.Main\0`);
    expect(line).toHaveLength(MAX_COMMAND_LINE_CHARS);
    expect(line.startsWith('java -cp /opt/lib/dep-0.jar:')).toBe(true);
    expect(line.endsWith('…')).toBe(true);
  });

  it('never cuts a surrogate pair in half', () => {
    const raw = `${'a'.repeat(MAX_COMMAND_LINE_CHARS - 2)}😀${'b'.repeat(10)}`;
    const line = commandLineOf(raw);
    expect(line).toBe(`${'a'.repeat(MAX_COMMAND_LINE_CHARS - 2)}…`);
    expect(line.length).toBeLessThanOrEqual(MAX_COMMAND_LINE_CHARS);
  });
});

describe('parseOwnersProbe', () => {
  it('maps each inode to its command line', () => {
    const output = probeOutput([
      [59735, 'python3\0-m\0http.server\0--bind\x00127.0.0.1\x008765\0'],
      [60625, 'httpd\0-f\0-p\x00127.0.0.1:8766\0'],
    ]);
    expect(parseOwnersProbe(output)).toEqual(
      new Map([
        [59735, 'python3 -m http.server --bind 127.0.0.1 8765'],
        [60625, 'httpd -f -p 127.0.0.1:8766'],
      ]),
    );
  });

  it('keeps newlines and tabs inside arguments exactly', () => {
    const output = probeOutput([[7, 'python3\0-c\0import os\nprint(1)\t# x\n\0']]);
    expect(parseOwnersProbe(output).get(7)).toBe('python3 -c import os\nprint(1)\t# x\n');
  });

  it('is not fooled by an argument that looks like a record of another run', () => {
    const fake = `\n${'f'.repeat(16)} 99\nevil\0`;
    const output = probeOutput([[7, `sleep\0${fake}\0`]]);
    expect(parseOwnersProbe(output)).toEqual(new Map([[7, `sleep \n${'f'.repeat(16)} 99\nevil`]]));
  });

  it('is empty without the header: no sh in the image, or the container is gone', () => {
    expect(parseOwnersProbe('')).toEqual(new Map());
    expect(
      parseOwnersProbe(
        'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH',
      ),
    ).toEqual(new Map());
    expect(parseOwnersProbe(`${NONCE} 7\nsleep\0`)).toEqual(new Map());
  });

  it('is empty when no owner was found', () => {
    expect(parseOwnersProbe(probeOutput([]))).toEqual(new Map());
  });

  it('keeps the records before a cut-off end (the probe timed out)', () => {
    const output = `PORTPILOT-SOCKET-OWNERS ${NONCE}\n\n${NONCE} 1\na\0\n${NONCE} 2\nb\0c`;
    expect(parseOwnersProbe(output)).toEqual(
      new Map([
        [1, 'a'],
        [2, 'b c'],
      ]),
    );
  });

  it('skips malformed labels, empty command lines and repeats, and stops at end', () => {
    const output = [
      `PORTPILOT-SOCKET-OWNERS ${NONCE}\n`,
      `\n${NONCE} x1\nbad\0`,
      `\n${NONCE} 99999999999999999999\nhuge\0`,
      `\n${NONCE} 3\n`,
      `\n${NONCE} 4\nfirst\0`,
      `\n${NONCE} 4\nsecond\0`,
      `\n${NONCE} end\n`,
      `\n${NONCE} 5\nafter-end\0`,
    ].join('');
    expect(parseOwnersProbe(output)).toEqual(new Map([[4, 'first']]));
  });

  it('finds the header after stray output before it', () => {
    const output = `warning: something\n${probeOutput([[8, 'redis-server *:6379\0']])}`;
    expect(parseOwnersProbe(output)).toEqual(new Map([[8, 'redis-server *:6379']]));
  });
});

describe('parseCgroupDirs', () => {
  const ID = 'e665986d9470ba5684c2a59c19fa413dc2afa0f48284f70ff093035e8a2cf509';

  it('maps a cgroup v2 line to the unified hierarchy', () => {
    expect(parseCgroupDirs(`0::/system.slice/docker-${ID}.scope\n`)).toEqual([
      `/sys/fs/cgroup/system.slice/docker-${ID}.scope`,
      `/sys/fs/cgroup/unified/system.slice/docker-${ID}.scope`,
    ]);
  });

  it('lists a hybrid host v2 first, then each v1 hierarchy by its mount name', () => {
    const text = [
      `12:cpu,cpuacct:/docker/${ID}`,
      `9:name=systemd:/docker/${ID}`,
      `8:pids:/docker/${ID}`,
      `0::/docker/${ID}`,
      '',
    ].join('\n');
    expect(parseCgroupDirs(text)).toEqual([
      `/sys/fs/cgroup/docker/${ID}`,
      `/sys/fs/cgroup/unified/docker/${ID}`,
      `/sys/fs/cgroup/cpu,cpuacct/docker/${ID}`,
      `/sys/fs/cgroup/systemd/docker/${ID}`,
      `/sys/fs/cgroup/pids/docker/${ID}`,
    ]);
  });

  it('maps the root cgroup to the hierarchy root', () => {
    expect(parseCgroupDirs('0::/\n')).toEqual(['/sys/fs/cgroup', '/sys/fs/cgroup/unified']);
  });

  it('skips cgroups outside this cgroup namespace and malformed lines', () => {
    expect(parseCgroupDirs('0::/../../docker/abc\n8:pids:relative\ngarbage\n')).toEqual([]);
  });
});
