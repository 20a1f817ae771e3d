#!/usr/bin/env bash
# Makes this machine ready for the integration tests: the host tools they use, a Docker engine that
# answers, the test images named in scripts/test-images.env, and Podman with two of them, rootful and
# rootless (as the user test-images.env names). Idempotent, and a second or two
# when everything is already in place. Needs root for whatever it has to install, start or build.
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/test-images.env
source "$ROOT_DIR/scripts/test-images.env"

CACHE_DIR=/var/cache/portpilot-test
LOCK_FILE=/run/lock/portpilot-test-env.lock
LOCK_TIMEOUT_S=1800
DOCKERD_LOG=/var/log/portpilot-dockerd.log
DOCKERD_PID_FILE=/var/run/docker.pid
DOCKERD_READY_TIMEOUT_S=60
DEBIAN_SUITE=bookworm
# dnsmasq: the UDP tests' DNS server (the image's extra programs are checked by verify_image).
DEBIAN_INCLUDE=socat,python3,netcat-openbsd,procps,iproute2,dnsmasq
# openssh-server: the remote-engine tests run their own sshd on 127.0.0.1 (DOCKER_HOST=ssh://…); the
# system's ssh service is never started for them.
# dnsutils: dig, the UDP tests' DNS client on the host. gcc and libc6-dev: the C compiler the
# forwarder builds its native UDP relay with.
HOST_PACKAGES=(docker.io socat netcat-openbsd busybox-static debootstrap docker-compose curl wrk openssh-server git python3 perl dnsutils gcc libc6-dev)
# What the busybox images link; busybox-nc adds nc. Never socat, bash, python3 or perl.
BUSYBOX_APPLETS=(
  sh ash '[' '[[' test true false echo printf cat sleep usleep httpd wget kill killall ps pidof
  ls wc head tail md5sum sha1sum sha256sum dd grep egrep fgrep sed awk env mkdir rmdir rm cp mv ln
  chmod chown touch sort uniq cut tr od hexdump xxd base64 id whoami hostname uname date seq tee
  find xargs mktemp realpath readlink basename dirname stat netstat ip ifconfig timeout setsid
  which du df free top yes expr sync
)
RELAY_PROBES='socat nc bash python3 perl'
IMAGE_PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

