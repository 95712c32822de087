#!/usr/bin/env bash
# Re-create src/drape/serve/viewer_assets/vendor/three/ from the npm registry.
#
# Installs the pinned three.js release into a git-ignored build folder and copies the
# ES modules the web viewer imports (core build, GLTFLoader, OrbitControls and the
# addon utilities GLTFLoader imports) together with three.js's MIT LICENSE.
#
# Usage: scripts/vendor_three.sh [VERSION]   (default: the pinned version below)
set -euo pipefail

VERSION="${1:-0.187.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$ROOT/.cache/viewer-build"
DEST="$ROOT/src/drape/serve/viewer_assets/vendor/three"

command -v npm >/dev/null || { echo "vendor_three.sh: npm is required" >&2; exit 1; }

mkdir -p "$BUILD"
[ -f "$BUILD/package.json" ] || echo '{"name": "drape-viewer-build", "private": true}' > "$BUILD/package.json"
npm install --prefix "$BUILD" --save-exact --no-audit --no-fund "three@$VERSION"

SRC="$BUILD/node_modules/three"
got="$(node -p "require('$SRC/package.json').version")"
[ "$got" = "$VERSION" ] || { echo "vendor_three.sh: expected three $VERSION, npm installed $got" >&2; exit 1; }

# npm path -> path under $DEST. The two core modules sit side by side (three.module.js
# imports ./three.core.js); examples/jsm becomes addons/ (the import map's "three/addons/").
FILES=(
  LICENSE:LICENSE
  build/three.module.js:three.module.js
  build/three.core.js:three.core.js
  examples/jsm/loaders/GLTFLoader.js:addons/loaders/GLTFLoader.js
  examples/jsm/controls/OrbitControls.js:addons/controls/OrbitControls.js
  examples/jsm/utils/BufferGeometryUtils.js:addons/utils/BufferGeometryUtils.js
  examples/jsm/utils/SkeletonUtils.js:addons/utils/SkeletonUtils.js
)

rm -rf "$DEST"
for pair in "${FILES[@]}"; do
  from="${pair%%:*}"
  to="${pair#*:}"
  mkdir -p "$DEST/$(dirname "$to")"
  cp "$SRC/$from" "$DEST/$to"
done
echo "$VERSION" > "$DEST/VERSION"

# Every relative import of a copied module must itself have been copied.
missing=0
for pair in "${FILES[@]}"; do
  f="${pair#*:}"
  case "$f" in *.js) ;; *) continue ;; esac
  for dep in $(grep -oE "from '\.{1,2}/[^']+'" "$DEST/$f" | sed -E "s/from '(.*)'/\1/"); do
    target="$(cd "$(dirname "$DEST/$f")" && realpath -m "$dep")"
    if [ ! -f "$target" ]; then echo "vendor_three.sh: $f imports $dep which was not copied" >&2; missing=1; fi
  done
done
[ "$missing" = 0 ] || exit 1
echo "vendored three.js $VERSION into $DEST"
