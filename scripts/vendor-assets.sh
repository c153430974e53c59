#!/usr/bin/env bash
# Re-vendors the front-end assets served from app/static/.
#
# Not run by the build or CI: the files it produces are committed, so the
# service works offline with no CDN and no node_modules. This script only
# documents (and reproduces) where every vendored file came from.
#
#   Usage: scripts/vendor-assets.sh [WORKDIR]     (needs node + npm)
#
# Versions are pinned. govuk-frontend stays on 5.x, and
# @ministryofjustice/frontend 8.0.1 is the newest release whose peer
# dependency is govuk-frontend ^5 (9.x needs govuk-frontend 6).
set -euo pipefail

GOVUK_FRONTEND_VERSION=5.14.0
MOJ_FRONTEND_VERSION=8.0.1
HTMX_VERSION=2.0.11
SORTABLEJS_VERSION=1.15.7

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATIC="$ROOT/app/static"
WORK="${1:-$(mktemp -d /tmp/vendor-assets.XXXXXX)}"

echo "Installing packages into $WORK"
mkdir -p "$WORK"
cd "$WORK"
[ -f package.json ] || npm init -y >/dev/null
# --ignore-scripts: we only want the published dist files.
# --legacy-peer-deps: MoJ Frontend lists moment as a peer; its built bundle
# does not import it, so it is not needed at run time.
npm install --no-audit --no-fund --ignore-scripts --legacy-peer-deps --save-exact \
  "govuk-frontend@$GOVUK_FRONTEND_VERSION" \
  "@ministryofjustice/frontend@$MOJ_FRONTEND_VERSION" \
  "htmx.org@$HTMX_VERSION" \
  "sortablejs@$SORTABLEJS_VERSION"

NM="$WORK/node_modules"
GOVUK_DIST="$NM/govuk-frontend/dist/govuk"
MOJ_DIST="$NM/@ministryofjustice/frontend/moj"

# Drop the trailing sourceMappingURL comments: no .map files are shipped.
strip_maps() {
  sed -i -e 's#/\*\# sourceMappingURL=[^*]*\*/##g' -e 's#//\# sourceMappingURL=.*$##' "$@"
}

echo "Copying into $STATIC"
rm -rf "$STATIC/govuk" "$STATIC/moj"
mkdir -p "$STATIC/govuk/assets" "$STATIC/moj/assets" "$STATIC/vendor/licences"

# GOV.UK Frontend: minified CSS + ES module bundle, fonts and images.
# (assets/rebrand and manifest.json are not used: the service uses the MoJ header.)
cp "$GOVUK_DIST/govuk-frontend.min.css" "$GOVUK_DIST/govuk-frontend.min.js" "$STATIC/govuk/"
cp -R "$GOVUK_DIST/assets/fonts" "$GOVUK_DIST/assets/images" "$STATIC/govuk/assets/"

# MoJ Frontend: minified CSS + ES module bundle and its images.
cp "$MOJ_DIST/moj-frontend.min.css" "$MOJ_DIST/moj-frontend.min.js" "$STATIC/moj/"
cp -R "$MOJ_DIST/assets/images" "$STATIC/moj/assets/"
# The published crest SVG has fill="none" on its root and no fill on its paths,
# so as a standalone <img> it renders nothing. Derive a white copy for the
# black MoJ header (the MoJ header template inlines the same paths in white).
sed 's/fill="none"/fill="#ffffff"/' "$MOJ_DIST/assets/images/moj-logotype-crest-2024.svg" \
  > "$STATIC/moj/assets/images/moj-logotype-crest-2024-white.svg"

# The CSS is compiled with absolute url(/assets/...) references. Make them
# relative to the stylesheet so they resolve to /static/govuk/assets/... and
# /static/moj/assets/... (and keep working if the app is mounted under a prefix).
sed -i 's#url(/assets/#url(assets/#g' "$STATIC/govuk/govuk-frontend.min.css" "$STATIC/moj/moj-frontend.min.css"

# htmx (classic script, defines window.htmx) and SortableJS (UMD, window.Sortable).
cp "$NM/htmx.org/dist/htmx.min.js" "$STATIC/vendor/htmx.min.js"
cp "$NM/sortablejs/Sortable.min.js" "$STATIC/vendor/Sortable.min.js"
cp "$NM/htmx.org/LICENSE" "$STATIC/vendor/licences/htmx.org.txt"
cp "$NM/sortablejs/LICENSE" "$STATIC/vendor/licences/sortablejs.txt"

strip_maps "$STATIC"/govuk/*.min.css "$STATIC"/govuk/*.min.js "$STATIC"/moj/*.min.css "$STATIC"/moj/*.min.js \
  "$STATIC/vendor/htmx.min.js" "$STATIC/vendor/Sortable.min.js"

# Sanity check: no absolute /assets/ urls left behind.
if grep -q 'url(/assets/' "$STATIC/govuk/govuk-frontend.min.css" "$STATIC/moj/moj-frontend.min.css"; then
  echo "error: absolute /assets/ url left in vendored CSS" >&2
  exit 1
fi

cat > "$STATIC/vendor/VERSIONS.txt" <<TXT
Vendored front-end assets (reproduce with scripts/vendor-assets.sh; npm registry packages)

govuk-frontend              $GOVUK_FRONTEND_VERSION   MIT   -> app/static/govuk/  (dist/govuk/govuk-frontend.min.{css,js}, assets/fonts, assets/images)
@ministryofjustice/frontend $MOJ_FRONTEND_VERSION    MIT   -> app/static/moj/    (moj/moj-frontend.min.{css,js}, assets/images)
htmx.org                    $HTMX_VERSION   0BSD  -> app/static/vendor/htmx.min.js
sortablejs                  $SORTABLEJS_VERSION   MIT   -> app/static/vendor/Sortable.min.js

Local changes:
- CSS url(/assets/...) rewritten to url(assets/...) so fonts/images load from /static/govuk/assets/ and /static/moj/assets/.
- sourceMappingURL comments removed (no source maps are shipped).
- moj/assets/images/moj-logotype-crest-2024-white.svg: copy of the MoJ crest with fill="#ffffff" (the original has fill="none").
- GOV.UK fonts are Crown copyright, for use on GOV.UK-style government services only.
TXT

echo "Done. Files:"
cd "$STATIC" && find govuk moj vendor -type f | sort
du -sh "$STATIC/govuk" "$STATIC/moj" "$STATIC/vendor"
