# portpilot mux agent (perl), part 1 of 5: streams; the parts are joined in order (see
# mux-agent-argv.ts) into one `perl -e`. The protocol: relay/mux/mux-codec.ts.
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
