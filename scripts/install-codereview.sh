#!/usr/bin/env bash
# Install the `codereview` binary that the action's own checkout names, and nothing else.
#
# - The version defaults to the one in the checkout's Cargo.toml ([workspace.package] version),
#   so `uses: codereview/codereview@<ref>` runs the release built from <ref>. `latest` is refused.
# - A downloaded release asset is used only when a checksum that does NOT come from the release
#   host vouches for it: the file release-checksums/<version>.sha256 committed in this repository
#   (read from the checkout, never downloaded), or, when the checkout is the release tag itself,
#   GitHub's build provenance attestation checked with `gh attestation verify`. The `.sha256`
#   published next to the asset is never trusted: whoever can replace the asset can replace it.
# - Otherwise the checkout's own sources are built with `cargo install --locked --path` (nothing
#   is fetched from the network but crates). An unverified download is never run.
#
# Prints the directory holding the binary on stdout (last line); everything else goes to stderr.
#
# Environment:
#   CODEREVIEW_VERSION      release tag to install (vX.Y.Z); default: v + the checkout's version
#   CODEREVIEW_RELEASE_URL  base URL of the releases (default https://github.com/codereview/codereview/releases)
#   CODEREVIEW_SOURCE       the action's checkout: version, release-checksums/ and the sources for the
#                           cargo fallback (default: this script's repository)
#   CODEREVIEW_INSTALL_DIR  where to put the binary (default: $RUNNER_TEMP or /tmp, + /codereview-bin)
#   CODEREVIEW_ACTION_REF   the ref the action is used at (`github.action_ref`): when it is the
#                           version's tag, a provenance attestation may stand in for the checksum
#   CODEREVIEW_ATTESTATION_REPO  owner/name whose release workflow signs the assets
#                           (default codereview/codereview)
#   CODEREVIEW_NO_CARGO_FALLBACK=1  fail instead of building from source
#
# Modes: --print-version prints the version it would install; --print-source-digest prints the
# digest of the checkout's sources that release.yml records in release-checksums/<tag>.sha256.
set -euo pipefail

log() { printf 'codereview install: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

release_url=${CODEREVIEW_RELEASE_URL:-https://github.com/codereview/codereview/releases}
source_dir=${CODEREVIEW_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
attestation_repo=${CODEREVIEW_ATTESTATION_REPO:-codereview/codereview}
action_ref=${CODEREVIEW_ACTION_REF:-}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"
  else shasum -a 256 "$@"; fi
}

# The version in the checkout's root Cargo.toml ([workspace.package] version), tag-shaped.
pinned_version() {
  local manifest="$source_dir/Cargo.toml" v
  [ -f "$manifest" ] || return 0
  v=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
  [ -n "$v" ] && printf 'v%s\n' "$v"
  return 0
}

# SHA-256 over the checkout's files (path and content, sorted by path), leaving out what does not
# go into the binary's build: .git, target, release-checksums and Markdown. Equal digests mean the
# checkout holds exactly the sources a release was built from.
source_digest() {
  (
    cd "$source_dir"
    find . \( -path ./.git -o -path ./target -o -path ./release-checksums \) -prune \
      -o -type f ! -name '*.md' -print0 \
      | LC_ALL=C sort -z | { if command -v sha256sum >/dev/null 2>&1; then xargs -0 -r sha256sum --; else xargs -0 -r shasum -a 256 --; fi; } \
      | sha256 | cut -d' ' -f1
  )
}

pinned=$(pinned_version)
case "${1:-}" in
  --print-source-digest) source_digest; exit 0 ;;
  --print-version) ;;
  "") ;;
  *) die "unknown argument $1 (expected --print-version or --print-source-digest)" ;;
esac

version=${CODEREVIEW_VERSION:-$pinned}
if [ "$version" = latest ]; then
  die "version \"latest\" is refused: the action runs the release its own ref names. Leave version empty (it is $pinned for this ref) or give a release tag such as $pinned"