TMP_DIRS=()
cleanup() { ((${#TMP_DIRS[@]} == 0)) || rm -rf "${TMP_DIRS[@]}"; }
trap cleanup EXIT

step() { printf 'test-env: %s\n' "$*" >&2; }
die() {
  printf 'test-env: error: %s\n' "$*" >&2
  exit 1
}
require_root() {
  [[ $EUID -eq 0 ]] || die "$1 needs root: run 'sudo bash scripts/test-env.sh' once"
}
# Sets TMP_DIR to a new scratch directory that is removed when the script exits.
new_tmp_dir() {
  TMP_DIR="$(mktemp -d "$CACHE_DIR/$1.XXXXXX")"
  TMP_DIRS+=("$TMP_DIR")
}

apt_install() {
  require_root "installing $*"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 "$@" >&2
}

ensure_host_tools() {
  if ! command -v dockerd >/dev/null 2>&1; then
    step "no dockerd: installing ${HOST_PACKAGES[*]}"
    apt_install "${HOST_PACKAGES[@]}"
    return
  fi
  local installed missing=() pkg
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${HOST_PACKAGES[@]}" 2>/dev/null || true)"
  for pkg in "${HOST_PACKAGES[@]}"; do
    [[ $pkg == docker.io ]] && continue
    grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    step "host tools present: dockerd ${HOST_PACKAGES[*]:1}"
    return
  fi
  # The engine is already there (perhaps not Debian's): keep apt from pulling docker.io in.
  step "installing missing host tools: ${missing[*]}"
  apt_install --no-install-recommends "${missing[@]}"
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_engine() {
  if docker_answers; then
    step "docker engine answers"
    return
  fi
  local pid
  pid="$(cat "$DOCKERD_PID_FILE" 2>/dev/null || true)"
  if [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null || true)" == dockerd ]]; then
    step "dockerd (pid $pid) runs but does not answer yet: waiting"
  else
    require_root "starting dockerd"
    step "starting dockerd in the background (log: $DOCKERD_LOG)"
    # Its own session, no terminal, and none of our pipes or the lock fd: the engine must outlive
    # whatever ran this script (npm, vitest's globalSetup) and must not hold the caller's stdout
    # open. A background job of a script is no group leader, so setsid execs in place: $! is dockerd.
    setsid nohup dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- &
    pid=$!
  fi
  local deadline=$((SECONDS + DOCKERD_READY_TIMEOUT_S))
  until docker_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$DOCKERD_LOG" >&2 || true
      die "dockerd exited before it answered; its log is above ($DOCKERD_LOG)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$DOCKERD_LOG" >&2 || true
      die "docker info did not answer within ${DOCKERD_READY_TIMEOUT_S}s; dockerd's log is above ($DOCKERD_LOG)"
    fi
    sleep 0.5
  done
  step "docker engine answers (dockerd pid $pid)"
}

# Prints "URI SUITE" for every deb source apt is configured with, one-line and deb822 formats.
list_apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/ || !match($i, /^[A-Za-z-]+:/)) continue
          key = tolower(substr($i, 1, RLENGTH - 1)); val = substr($i, RLENGTH + 1)
          if (key == "types") types = val; else if (key == "uris") uris = val
          else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled ~ /no/ || (" " types " ") !~ /[ \t]deb[ \t]/) next
        n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
        for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) if (u[a] != "" && s[b] != "") print u[a], s[b]
      }' "$f"
  done
}

# The Debian archive mirror apt uses here: the one serving the suite, else any main-archive one.
derive_mirror() {
  local sources mirror
  sources="$(list_apt_sources | awk '$1 ~ /^(https?|file):/')"
  mirror="$(awk -v suite="$DEBIAN_SUITE" '$2 == suite { print $1; exit }' <<<"$sources")"
  [[ -n $mirror ]] || mirror="$(awk '$1 !~ /security/ && $2 !~ /-(security|updates|backports)$/ { print $1; exit }' <<<"$sources")"
  [[ -n $mirror ]] || die "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d: add one that serves $DEBIAN_SUITE"
  printf '%s\n' "$mirror"
}

# Sets ROOTFS_TARBALL to a cached tarball of the minbase Debian rootfs, running debootstrap if needed.
ensure_debian_rootfs() {
  local key dir mirror log
  key="$(printf '%s\n' "$DEBIAN_SUITE" minbase "$DEBIAN_INCLUDE" | sha256sum | cut -c1-12)"
  ROOTFS_TARBALL="$CACHE_DIR/debian-$DEBIAN_SUITE-minbase-$key.tar"
  if [[ -s $ROOTFS_TARBALL ]]; then
    step "using the cached Debian rootfs $ROOTFS_TARBALL"
    return
  fi
  mirror="$(derive_mirror)"
  new_tmp_dir rootfs
  dir="$TMP_DIR"
  log="$CACHE_DIR/debootstrap.log"
  step "debootstrap $DEBIAN_SUITE (minbase + $DEBIAN_INCLUDE) from apt's mirror: about a minute (log: $log)"
  if ! debootstrap --variant=minbase --include="$DEBIAN_INCLUDE" "$DEBIAN_SUITE" "$dir" "$mirror" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    tail -n 30 "$dir/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap of $DEBIAN_SUITE from $mirror failed; its log is above ($log)"
  fi
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" --numeric-owner -cf "$ROOTFS_TARBALL.partial" .
  mv "$ROOTFS_TARBALL.partial" "$ROOTFS_TARBALL"
}

