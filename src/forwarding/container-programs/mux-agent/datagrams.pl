# The mux agent, part 4 of 5: datagram sessions. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `perl -e`.
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