fi
[ -n "$version" ] || die "no version given and none found in $source_dir/Cargo.toml"
# Tag-shaped only: the version names a file of this checkout and a URL path.
if ! printf '%s\n' "$version" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'; then
  die "version \"$version\" is not a release tag such as v1.2.3"
fi
if [ "${1:-}" = --print-version ]; then
  printf '%s\n' "$version"
  exit 0
fi

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
asset="codereview-$target.tar.gz"
checksums="$source_dir/release-checksums/$version.sha256"

# How the download will be verified: "checksum <hex>", "attestation", or "" (it will not be).
verification=""
if [ -f "$checksums" ]; then
  want=$(awk -v a="$asset" '$1 !~ /^#/ && ($2 == a || $2 == "*" a) { print $1; exit }' "$checksums")
  recorded=$(sed -n 's/^# source-digest \([0-9a-f]*\).*/\1/p' "$checksums" | head -n 1)
  if [ -z "$want" ]; then
    log "$checksums has no checksum for $asset"
  elif [ "$version" = "$pinned" ] && [ -n "$recorded" ] && [ "$recorded" != "$(source_digest)" ]; then
    # The checkout says vX but its sources are not vX's: the release binary is not what this ref
    # names (for example a commit of the default branch after the release).
    log "this checkout's sources differ from release $version's: not using the release binary"
  else
    verification="checksum $want"
  fi
elif [ -n "$action_ref" ] && [ "$action_ref" = "$version" ]; then
  if command -v gh >/dev/null 2>&1; then
    verification=attestation
  else
    log "no committed checksum for $version and no gh to check its provenance attestation"
  fi
else
  log "no committed checksum for $version in $source_dir/release-checksums"
fi

try_release() {
  [ -n "$verification" ] || return 1
  [ -n "$target" ] || { log "no prebuilt binary for $os/$arch"; return 1; }
  command -v curl >/dev/null 2>&1 || { log "curl is missing"; return 1; }
  local url="$release_url/download/$version/$asset" tmp got
  tmp=$(mktemp -d)
  if ! curl -fsSL --retry 3 -o "$tmp/$asset" "$url"; then
    log "could not download $url"
    return 1
  fi
  got=$(sha256 "$tmp/$asset" | cut -d' ' -f1)
  case "$verification" in
    checksum\ *)
      if [ "${verification#checksum }" != "$got" ]; then
        log "checksum mismatch for $asset (release-checksums/$version.sha256 says ${verification#checksum }, got $got): not using it"
        return 1
      fi
      ;;
    attestation)
      if ! gh attestation verify "$tmp/$asset" --repo "$attestation_repo" \
        --signer-workflow "$attestation_repo/.github/workflows/release.yml" \
        --source-ref "refs/tags/$version" --deny-self-hosted-runners >&2; then
        log "the provenance attestation of $asset does not check out: not using it"
        return 1
      fi
      ;;
  esac
  mkdir "$tmp/unpacked"
  tar -xzf "$tmp/$asset" -C "$tmp/unpacked" codereview
  install -m 0755 "$tmp/unpacked/codereview" "$install_dir/codereview"
  log "installed $asset ($version), sha256 $got, verified by ${verification%% *}"
}

try_cargo() {
  if [ "${CODEREVIEW_NO_CARGO_FALLBACK:-}" = 1 ]; then
    log "cargo fallback disabled"
    return 1
  fi
  if [ "$version" != "$pinned" ]; then
    log "cannot build $version from this checkout (it holds ${pinned:-no version}): pin the action to $version, or leave version empty"
    return 1
  fi
  command -v cargo >/dev/null 2>&1 || { log "cargo is missing: cannot build from source"; return 1; }
  log "building $version from the action's own sources with cargo install --locked (a few minutes)"
  cargo install --locked --quiet --path "$source_dir/action" --root "$install_dir/cargo" >&2
  ln -sf "$install_dir/cargo/bin/codereview" "$install_dir/codereview"
}

if try_release || try_cargo; then
  "$install_dir/codereview" --version >&2
  echo "$install_dir"
else
  die "could not install codereview $version"
fi