add_hello_file() {
  mkdir -p "$1$(dirname "$PORTPILOT_TEST_HELLO_PATH")"
  printf '%s\n' "$PORTPILOT_TEST_HELLO_TEXT" >"$1$PORTPILOT_TEST_HELLO_PATH"
}

import_image() {
  local dir=$1 tag=$2
  step "importing $tag"
  tar -C "$dir" --numeric-owner -c . |
    docker import -c "ENV $IMAGE_PATH_ENV" -c 'CMD ["/bin/sh"]' -m "portpilot test image" - "$tag" >/dev/null
}

# Deletes the named programs from every bin directory of a rootfs, with their alternatives links.
remove_programs() {
  local dir=$1 d name
  shift
  for d in bin sbin usr/bin usr/sbin usr/local/bin usr/local/sbin etc/alternatives; do
    [[ -d $dir/$d && ! -L $dir/$d ]] || continue
    for name in "$@"; do
      find "$dir/$d" -maxdepth 1 -name "$name" \( -type f -o -type l \) -delete
    done
  done
}

build_debian_images() {
  local want_debian=$1 want_bash_only=$2 want_python=$3 dir
  ensure_debian_rootfs
  new_tmp_dir debian
  dir="$TMP_DIR"
  tar -C "$dir" -xf "$ROOTFS_TARBALL"
  add_hello_file "$dir"
  ((want_debian)) && import_image "$dir" "$PORTPILOT_TEST_IMAGE_DEBIAN"
  remove_programs "$dir" socat filan procan nc 'nc.*' netcat ncat
  ((want_bash_only)) && import_image "$dir" "$PORTPILOT_TEST_IMAGE_BASH_ONLY"
  remove_programs "$dir" bash rbash bashbug
  sed -i 's#:/bin/bash$#:/bin/sh#' "$dir/etc/passwd"
  ((want_python)) && import_image "$dir" "$PORTPILOT_TEST_IMAGE_PYTHON"
  return 0
}

# Busybox's standalone shell runs any compiled-in applet, linked or not, so an image without nc must
# not have the applet at all: rename it in the sorted applet-name table ("nc" -> "nb" keeps the order).
strip_nc_applet() {
  local busybox=$1
  perl -0777 -pi -e '
    my $table = index($_, "\0[\0[[\0");
    my $at = $table < 0 ? -1 : index($_, "\0nc\0", $table);
    die "nc applet not found in busybox'"'"'s applet table\n" if $at < 0 || $at - $table > 20000;
    substr($_, $at + 1, 2) = "nb";
  ' "$busybox"
  if "$busybox" --list | grep -qx nc || env -i PATH=/nonexistent "$busybox" sh -c 'command -v nc' >/dev/null; then
    die "could not remove the nc applet from busybox"
  fi
  "$busybox" sleep 0 || die "busybox no longer runs after removing its nc applet"
}

