#!/bin/sh
# Install the named Debian packages that are not installed yet.
# As root with apt-get: installs them (apt-get update first). Otherwise: lists what is
# missing and exits 0, so a user without root can still run what does not need them.
missing=""
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
else
    echo "Missing Debian packages (install them as root for the GUI and its tests):$missing" >&2
fi
