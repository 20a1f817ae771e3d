# portpilot exec relay (perl): argv HOST PORT DRAIN_S; see relay-program.ts.
use strict;
use POSIX ();
use Socket qw(getaddrinfo SOCK_STREAM SHUT_WR IPPROTO_TCP TCP_NODELAY);
my ($host, $port, $idle) = @ARGV;
$SIG{PIPE} = 'IGNORE';
sub fail { print STDERR "relay to $host port $port: $_[0]\n"; POSIX::_exit(1) }
my ($err, @found) = getaddrinfo($host, $port, { socktype => SOCK_STREAM });
fail($err) if $err;
my $conn;
for my $ai (@found) {
  socket($conn, $ai->{family}, $ai->{socktype}, $ai->{protocol}) or fail($!);
  last if connect($conn, $ai->{addr});
  $err = $!;
  undef $conn;
}
fail($err) unless $conn;
setsockopt($conn, IPPROTO_TCP, TCP_NODELAY, 1);
binmode STDIN; binmode STDOUT; binmode $conn;
sub put {
  my ($fh, $buf) = @_;
  for (my $done = 0; $done < length $buf;) {
    my $n = syswrite($fh, $buf, length($buf) - $done, $done);
    return 0 unless defined $n;
    $done += $n;
  }
  return 1;
}
my $child = fork();
fail("fork: $!") unless defined $child;
if ($child == 0) {
  close STDOUT;
  while (1) {
    my $got = sysread(STDIN, my $buf, '@@SCRIPT_BUFFER_BYTES@@');
    last unless $got;
    POSIX::_exit(0) unless put($conn, $buf);
  }
  shutdown($conn, SHUT_WR);
  POSIX::_exit(0);
}
close STDIN;
my ($upstream_done, $last) = (0, time);
while (1) {
  my $watch = '';
  vec($watch, fileno($conn), 1) = 1;
  my $n = select(my $ready = $watch, undef, undef, 1);
  if ($n < 0) { next if $!{EINTR}; fail($!) }
  if ($n > 0) {
    my $got = sysread($conn, my $buf, '@@SCRIPT_BUFFER_BYTES@@');
    fail($!) unless defined $got;
    last unless $got;
    fail($!) unless put(\*STDOUT, $buf);
    $last = time;
  }
  if (!$upstream_done && waitpid($child, POSIX::WNOHANG()) == $child) { ($upstream_done, $last) = (1, time) }
  last if $upstream_done && time - $last >= $idle;
}
kill 'TERM', $child unless $upstream_done;
POSIX::_exit(0);