build_busybox_image() {
  local tag=$1 with_nc=$2 dir applet
  [[ -f /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1 || die "/bin/busybox is not busybox-static's static binary: apt-get install busybox-static"
  new_tmp_dir busybox
  dir="$TMP_DIR"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/run}
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in "${BUSYBOX_APPLETS[@]}"; do ln -s busybox "$dir/bin/$applet"; done
  if ((with_nc)); then
    ln -s busybox "$dir/bin/nc"
  else
    strip_nc_applet "$dir/bin/busybox"
  fi
  ln -s ../../bin/env "$dir/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  touch "$dir/etc/hosts" "$dir/etc/hostname" "$dir/etc/resolv.conf"
  add_hello_file "$dir"
  import_image "$dir" "$tag"
}

# Fails unless the image has exactly the expected relay-capable programs and the hello file, and
# each of the other programs named in $3 (servers the tests run, such as dnsmasq).
verify_image() {
  local tag=$1 want=$2 extra=${3:-} got expected program
  for program in $extra; do
    docker run --rm "$tag" sh -c 'command -v "$0"' "$program" >/dev/null || die "$tag: has no $program"
  done
  # shellcheck disable=SC2016 # expanded inside the container
  got="$(docker run --rm "$tag" sh -c '
    for p in $0; do
      if command -v "$p" >/dev/null 2>&1 || busybox --list 2>/dev/null | grep -qx "$p"; then printf "%s " "$p"; fi
    done
    cat "$1"' "$RELAY_PROBES" "$PORTPILOT_TEST_HELLO_PATH")" || die "could not run $tag"
  expected="${want:+$want }$PORTPILOT_TEST_HELLO_TEXT"
  [[ $got == "$expected" ]] || die "$tag: expected programs and hello file '$expected', found '$got'"
}

image_exists() { docker image inspect "$@" >/dev/null 2>&1; }

ensure_images() {
  local all=("$PORTPILOT_TEST_IMAGE_DEBIAN" "$PORTPILOT_TEST_IMAGE_BUSYBOX_NC" "$PORTPILOT_TEST_IMAGE_BASH_ONLY"
    "$PORTPILOT_TEST_IMAGE_PYTHON" "$PORTPILOT_TEST_IMAGE_NONE")
  if image_exists "${all[@]}"; then
    step "test images present: ${all[*]}"
    return
  fi
  require_root "building the test images"
  mkdir -p "$CACHE_DIR"
  local debian=0 bash_only=0 python=0
  image_exists "$PORTPILOT_TEST_IMAGE_DEBIAN" || debian=1
  image_exists "$PORTPILOT_TEST_IMAGE_BASH_ONLY" || bash_only=1
  image_exists "$PORTPILOT_TEST_IMAGE_PYTHON" || python=1
  if ((debian || bash_only || python)); then build_debian_images "$debian" "$bash_only" "$python"; fi
  image_exists "$PORTPILOT_TEST_IMAGE_BUSYBOX_NC" || build_busybox_image "$PORTPILOT_TEST_IMAGE_BUSYBOX_NC" 1
  image_exists "$PORTPILOT_TEST_IMAGE_NONE" || build_busybox_image "$PORTPILOT_TEST_IMAGE_NONE" 0

  step "verifying what each test image offers"
  verify_image "$PORTPILOT_TEST_IMAGE_DEBIAN" "$PORTPILOT_TEST_PROGRAMS_DEBIAN" "$PORTPILOT_TEST_SERVERS_DEBIAN"
  verify_image "$PORTPILOT_TEST_IMAGE_BUSYBOX_NC" "$PORTPILOT_TEST_PROGRAMS_BUSYBOX_NC"
  verify_image "$PORTPILOT_TEST_IMAGE_BASH_ONLY" "$PORTPILOT_TEST_PROGRAMS_BASH_ONLY"
  verify_image "$PORTPILOT_TEST_IMAGE_PYTHON" "$PORTPILOT_TEST_PROGRAMS_PYTHON"
  verify_image "$PORTPILOT_TEST_IMAGE_NONE" "$PORTPILOT_TEST_PROGRAMS_NONE"
  step "test images ready: ${all[*]}"
}

# Podman (Debian's runs rootful here) and the busybox-nc and debian images in its store: the Podman
# tests run the forwarder against it, through the podman CLI and through its Docker-compatible socket.
PODMAN_IMAGES=("$PORTPILOT_TEST_IMAGE_BUSYBOX_NC" "$PORTPILOT_TEST_IMAGE_DEBIAN")
ensure_podman() {
  if ! command -v podman >/dev/null 2>&1; then
    step "no podman: installing it"
    apt_install podman
  fi
  local image
  for image in "${PODMAN_IMAGES[@]}"; do
    if podman image exists "localhost/$image"; then
      step "podman has $image"
      continue
    fi
    require_root "loading $image into podman"
    step "loading $image into podman"
    docker save "$image" | podman load >&2
  done
}

ROOTLESS_PACKAGES=(uidmap slirp4netns fuse-overlayfs)
# Runs a command as the rootless test user, with the environment its podman needs (no login session
# here: no systemd, no pam_systemd to make XDG_RUNTIME_DIR).
as_rootless() {
  local user=$PORTPILOT_TEST_ROOTLESS_USER uid home
  uid="$(id -u "$user")"
  home="$(getent passwd "$user" | cut -d: -f6)"
  (cd / && runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" \
    XDG_RUNTIME_DIR="/run/user/$uid" "$@")
}

# Rootless Podman for the rootless tests: a user with subordinate uid and gid ranges, a runtime dir
# it owns (made afresh after a reboot: /run is a tmpfs), /dev/net/tun open to it for slirp4netns,
# and the busybox-nc and debian images in its own store.
ensure_rootless_podman() {
  local user=$PORTPILOT_TEST_ROOTLESS_USER installed missing=() pkg uid image
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${ROOTLESS_PACKAGES[@]}" 2>/dev/null || true)"
  for pkg in "${ROOTLESS_PACKAGES[@]}"; do grep -qx "$pkg installed" <<<"$installed" || missing+=("$pkg"); done
  if ((${#missing[@]} > 0)); then
    step "installing what rootless Podman needs: ${missing[*]}"
    apt_install --no-install-recommends "${missing[@]}"
  fi
  if ! id "$user" >/dev/null 2>&1; then
    require_root "creating the rootless test user $user"
    step "creating the rootless test user $user"
    useradd --create-home --shell /usr/sbin/nologin --comment "portpilot rootless Podman tests" "$user"
  fi
  # useradd gives a new user ranges where login.defs says so (SUB_UID_COUNT); a user made without
  # them gets the next free 65536 ids.
  if ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
    require_root "giving $user subordinate ids"
    local start
    start="$(cat /etc/subuid /etc/subgid 2>/dev/null | awk -F: 'BEGIN { top = 100000 } $2 + $3 > top { top = $2 + $3 } END { print top }')"
    step "giving $user subordinate uids and gids $start-$((start + 65535))"
    grep -q "^$user:" /etc/subuid || usermod --add-subuids "$start-$((start + 65535))" "$user"
    grep -q "^$user:" /etc/subgid || usermod --add-subgids "$start-$((start + 65535))" "$user"
  fi
  uid="$(id -u "$user")"
  if [[ ! -d /run/user/$uid || "$(stat -c %u "/run/user/$uid")" != "$uid" ]]; then
    require_root "making /run/user/$uid"
    install -d -o "$user" -g "$(id -g "$user")" -m 0700 "/run/user/$uid"
  fi
  # slirp4netns opens /dev/net/tun as the user. udev makes it 0666 on a usual Debian system (making
  # an interface with it still takes CAP_NET_ADMIN, which slirp4netns has only in the container's
  # namespaces); these machines have no udev and leave it 0600, and rootless networking fails.
  if [[ "$(stat -c %a /dev/net/tun)" != 666 ]]; then
    require_root "opening /dev/net/tun to $user"
    step "making /dev/net/tun 0666, as udev does, for rootless slirp4netns"
    chmod 0666 /dev/net/tun
  fi
  for image in "${PODMAN_IMAGES[@]}"; do
    if as_rootless podman image exists "localhost/$image" 2>/dev/null; then
      step "rootless podman ($user) has $image"
      continue
    fi
    step "loading $image into $user's rootless podman"
    docker save "$image" | as_rootless podman load >&2
  done
}

main() {
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>>"$LOCK_FILE"
  if ! flock -n 9; then
    step "another test-env run holds $LOCK_FILE: waiting"
    flock -w "$LOCK_TIMEOUT_S" 9 || die "$LOCK_FILE stayed locked for ${LOCK_TIMEOUT_S}s"
  fi
  ensure_host_tools
  ensure_engine
  ensure_images
  ensure_podman
  ensure_rootless_podman
}

# Sourcing the script (to try one step) defines the functions without running them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
