#!/usr/bin/env bash
# Install the `codereview` binary for this machine: the prebuilt release asset, verified by its
# SHA-256 checksum, else `cargo install --locked` from source. Prints the directory holding the
# binary on stdout (last line); everything else goes to stderr.
#
# Environment:
#   CODEREVIEW_VERSION      release tag (e.g. v0.1.0) or "latest" (default)
#   CODEREVIEW_RELEASE_URL  base URL of the releases (default https://github.com/codereview/codereview/releases)
#   CODEREVIEW_SOURCE       source checkout for the cargo fallback (default: this script's repository)
#   CODEREVIEW_INSTALL_DIR  where to put the binary (default: $RUNNER_TEMP or /tmp, + /codereview-bin)
#   CODEREVIEW_NO_CARGO_FALLBACK=1  fail instead of building from source
set -euo pipefail

log() { printf 'codereview install: %s\n' "$*" >&2; }

version=${CODEREVIEW_VERSION:-latest}
release_url=${CODEREVIEW_RELEASE_URL:-https://github.com/codereview/codereview/releases}
source_dir=${CODEREVIEW_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
install_dir=${CODEREVIEW_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/codereview-bin}
mkdir -p "$install_dir"

os=$(uname -s)
arch=$(uname -m)
case "$os/$arch" in
  Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
  Darwin/x86_64) target=x86_64-apple-darwin ;;
  Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
  *) target="" ;;
esac

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

try_release() {
  [ -n "$target" ] || { log "no prebuilt binary for $os/$arch"; return 1; }
  command -v curl >/dev/null 2>&1 || { log "curl is missing"; return 1; }
  local asset="codereview-$target.tar.gz" base
  if [ "$version" = latest ]; then base="$release_url/latest/download"; else base="$release_url/download/$version"; fi
  local tmp
  tmp=$(mktemp -d)
  if ! curl -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset" \
    || ! curl -fsSL --retry 3 -o "$tmp/$asset.sha256" "$base/$asset.sha256"; then
    log "could not download $base/$asset"
    return 1
  fi
  local want got
  want=$(cut -d' ' -f1 < "$tmp/$asset.sha256")
  got=$(sha256 "$tmp/$asset")
  if [ -z "$want" ] || [ "$want" != "$got" ]; then
    log "checksum mismatch for $asset (expected ${want:-nothing}, got $got): not using it"
    return 1
  fi
  tar -xzf "$tmp/$asset" -C "$install_dir" codereview
  chmod +x "$install_dir/codereview"
  log "installed $asset ($version), sha256 $got"
}

try_cargo() {
  if [ "${CODEREVIEW_NO_CARGO_FALLBACK:-}" = 1 ]; then
    log "cargo fallback disabled"
    return 1
  fi
  command -v cargo >/dev/null 2>&1 || { log "cargo is missing: cannot build from source"; return 1; }
  log "building from source with cargo install --locked (a few minutes)"
  cargo install --locked --quiet --path "$source_dir/action" --root "$install_dir/cargo" >&2
  ln -sf "$install_dir/cargo/bin/codereview" "$install_dir/codereview"
}

if try_release || try_cargo; then
  "$install_dir/codereview" --version >&2
  echo "$install_dir"
else
  log "could not install codereview"
  exit 1
fi
