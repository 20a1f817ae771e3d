# portpilot mux agent (perl): see relay/mux/mux-codec.ts for the protocol.
# Each @@NAME@@ in single quotes is replaced, quotes and all, by mux-agent-argv.ts's constant NAME.
# perl-base has no threads: one select() loop, as mux-agent.py. stdin brings frames, stdout takes
# them, every stream is a non-blocking socket, read only while its stream has credit and stdout is
# not backed up.
use strict;
use POSIX ();
# Loaded now: %! would load it at its first use, which out of descriptors cannot open it, and hangs.
use Errno ();
# perl-base lacks Time::HiRes: without it the listener tick runs on whole seconds.
BEGIN { eval { require Time::HiRes; Time::HiRes->import('time'); 1 } }
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Socket qw(AF_INET AF_INET6 SOCK_STREAM SOL_SOCKET SO_ERROR SO_LINGER IPPROTO_IP IPPROTO_TCP
  TCP_NODELAY SHUT_WR inet_pton pack_sockaddr_in pack_sockaddr_in6 SO_REUSEADDR SOMAXCONN);
my ($magic, $max_payload, $window, $data_bytes) = ('@@MUX_MAGIC@@', '@@MUX_MAX_PAYLOAD_BYTES@@', '@@MUX_INITIAL_WINDOW_BYTES@@', '@@MUX_DATA_FRAME_BYTES@@');
my ($out_high, $connect_timeout_s) = ('@@MUX_OUTPUT_HIGH_BYTES@@', '@@MUX_CONNECT_TIMEOUT_S@@');
my ($OPEN, $OPEN_OK, $OPEN_FAIL, $DATA) = ('@@MUX_OPEN@@', '@@MUX_OPEN_OK@@', '@@MUX_OPEN_FAIL@@', '@@MUX_DATA@@');
my ($GRANT, $EOF, $CLOSE, $RESET, $PING, $PONG) = ('@@MUX_WINDOW@@', '@@MUX_EOF@@', '@@MUX_CLOSE@@', '@@MUX_RESET@@', '@@MUX_PING@@', '@@MUX_PONG@@');
my $tick_s = '@@MUX_LISTENER_TICK_MS@@' / 1000;
$SIG{PIPE} = 'IGNORE';
binmode STDIN;
binmode STDOUT;
for my $fh (\*STDIN, \*STDOUT) { fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK) }
# A stream: { id, fh, fd, connecting, deadline, in (bytes for its socket), sent (of in), open (the
# host may still send), taken (written, not granted yet), credit (we may still send), eof_in,
# eof_out, shut }.
my (%streams, %by_fd);
my ($out, $rx) = ($magic, '');

