# portpilot relay agent (perl): see relay-agent-script.ts for the protocol.
# Each @@NAME@@ in single quotes is replaced, quotes and all, by relay-agent-script.ts's constant NAME.
use strict;
use POSIX ();
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use Socket qw(AF_INET AF_INET6 SOCK_STREAM SOL_SOCKET SO_ERROR SO_LINGER IPPROTO_IP IPPROTO_TCP
  TCP_NODELAY SHUT_WR NI_NUMERICHOST inet_pton getnameinfo pack_sockaddr_in pack_sockaddr_in6
  unpack_sockaddr_in unpack_sockaddr_in6);
my ($listen_address, $allowed_peer) = @ARGV;
my ($magic, $header_bytes, $token_end) = ('@@AGENT_MAGIC@@', '@@AGENT_HEADER_BYTES@@', 4 + '@@AGENT_TOKEN_BYTES@@');
my ($buffer_bytes, $header_timeout_s, $connect_timeout_s) = ('@@AGENT_COPY_BUFFER_BYTES@@', '@@AGENT_HEADER_TIMEOUT_S@@', '@@AGENT_TARGET_CONNECT_TIMEOUT_S@@');
$SIG{PIPE} = 'IGNORE';
my $line = '';
while ($line !~ /\n/) { sysread(STDIN, $line, 256, length $line) or POSIX::_exit(0) }
my $token = pack('H*', $line =~ /^([0-9a-f]+)/ ? $1 : '');
# Each socket is an end: { fh, fd, out (bytes for it), sent (of out), peer, eof (its input ended),
# shut (FIN sent to it), header (while it is read), connecting, deadline }.
my %ends;

