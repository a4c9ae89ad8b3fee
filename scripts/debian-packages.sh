# shellcheck shell=bash
# Sourced by the setup scripts (which define `say`). install_debian_packages WHAT STATUS PACKAGE...:
# as root, installs the packages with apt-get; as another user, names them with the command that
# installs them and exits with STATUS.
install_debian_packages() {
  local what=$1 status=$2
  shift 2
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" -eq 0 ]; then
    say "installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    say "missing Debian packages $what: $*"
    say "install them with: sudo apt-get install -y $*   (then run the same command again)"
    exit "$status"
  fi
}