sub frame { my ($kind, $id, $payload) = (@_, ''); $out .= pack('CNN', $kind, $id, length $payload) . $payload }
sub forget {
  my ($s, $rst) = @_;
  delete $streams{$s->{id}};
  delete $by_fd{$s->{fd}};
  setsockopt($s->{fh}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if $rst;
  close $s->{fh};
}
sub abort { my ($s) = @_; forget($s, 1); frame($RESET, $s->{id}) }
sub reason { my ($code) = @_; local $! = $code; POSIX::strerror($code) . " (errno $code)" }
sub open_stream {
  my ($id, $payload) = @_;
  return frame($OPEN_FAIL, $id, 'malformed OPEN') if $streams{$id} || length $payload < 3;
  my ($port, $address) = (unpack('n', $payload), substr($payload, 2));
  my $family = index($address, ':') >= 0 ? AF_INET6 : AF_INET;
  my $raw = inet_pton($family, $address);
  return frame($OPEN_FAIL, $id, "not an IP address: $address") unless defined $raw;
  my $pack = sub { $family == AF_INET ? pack_sockaddr_in($_[0], $raw) : pack_sockaddr_in6($_[0], $raw) };
  my $fh;
  return frame($OPEN_FAIL, $id, reason($! + 0)) unless socket($fh, $family, SOCK_STREAM, 0);
  setsockopt($fh, IPPROTO_IP, 24, 1);
  # Binding first fails for any address not the container's own: never a proxy to elsewhere.
  unless (bind($fh, $pack->(0))) { my $code = $! + 0; close $fh; return frame($OPEN_FAIL, $id, reason($code)) }
  fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
  setsockopt($fh, IPPROTO_TCP, TCP_NODELAY, 1);
  unless (connect($fh, $pack->($port)) || $!{EINPROGRESS}) {
    my $code = $! + 0;
    close $fh;
    return frame($OPEN_FAIL, $id, reason($code));
  }
  my $s = { id => $id, fh => $fh, fd => fileno($fh), connecting => 1, deadline => time + $connect_timeout_s,
    in => '', sent => 0, open => $window, taken => 0, credit => $window };
  $streams{$id} = $by_fd{$s->{fd}} = $s;
}
sub connected {
  my ($s) = @_;
  my $code = unpack('i', getsockopt($s->{fh}, SOL_SOCKET, SO_ERROR));
  if ($code) { forget($s); return frame($OPEN_FAIL, $s->{id}, reason($code)) }
  delete @$s{qw(connecting deadline)};
  frame($OPEN_OK, $s->{id});
}
sub finish {
  my ($s) = @_;
  return 0 unless $s->{shut} && $s->{eof_out};
  forget($s);
  frame($CLOSE, $s->{id});
  1;
}
sub push_in {
  my ($s) = @_;
  if (length $s->{in}) {
    my $put = syswrite($s->{fh}, $s->{in}, length($s->{in}) - $s->{sent}, $s->{sent});
    unless (defined $put) { return abort($s) unless $!{EAGAIN}; $put = 0 }
    # An offset, not a chop from the front: the buffer is not moved for every partial write.
    @$s{qw(in sent)} = ('', 0) if ($s->{sent} += $put) == length $s->{in};
    $s->{taken} += $put;
    if ($s->{taken} >= $window / 2) {
      frame($GRANT, $s->{id}, pack('N', $s->{taken}));
      $s->{open} += $s->{taken};
      $s->{taken} = 0;
    }
  }
  if ($s->{eof_in} && !length $s->{in} && !$s->{shut}) { shutdown($s->{fh}, SHUT_WR); $s->{shut} = 1 }
  finish($s);
}
sub pull {
  my ($s) = @_;
  for (1 .. 16) {
    my $n = $s->{credit} < $data_bytes ? $s->{credit} : $data_bytes;
    return if $n <= 0 || length $out >= $out_high;
    my $got = sysread($s->{fh}, my $data, $n);
    unless (defined $got) { return if $!{EAGAIN}; return abort($s) }
    if ($got == 0) { $s->{eof_out} = 1; frame($EOF, $s->{id}); finish($s); return }
    $s->{credit} -= $got;
    frame($DATA, $s->{id}, $data);
  }
}
# Reported as changes (WATCH_CHANGES): the serving sockets of every table by key (table, local
# address, inode) and their owners; the tables are read when sockstat's counters moved, and at
# least every $full_read_s (see mux-agent.py).
my ($CHANGES, $FULL, $CHANGED) = ('@@MUX_WATCH_LISTENER_CHANGES@@', '@@MUX_LISTENERS_FULL@@', '@@MUX_LISTENERS_CHANGED@@');
my ($full_read_s, $report_bytes, $cmdline_bytes) = ('@@MUX_LISTENER_FULL_READ_MS@@' / 1000, '@@MUX_REPORT_FRAME_BYTES@@', '@@MUX_CMDLINE_READ_MAX_BYTES@@');
my %changes = (on => 0, next => 0, read_at => 0, counts => undef, seq => 0, sockets => {}, owners => {}, range => '32768 60999');

sub watch_changes {
  if (open(my $f, '<', '/proc/sys/net/ipv4/ip_local_port_range')) {
    my @range = split ' ', scalar(<$f> // '');
    $changes{range} = "$range[0] $range[1]" if @range == 2;
    close $f;
  }
  $changes{on} = 1;
  report_changes(1);
}
sub inuse_counts {
  my $counts = '';
  for my $path ('/proc/net/sockstat', '/proc/net/sockstat6') {
    open(my $f, '<', $path) or next;
    $counts .= join(',', map { (split ' ')[2] } grep { /^(?:TCP|UDP)6?:/ } <$f>) . ';';
    close $f;
  }
  $counts;
}
sub serving_sockets {
  # TCP sockets in LISTEN; UDP ones unconnected, off the ephemeral range (see mux-agent.py).
  my ($low, $high) = split ' ', $changes{range};
  my %found;
  for my $tag ('tcp', 'tcp6', 'udp', 'udp6') {
    open(my $table, '<', "/proc/net/$tag") or next;
    my (undef, @lines) = <$table>;
    close $table;
    for my $line (@lines) {
      my @f = split ' ', $line;
      next if @f < 10;
      if ($tag =~ /^tcp/) { next if $f[3] ne '0A' }
      else {
        my $port = hex((split /:/, $f[1])[-1]);
        next if $f[3] ne '07' || $f[2] =~ /[^0:]/ || ($port >= $low && $port <= $high);
      }
      $line =~ s/^\s+|\s+$//g;
      $found{"$tag $f[1] $f[9]"} = $line;
    }
  }
  \%found;
}
sub find_owners {
  # Lowest pid first, as on the host: a socket shared after fork() is credited to its parent.
  my %wanted = map { $_ => 1 } @_;
  my %owners;
  opendir(my $proc, '/proc') or return \%owners;
  my @pids = sort { $a <=> $b } grep { /^\d+$/ } readdir $proc;
  closedir $proc;
  for my $pid (@pids) {
    last unless %wanted;
    opendir(my $fds, "/proc/$pid/fd") or next;
    my @hits = grep { defined && delete $wanted{$_} }
      map { my $link = readlink("/proc/$pid/fd/$_"); defined $link && $link =~ /^socket:\[(\d+)\]$/ ? $1 : undef } readdir $fds;
    closedir $fds;
    next unless @hits;
    my $cmdline = '';
    if (open(my $f, '<', "/proc/$pid/cmdline")) { binmode $f; read($f, $cmdline, $cmdline_bytes); close $f }
    $owners{$_} = "$pid " . unpack('H*', $cmdline) for @hits;
  }
  \%owners;
}
sub report_changes {
  my ($full) = @_;
  my $now = time;
  $changes{next} = $now + $tick_s;
  my $counts = inuse_counts();
  return if !$full && defined $changes{counts} && $counts eq $changes{counts} && $now - $changes{read_at} < $full_read_s;
  @changes{qw(counts read_at)} = ($counts, $now);
  my ($sockets, $old) = (serving_sockets(), $changes{sockets});
  return if !$full && join("\n", sort keys %$sockets) eq join("\n", sort keys %$old);
  my @added = grep { $full || !exists $old->{$_} } sort keys %$sockets;
  my %inodes = map { (split ' ')[2] => 1 } keys %$sockets;
  my @fresh = grep { !exists $changes{owners}{$_} } map { (split ' ')[2] } @added;
  my %owners = map { $_ => $changes{owners}{$_} } grep { $inodes{$_} } keys %{ $changes{owners} };
  my $found = @fresh ? find_owners(@fresh) : {};
  %owners = (%owners, %$found);
  @changes{qw(sockets owners)} = ($sockets, \%owners);
  my @records = $full ? ("r $changes{range}") : map { "- $_" } grep { !exists $sockets->{$_} } sort keys %$old;
  for my $key (@added) {
    my ($tag, undef, $inode) = split ' ', $key;
    push @records, "+ $tag $sockets->{$key}";
    push @records, "o $inode $owners{$inode}" if exists $owners{$inode} && ($full || exists $found->{$inode});
  }
  send_report($full ? $FULL : $CHANGED, scalar(keys %$sockets), @records);
}
sub send_report {
  # Each frame: sequence number, whether more of this report follows, the sockets in all after it.
  my ($kind, $count, @records) = @_;
  my @chunks = ([]);
  my $size = 0;
  for my $record (@records) {
    if ($size + length $record > $report_bytes && @{ $chunks[-1] }) { push @chunks, []; $size = 0 }
    push @{ $chunks[-1] }, $record;
    $size += 1 + length $record;
  }
  for my $index (0 .. $#chunks) {
    $changes{seq} = ($changes{seq} + 1) % 4294967296;
    my $more = $index < $#chunks ? 1 : 0;
    frame($index == 0 ? $kind : $CHANGED, 0, pack('NCN', $changes{seq}, $more, $count) . join("\n", @{ $chunks[$index] }));
  }
}

# Reverse ports: listeners on this namespace's loopback that the host asked for (LISTEN). Each
# connection accepted there is a stream this agent opens (ACCEPT, ids from $agent_first up, apart
# from the host's), left unread until the host has connected it on its side (ACCEPT_OK: a stream like
# any other from then on) or could not (ACCEPT_FAIL: the connection is reset).
my ($LISTEN, $LISTEN_OK, $LISTEN_FAIL, $UNLISTEN) = ('@@MUX_LISTEN@@', '@@MUX_LISTEN_OK@@', '@@MUX_LISTEN_FAIL@@', '@@MUX_UNLISTEN@@');
my ($ACCEPT, $ACCEPT_OK, $ACCEPT_FAIL) = ('@@MUX_ACCEPT@@', '@@MUX_ACCEPT_OK@@', '@@MUX_ACCEPT_FAIL@@');
my %reverse_kinds = map { $_ => 1 } ($LISTEN, $LISTEN_OK, $LISTEN_FAIL, $UNLISTEN, $ACCEPT, $ACCEPT_OK, $ACCEPT_FAIL);
my $agent_first = '@@MUX_AGENT_STREAM_FIRST@@';
# A listener: { id, fh, fd }; an accepted connection waiting for the host: its handle by stream id.
my (%listeners, %accepted);
my $reverse_next = $agent_first;
# A descriptor kept spare: out of descriptors, a listener's next connection is accepted on it and
# reset at once, not left pending (its listener would wake the loop without end meanwhile).
my $spare;
undef $spare unless open($spare, '<', '/dev/null');
# "EADDRINUSE (Address already in use)", as the python agent says it: the host reads the name. "$!",
# not POSIX::strerror, which out of descriptors cannot load its code, and hangs.
sub errno_reason {
  my ($code) = @_;
  local $! = $code;
  my ($name) = grep { $!{$_} } keys %!;
  ($name // 'E?') . " ($!)";
}
sub reverse_listen {
  my ($lid, $payload) = @_;
  return frame($LISTEN_FAIL, $lid, 'malformed LISTEN') if $listeners{$lid} || length $payload < 3;
  my ($port, $address) = (unpack('n', $payload), substr($payload, 2));
  # The container's loopback only: a reverse port is never offered to the container's network.
  return frame($LISTEN_FAIL, $lid, 'EINVAL (not a loopback address)') unless $address eq '127.0.0.1' || $address eq '::1';
  my $family = $address eq '::1' ? AF_INET6 : AF_INET;
  my $raw = inet_pton($family, $address);
  my $fh;
  return frame($LISTEN_FAIL, $lid, errno_reason($! + 0)) unless socket($fh, $family, SOCK_STREAM, 0);
  setsockopt($fh, SOL_SOCKET, SO_REUSEADDR, 1);
  my $where = $family == AF_INET ? pack_sockaddr_in($port, $raw) : pack_sockaddr_in6($port, $raw);
  unless (bind($fh, $where) && listen($fh, SOMAXCONN)) {
    my $code = $! + 0;
    close $fh;
    return frame($LISTEN_FAIL, $lid, errno_reason($code));
  }
  fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
  $listeners{$lid} = { id => $lid, fh => $fh, fd => fileno($fh) };
  frame($LISTEN_OK, $lid);
}
sub reverse_accept {
  my ($listener) = @_;
  for (1 .. 16) {
    my $conn;
    unless (accept($conn, $listener->{fh})) {
      reverse_shed($listener) if ($!{EMFILE} || $!{ENFILE}) && $spare;
      return;
    }
    fcntl($conn, F_SETFL, fcntl($conn, F_GETFL, 0) | O_NONBLOCK);
    setsockopt($conn, IPPROTO_TCP, TCP_NODELAY, 1);
    my $sid = $reverse_next;
    $reverse_next = $sid < 0xFFFFFFFF ? $sid + 1 : $agent_first;
    $accepted{$sid} = $conn;
    frame($ACCEPT, $sid, pack('N', $listener->{id}));
  }
}
sub reverse_shed {
  my ($listener) = @_;
  close $spare;
  if (accept(my $conn, $listener->{fh})) { setsockopt($conn, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)); close $conn }
  undef $spare unless open($spare, '<', '/dev/null');
}
sub reverse_frame {
  my ($kind, $id, $payload) = @_;
  return reverse_listen($id, $payload) if $kind == $LISTEN;
  if ($kind == $UNLISTEN) {
    my $listener = delete $listeners{$id} or return;
    return close $listener->{fh};
  }
  return unless $kind == $ACCEPT_OK || $kind == $ACCEPT_FAIL;
  my $conn = delete $accepted{$id} or return;
  if ($kind == $ACCEPT_FAIL) { setsockopt($conn, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)); return close $conn }
  my $s = { id => $id, fh => $conn, fd => fileno($conn), in => '', sent => 0, open => $window, taken => 0,
    credit => $window };
  $streams{$id} = $by_fd{$s->{fd}} = $s;
}
sub handle {
  my ($kind, $id, $payload) = @_;
  return reverse_frame($kind, $id, $payload) if $reverse_kinds{$kind};
  return dgram_handle($kind, $id, $payload) if dgram_kind($kind);
  return frame($PONG, $id, substr($payload, 0, 64)) if $kind == $PING;
  return watch_changes() if $kind == $CHANGES;
  return open_stream($id, $payload) if $kind == $OPEN;
  my $s = $streams{$id} or return;
  if ($kind == $DATA) {
    return abort($s) if $s->{connecting} || length $payload > $s->{open};
    $s->{open} -= length $payload;
    $s->{in} .= $payload;
    push_in($s);
  } elsif ($kind == $GRANT && length $payload == 4) { $s->{credit} += unpack('N', $payload) }
  elsif ($kind == $EOF) { $s->{eof_in} = 1; push_in($s) }
  elsif ($kind == $RESET) { forget($s, 1) }
  elsif ($kind == $CLOSE) { forget($s) }
}
sub read_stdin {
  my $got = sysread(STDIN, $rx, 262144, length $rx);
  return if !defined $got && $!{EAGAIN};
  POSIX::_exit(0) unless $got;
  my $pos = 0;
  while (length($rx) - $pos >= 9) {
    my ($kind, $id, $length) = unpack('CNN', substr($rx, $pos, 9));
    if ($length > $max_payload) { print STDERR "mux agent: a $length-byte frame passes the limit\n"; POSIX::_exit(2) }
    last if $pos + 9 + $length > length $rx;
    handle($kind, $id, substr($rx, $pos + 9, $length));
    $pos += 9 + $length;
  }
  substr($rx, 0, $pos) = '';
}
sub flush {
  return unless length $out;
  my $put = syswrite(STDOUT, $out);
  unless (defined $put) { return if $!{EAGAIN}; POSIX::_exit(0) }
  substr($out, 0, $put) = '';
}

# Datagram sessions (DGRAM_* frames), as in mux-agent.py: one UDP socket per host-side client,
# bound to the container's own address and connected to its server; each datagram one frame both
# ways; one the socket cannot take now waits in a small queue, past which it is dropped and counted.
use Socket qw(SOCK_DGRAM SO_RCVBUF SO_SNDBUF);
my ($DGRAM_OPEN, $DGRAM_OPEN_FAIL, $DATAGRAM) = ('@@MUX_DGRAM_OPEN@@', '@@MUX_DGRAM_OPEN_FAIL@@', '@@MUX_DATAGRAM@@');
my ($DGRAM_CLOSE, $DGRAM_DROPPED) = ('@@MUX_DGRAM_CLOSE@@', '@@MUX_DGRAM_DROPPED@@');
my ($dgram_queue, $dgram_queue_bytes, $dgram_buffer) = ('@@MUX_DATAGRAM_QUEUE@@', '@@MUX_DATAGRAM_QUEUE_BYTES@@', '@@MUX_DATAGRAM_BUFFER_BYTES@@');
# A session: { id, fh, fd, queue (datagrams for its socket), queued (their bytes), dropped }.
my %dgrams;
sub dgram_end {
  my ($d, $why) = @_;
  delete $dgrams{$d->{id}};
  close $d->{fh};
  frame($DGRAM_CLOSE, $d->{id}, $why) if defined $why;
}
sub dgram_open {
  my ($id, $payload) = @_;
  return frame($DGRAM_OPEN_FAIL, $id, 'malformed DGRAM_OPEN') if $dgrams{$id} || $streams{$id} || length $payload < 3;
  my ($port, $address) = (unpack('n', $payload), substr($payload, 2));
  my $family = index($address, ':') >= 0 ? AF_INET6 : AF_INET;
  my $raw = inet_pton($family, $address);
  return frame($DGRAM_OPEN_FAIL, $id, "not an IP address: $address") unless defined $raw;
  my $pack = sub { $family == AF_INET ? pack_sockaddr_in($_[0], $raw) : pack_sockaddr_in6($_[0], $raw) };
  my $fh;
  return frame($DGRAM_OPEN_FAIL, $id, reason($! + 0)) unless socket($fh, $family, SOCK_DGRAM, 0);
  setsockopt($fh, SOL_SOCKET, $_, $dgram_buffer) for SO_RCVBUF, SO_SNDBUF;
  # Binding first fails for any address not the container's own: never a relay to elsewhere.
  unless (bind($fh, $pack->(0)) && connect($fh, $pack->($port))) {
    my $code = $! + 0;
    close $fh;
    return frame($DGRAM_OPEN_FAIL, $id, reason($code));
  }
  fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
  $dgrams{$id} = { id => $id, fh => $fh, fd => fileno($fh), queue => [], queued => 0, dropped => 0 };
}
sub dgram_send {
  my ($d) = @_;
  while (@{ $d->{queue} }) {
    my $data = $d->{queue}[0];
    my $sent = send($d->{fh}, $data, 0);
    # An earlier datagram found no server: the error is told once, and this one was not sent.
    $sent = send($d->{fh}, $data, 0) if !defined $sent && $!{ECONNREFUSED};
    last if !defined $sent && $!{EAGAIN};
    $d->{dropped}++ unless defined $sent;
    shift @{ $d->{queue} };
    $d->{queued} -= length $data;
  }
}
sub dgram_pull {
  my ($d) = @_;
  for (1 .. 16) {
    return if length $out >= $out_high;
    my $from = recv($d->{fh}, my $data, 65536, 0);
    unless (defined $from) {
      return if $!{EAGAIN};
      next if $!{ECONNREFUSED};
      return dgram_end($d, reason($! + 0));
    }
    frame($DATAGRAM, $d->{id}, $data);
  }
}
sub dgram_kind { my ($kind) = @_; $kind == $DGRAM_OPEN || $kind == $DATAGRAM || $kind == $DGRAM_CLOSE }
sub dgram_handle {
  my ($kind, $id, $payload) = @_;
  return dgram_open($id, $payload) if $kind == $DGRAM_OPEN;
  my $d = $dgrams{$id} or return;
  return dgram_end($d) if $kind == $DGRAM_CLOSE;
  return unless $kind == $DATAGRAM;
  my $full = @{ $d->{queue} } >= $dgram_queue || $d->{queued} + length $payload > $dgram_queue_bytes;
  return $d->{dropped}++ if @{ $d->{queue} } && $full;
  push @{ $d->{queue} }, $payload;
  $d->{queued} += length $payload;
  dgram_send($d);
}
# select() bits for the sessions: read while the output has room, write while a datagram waits.
sub dgram_bits {
  my ($rin, $win, $room) = @_;
  for my $d (values %dgrams) {
    vec($$rin, $d->{fd}, 1) = 1 if $room;
    vec($$win, $d->{fd}, 1) = 1 if @{ $d->{queue} };
  }
}
sub dgram_events {
  my ($rout, $wout, @all) = @_;
  for my $d (@all) {
    next unless ($dgrams{$d->{id}} || 0) == $d;
    dgram_send($d) if vec($wout, $d->{fd}, 1);
    dgram_pull($d) if vec($rout, $d->{fd}, 1) && ($dgrams{$d->{id}} || 0) == $d;
  }
  for my $d (values %dgrams) {
    next unless $d->{dropped};
    frame($DGRAM_DROPPED, $d->{id}, pack('N', $d->{dropped} > 4294967295 ? 4294967295 : $d->{dropped}));
    $d->{dropped} = 0;
  }
}

while (1) {
  flush();
  my ($rin, $win) = ('', '');
  vec($rin, 0, 1) = 1;
  vec($win, 1, 1) = 1 if length $out;
  my $room = length $out < $out_high;
  for my $s (values %streams) {
    if ($s->{connecting}) { vec($win, $s->{fd}, 1) = 1; next }
    vec($rin, $s->{fd}, 1) = 1 if $room && !$s->{eof_out} && $s->{credit} > 0;
    vec($win, $s->{fd}, 1) = 1 if length $s->{in};
  }
  dgram_bits(\$rin, \$win, $room);
  vec($rin, $_->{fd}, 1) = 1 for values %listeners;
  my $timeout = (grep { $_->{connecting} } values %streams) ? 1 : undef;
  if ($changes{on}) {
    my $due = $changes{next} - time;
    $timeout = $due < 0 ? 0 : !defined $timeout || $due < $timeout ? $due : $timeout;
  }
  next if select(my $rout = $rin, my $wout = $win, undef, $timeout) < 0;
  # A snapshot of the streams select() answered for: handling one may forget others, and a stream
  # opened meanwhile may have a freed descriptor whose bits are not its own.
  my @all = values %streams;
  my @all_dgrams = values %dgrams;
  my @listening = grep { vec($rout, $_->{fd}, 1) } values %listeners;
  read_stdin() if vec($rout, 0, 1);
  flush() if vec($wout, 1, 1);
  report_changes() if $changes{on} && time >= $changes{next};
  for my $s (@all) {
    next unless ($streams{$s->{id}} || 0) == $s;
    my ($readable, $writable) = (vec($rout, $s->{fd}, 1), vec($wout, $s->{fd}, 1));
    if ($s->{connecting}) {
      if ($writable) { connected($s) }
      elsif (time > $s->{deadline}) { forget($s); frame($OPEN_FAIL, $s->{id}, 'ETIMEDOUT (no answer in time)') }
      next;
    }
    push_in($s) if $writable && length $s->{in};
    pull($s) if $readable && ($streams{$s->{id}} || 0) == $s;
  }
  dgram_events($rout, $wout, @all_dgrams);
  for my $listener (@listening) { reverse_accept($listener) if ($listeners{$listener->{id}} || 0) == $listener }
}
