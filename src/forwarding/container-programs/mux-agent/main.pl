# The mux agent, part 5 of 5: the host's frames, stdin and stdout, the loop. The parts are joined in order (see
# mux-agent-argv.ts); the whole program is one `perl -e`.
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
