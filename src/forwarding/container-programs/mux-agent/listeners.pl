# The mux agent, part 2 of 5: listeners reported as changes. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `perl -e`.
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
