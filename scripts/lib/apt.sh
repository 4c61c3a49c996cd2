# Shared by scripts/install-*.sh: install the Debian packages from "$@" that are missing.
# - a quick no-op when all are installed;
# - policy-rc.d keeps postinst scripts from starting system-wide daemons (nginx on :80,
#   docker-registry on :5000, postgres...): the harness starts its own on 127.0.0.1;
# - a lock timeout, because several install scripts may run apt at the same time.
# usage: source scripts/lib/apt.sh; apt_install_missing LABEL pkg...
apt_install_missing() {
  local label="$1"; shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "$label: all present"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "$label: installing ${missing[*]}"
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  local made_policy=""
  if [ -z "$sudo" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" || status=$?
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  return $status
}
