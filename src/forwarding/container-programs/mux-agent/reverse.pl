# The mux agent, part 3 of 5: reverse ports. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `perl -e`.
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
