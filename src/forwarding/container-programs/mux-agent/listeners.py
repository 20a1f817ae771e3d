# The mux agent, part 2 of 5: listeners reported as changes. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `python3 -c`.
# Reported as changes (WATCH_CHANGES): the serving sockets of every table by key (table, local
# address, inode) and their owners. The tables cost the kernel ~1.6 ms each to print whatever they
# hold (it walks every bucket), sockstat's per-namespace counters some microseconds: the tables are
# read when a counter moved, and at least every FULL_READ_S for a listen() a close() masked.
CHANGES, FULL, CHANGED = '@@MUX_WATCH_LISTENER_CHANGES@@', '@@MUX_LISTENERS_FULL@@', '@@MUX_LISTENERS_CHANGED@@'
FULL_READ_S, REPORT_BYTES = '@@MUX_LISTENER_FULL_READ_MS@@' / 1000, '@@MUX_REPORT_FRAME_BYTES@@'
CMDLINE_BYTES, REPORT_HEADER = '@@MUX_CMDLINE_READ_MAX_BYTES@@', struct.Struct('>IBI')
SERVING = ((b'tcp', '/proc/net/tcp'), (b'tcp6', '/proc/net/tcp6'), (b'udp', '/proc/net/udp'), (b'udp6', '/proc/net/udp6'))
changes_watch = {'on': False, 'next': 0.0, 'read_at': 0.0, 'counts': None, 'seq': 0, 'sockets': {},
                 'owners': {}, 'range': b'32768 60999'}

def watch_changes():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range', 'rb') as f:
            low, high = [int(word) for word in f.read().split()]
        changes_watch['range'] = b'%d %d' % (low, high)
    except (OSError, ValueError):
        pass
    changes_watch['on'] = True
    report_changes(True)

def inuse_counts():
    counts = []
    for path in ('/proc/net/sockstat', '/proc/net/sockstat6'):
        try:
            with open(path, 'rb') as f:
                counts += [line.split()[2] for line in f.read().split(b'\n') if line[:4] in (b'TCP:', b'UDP:', b'TCP6', b'UDP6')]
        except (OSError, IndexError):
            pass
    return counts

def serving_sockets():
    # TCP sockets in LISTEN; UDP ones unconnected (no remote address) off the ephemeral range, which a
    # client's unbound socket gets its port from: a resolver's sends are no change.
    low, high = [int(word) for word in changes_watch['range'].split()]
    found = {}
    for tag, path in SERVING:
        try:
            with open(path, 'rb') as table:
                lines = table.read().split(b'\n')[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            if tag.startswith(b'tcp'):
                if f[3] != b'0A':
                    continue
            elif f[3] != b'07' or f[2].strip(b'0:') or low <= int(f[1].split(b':')[-1], 16) <= high:
                continue
            found[tag + b' ' + f[1] + b' ' + f[9]] = line.strip()
    return found

def find_owners(inodes):
    # Lowest pid first, as on the host: a socket shared after fork() is credited to its parent.
    owners, wanted = {}, set(inodes)
    try:
        pids = sorted(int(name) for name in os.listdir(b'/proc') if name.isdigit())
    except OSError:
        return owners
    for pid in pids:
        if not wanted:
            break
        base = b'/proc/%d/fd/' % pid
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        hits = []
        for fd in fds:
            try:
                link = os.readlink(base + fd)
            except OSError:
                continue
            if link[:8] == b'socket:[' and link[8:-1] in wanted:
                hits.append(link[8:-1])
        if not hits:
            continue
        try:
            with open(b'/proc/%d/cmdline' % pid, 'rb') as f:
                cmdline = f.read(CMDLINE_BYTES)
        except OSError:
            cmdline = b''
        for inode in hits:
            wanted.discard(inode)
            owners[inode] = b'%d %s' % (pid, cmdline.hex().encode())
    return owners

def report_changes(full=False):
    w = changes_watch
    now = time.monotonic()
    w['next'] = now + TICK_S
    counts = inuse_counts()
    if not full and counts == w['counts'] and now - w['read_at'] < FULL_READ_S:
        return
    w['counts'], w['read_at'] = counts, now
    sockets, old = serving_sockets(), w['sockets']
    if not full and sockets.keys() == old.keys():
        return
    added = [key for key in sockets if full or key not in old]
    inodes = {key.split()[2] for key in sockets}
    fresh = {key.split()[2] for key in added} - set(w['owners'])
    owners = {inode: owner for inode, owner in w['owners'].items() if inode in inodes}
    owners.update(find_owners(fresh) if fresh else {})
    w['sockets'], w['owners'] = sockets, owners
    records = [b'r ' + w['range']] if full else [b'- ' + key for key in old if key not in sockets]
    for key in added:
        inode = key.split()[2]
        records.append(b'+ ' + key.split()[0] + b' ' + sockets[key])
        if inode in owners and (full or inode in fresh):
            records.append(b'o ' + inode + b' ' + owners[inode])
    send_report(FULL if full else CHANGED, records, len(sockets))

def send_report(kind, records, count):
    # Each frame: sequence number, whether more of this report follows, the sockets in all after it.
    chunks, size = [[]], 0
    for record in records:
        if size + len(record) > REPORT_BYTES and chunks[-1]:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += len(record) + 1
    for index, chunk in enumerate(chunks):
        changes_watch['seq'] = (changes_watch['seq'] + 1) & 0xffffffff
        more = 1 if index < len(chunks) - 1 else 0
        header = REPORT_HEADER.pack(changes_watch['seq'], more, count)
        frame(kind if index == 0 else CHANGED, 0, header + b'\n'.join(chunk))