sub sockaddr_of {
  my ($family, $address, $port) = @_;
  $family == AF_INET ? pack_sockaddr_in($port, $address) : pack_sockaddr_in6($port, $address);
}
sub same_bytes {
  my ($x, $y, $diff) = (@_, 0);
  return 0 unless length $x == length $y;
  $diff |= ord(substr($x, $_, 1)) ^ ord(substr($y, $_, 1)) for 0 .. length($x) - 1;
  $diff == 0;
}
sub add {
  my ($fh, %fields) = @_;
  fcntl($fh, F_SETFL, fcntl($fh, F_GETFL, 0) | O_NONBLOCK);
  my $end = { fh => $fh, fd => fileno($fh), out => '', sent => 0, %fields };
  $ends{$end->{fd}} = $end;
}
sub live { my ($end) = @_; $end && ($ends{$end->{fd}} || 0) == $end }
sub drop { for my $end (@_) { next unless live($end); delete $ends{$end->{fd}}; close $end->{fh} } }
sub abort {
  my ($end) = @_;
  for ($end, $end->{peer}) { setsockopt($_->{fh}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if live($_) }
  drop($end, $end->{peer});
}
sub answer {
  my ($client, $target, $errno) = @_;
  syswrite($client->{fh}, $errno ? chr($errno & 255 || 255) : "\0");
  return drop($client, $target) if $errno || !$target;
  delete @$_{qw(connecting deadline)} for $client, $target;
  ($client->{peer}, $target->{peer}) = ($target, $client);
  setsockopt($_->{fh}, IPPROTO_TCP, TCP_NODELAY, 1) for $client, $target;
}
sub start_target {
  my ($client) = @_;
  my $header = delete $client->{header};
  return drop($client) unless substr($header, 0, 4) eq $magic && same_bytes(substr($header, 4, $token_end - 4), $token);
  my ($raw, $port) = (substr($header, $token_end, 16), unpack('n', substr($header, -2)));
  my $v4 = substr($raw, 0, 12) eq ("\0" x 10) . "\xff\xff";
  my ($family, $address) = $v4 ? (AF_INET, substr($raw, 12)) : (AF_INET6, $raw);
  my $fh;
  # Binding first fails for any address not the container's own: never a proxy to elsewhere.
  return answer($client, undef, $! + 0) unless socket($fh, $family, SOCK_STREAM, 0)
    && (setsockopt($fh, IPPROTO_IP, 24, 1) || 1) && bind($fh, sockaddr_of($family, $address, 0));
  return answer($client, undef, 0) if $port == 0;
  my $target = add($fh, peer => $client);
  return answer($client, $target, 0) if connect($fh, sockaddr_of($family, $address, $port));
  return answer($client, $target, $! + 0) unless $!{EINPROGRESS};
  @$target{qw(connecting deadline)} = (1, time + $connect_timeout_s);
  $client->{connecting} = 1;
  delete $client->{deadline};
}
sub pull_header {
  my ($client) = @_;
  my $got = sysread($client->{fh}, $client->{header}, $header_bytes - length $client->{header}, length $client->{header});
  return if !defined $got && $!{EAGAIN};
  return drop($client) unless $got;
  start_target($client) if length $client->{header} == $header_bytes;
}
sub push_out {
  my ($end) = @_;
  if (length $end->{out}) {
    my $put = syswrite($end->{fh}, $end->{out}, length($end->{out}) - $end->{sent}, $end->{sent});
    return if !defined $put && $!{EAGAIN};
    return abort($end) unless defined $put;
    # An offset, not a chop from the front: the buffer is not moved for every partial write.
    @$end{qw(out sent)} = ('', 0) if ($end->{sent} += $put) == length $end->{out};
  }
  if ($end->{peer}{eof} && !length $end->{out} && !$end->{shut}) { shutdown($end->{fh}, SHUT_WR); $end->{shut} = 1 }
  drop($end, $end->{peer}) if $end->{shut} && $end->{peer}{shut};
}
# Reads on while every read is written at once: a select() per chunk would cost more than the copy.
sub pull {
  my ($end) = @_;
  for (1 .. 16) {
    my $got = sysread($end->{fh}, $end->{peer}{out}, $buffer_bytes, length $end->{peer}{out});
    return if !defined $got && $!{EAGAIN};
    return abort($end) unless defined $got;
    $end->{eof} = 1 if $got == 0;
    push_out($end->{peer});
    return if $end->{eof} || !live($end) || length $end->{peer}{out};
  }
}

my $family = index($listen_address, ':') >= 0 ? AF_INET6 : AF_INET;
my $server;
unless (socket($server, $family, SOCK_STREAM, 0)
  && bind($server, sockaddr_of($family, inet_pton($family, $listen_address), 0)) && listen($server, 1024)) {
  print STDERR "relay agent cannot listen on $listen_address: $!\n";
  POSIX::_exit(1);
}
fcntl($server, F_SETFL, fcntl($server, F_GETFL, 0) | O_NONBLOCK);
my $port = ($family == AF_INET ? unpack_sockaddr_in(getsockname($server)) : unpack_sockaddr_in6(getsockname($server)))[0];
syswrite(STDOUT, qq({"port": $port}\n));
while (1) {
  my ($rin, $win) = ('', '');
  vec($rin, 0, 1) = 1;
  vec($rin, fileno($server), 1) = 1;
  for my $end (values %ends) {
    if ($end->{connecting}) { vec($win, $end->{fd}, 1) = 1 if $end->{deadline} }
    elsif (defined $end->{header}) { vec($rin, $end->{fd}, 1) = 1 }
    else {
      vec($rin, $end->{fd}, 1) = 1 if !$end->{eof} && !length $end->{peer}{out};
      vec($win, $end->{fd}, 1) = 1 if length $end->{out};
    }
  }
  my $timeout = (grep { $_->{deadline} } values %ends) ? 1 : undef;
  next if select(my $rout = $rin, my $wout = $win, undef, $timeout) < 0;
  last if vec($rout, 0, 1) && !sysread(STDIN, my $ignored, 4096);
  while (vec($rout, fileno($server), 1) && (my $peer = accept(my $fh, $server))) {
    my (undef, $peer_address) = getnameinfo($peer, NI_NUMERICHOST);
    if ($allowed_peer eq '' || $peer_address eq $allowed_peer) { add($fh, header => '', deadline => time + $header_timeout_s) }
    else { close $fh }
  }
  # A snapshot: handling one end may drop others.
  for my $end (my @all = values %ends) {
    next unless live($end);
    my ($readable, $writable) = (vec($rout, $end->{fd}, 1), vec($wout, $end->{fd}, 1));
    if ($end->{deadline} && time > $end->{deadline}) { drop($end, $end->{peer}) }
    elsif ($end->{connecting}) { answer($end->{peer}, $end, unpack('i', getsockopt($end->{fh}, SOL_SOCKET, SO_ERROR))) if $writable && $end->{deadline} }
    elsif (defined $end->{header}) { pull_header($end) if $readable }
    else { push_out($end) if $writable; pull($end) if $readable && live($end) }
  }
}
POSIX::_exit(0);
