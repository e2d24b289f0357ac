#!/bin/sh
# Adds Proofdesk to the desktop's application menu for this user, pointing at the folder this
# script is in (wherever the archive was unpacked). Run it once after unpacking.
set -e
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$apps"
sed -e "s|^Exec=.*|Exec=\"$here/Proofdesk\"|" -e "s|^Icon=.*|Icon=$here/proofdesk.png|" \
    "$here/proofdesk.desktop" > "$apps/proofdesk.desktop"
chmod 644 "$apps/proofdesk.desktop"
echo "Proofdesk added to the application menu ($apps/proofdesk.desktop)"
