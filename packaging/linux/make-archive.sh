#!/bin/sh
# make-archive.sh BUILT_FOLDER OUT.tar.gz: the Linux archive of one flavour, the built folder
# (dist/<flavour>/Proofdesk) with the .desktop file, the icon and the menu-entry installer.
set -e
folder=${1:?built folder}
out=${2:?archive path}
here=$(cd "$(dirname "$0")" && pwd)
test -x "$folder/Proofdesk" || { echo "no $folder/Proofdesk: build first" >&2; exit 1; }
cp "$here/proofdesk.desktop" "$here/install-desktop-entry.sh" "$folder/"
cp "$here/../proofdesk.png" "$folder/proofdesk.png"
rm -f "$out"
tar -C "$(dirname "$folder")" -cf - "$(basename "$folder")" | nice -n 19 gzip -6 > "$out.part"
mv "$out.part" "$out"
echo "$out: $(du -h "$out" | cut -f1)"
