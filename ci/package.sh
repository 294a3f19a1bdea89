#!/usr/bin/env bash
# Builds Ebb's release artifacts into dist/:
#   dist/ebb_<version>_amd64.deb               /usr/bin/ebb, examples, completions, man page
#   dist/ebb-<version>-linux-x86_64.tar.gz     the same files under ebb-<version>-linux-x86_64/
#                                              (bin/, share/...): extract into /usr/local with
#                                              --strip-components=1
#   dist/SHA256SUMS
# The binary is a release build with the Swift runtime linked in (--static-swift-stdlib),
# stripped: it runs on Debian 12 / Ubuntu 22.04+ with no Swift installed. Its `Depends:` are
# the packages of the shared libraries it links, found by dpkg-shlibdeps from its NEEDED
# entries (never written by hand).
#
# Version: the VERSION file; past the tag v<VERSION> (or with no such tag) `git describe`'s
# distance and commit are appended (0.1.0+3.gabc1234), and ".dirty" for uncommitted changes.
# The build runs in a copy of the tree (.build-release/src) whose Sources/ebb/Version.swift
# says that version, so the working tree is never modified.
#
# Usage: ci/package.sh            (prints the paths it wrote; EBB_DIST overrides dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
source ci/packages.sh
# rsync keeps the build copy's unchanged files (and their inodes) so that rebuilds are incremental;
# dpkg-dev brings dpkg-shlibdeps; binutils strip and objdump.
ensure_packages "${EBB_BUILD_PACKAGES[@]}" rsync dpkg-dev binutils

base_version=$(tr -d ' \n' < VERSION)
version=$base_version
if git rev-parse --git-dir >/dev/null 2>&1; then
    if git rev-parse -q --verify "refs/tags/v$base_version" >/dev/null; then
        described=$(git describe --tags --match "v$base_version" --long)      # v0.1.0-3-gabc1234
        distance=$(echo "$described" | sed -E 's/.*-([0-9]+)-g[0-9a-f]+$/\1/')
        [ "$distance" != 0 ] && version="$base_version+$distance.g$(git rev-parse --short=7 HEAD)"
    else
        version="$base_version+g$(git rev-parse --short=7 HEAD)"
    fi
    git diff --quiet HEAD -- 2>/dev/null || version="$version.dirty"
fi
echo "ebb: packaging version $version"

work=$repo/.build-release
stage=$work/src
scratch=$work/scratch
mkdir -p "$stage" "$scratch"
rsync -a --delete --exclude '/.build*' --exclude '/.git' --exclude '/.cache' --exclude '/.ebb' \
    --exclude '/.ci-venv' --exclude '/reports' --exclude '/dist' --exclude '/.swiftpm' "$repo/" "$stage/"
sed -i -E "s/static let current = \".*\"/static let current = \"$version\"/" "$stage/Sources/ebb/Version.swift"
grep -q "\"$version\"" "$stage/Sources/ebb/Version.swift"

swift build -c release --static-swift-stdlib --product ebb --package-path "$stage" --scratch-path "$scratch"
built="$(swift build -c release --static-swift-stdlib --package-path "$stage" --scratch-path "$scratch" --show-bin-path)/ebb"

# The manual comes from argument-parser's own generator (the tool behind its generate-manual
# plugin), built from the checkout the package resolved. The plugin itself would build the whole
# package once more in another configuration, for the same page.
parser="$scratch/checkouts/swift-argument-parser"
swift build -c release --product generate-manual --package-path "$parser" --scratch-path "$work/tools"
generate_manual="$(swift build -c release --package-path "$parser" --scratch-path "$work/tools" --show-bin-path)/generate-manual"

root=$work/root
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/usr/share/ebb" "$root/usr/share/man/man1" "$root/usr/share/doc/ebb" "$root/usr/lib/systemd/system" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
install -m 755 "$built" "$root/usr/bin/ebb"
strip --strip-all "$root/usr/bin/ebb"
ebb="$root/usr/bin/ebb"
[ "$("$ebb" --version)" = "$version" ] || { echo "ebb: the built binary says $("$ebb" --version), not $version" >&2; exit 1; }

# The examples: every suite of Scenarios/ with the files they use, and their README.
cp -a Scenarios "$root/usr/share/ebb/examples"
"$ebb" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/ebb"
"$ebb" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_ebb"
"$ebb" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/ebb.fish"
manual_date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
"$generate_manual" "$ebb" --date "$manual_date" --output-directory "$root/usr/share/man/man1"
gzip -9n "$root/usr/share/man/man1/ebb.1"
# The documentation: README, ARCHITECTURE, CONTRIBUTING and docs/ (guide, reference, the report's
# picture), side by side as in the repository so that the links between them hold.
cp README.md ARCHITECTURE.md CONTRIBUTING.md "$root/usr/share/doc/ebb/"
cp -r docs "$root/usr/share/doc/ebb/docs"
# The sweep timer: installed, not enabled (systemctl enable --now ebb-sweep.timer; ARCHITECTURE.md).
install -m 644 packaging/systemd/ebb-sweep.service packaging/systemd/ebb-sweep.timer "$root/usr/lib/systemd/system/"
find "$root" -type d -exec chmod 755 {} +
find "$root/usr/share" -type f -exec chmod 644 {} +
chmod 755 "$root/usr/share/ebb/examples/linux-network/sandbox.sh"

# Depends: dpkg-shlibdeps maps each NEEDED library of the binary to the package that ships it,
# with the minimum version its symbols need.
mkdir -p "$root/DEBIAN"   # dpkg-shlibdeps finds the package's root by it
shlib=$work/shlibdeps
rm -rf "$shlib"
mkdir -p "$shlib/debian"
printf 'Source: ebb\n\nPackage: ebb\nArchitecture: amd64\n' > "$shlib/debian/control"
depends=$(cd "$shlib" && dpkg-shlibdeps -O "$ebb" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "ebb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

cat > "$root/DEBIAN/control" <<EOF
Package: ebb
Version: $version
Architecture: amd64
Maintainer: Ebb maintainers <maintainers@users.noreply.github.com>
Section: devel
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: nftables, iptables, iproute2, stress-ng
Homepage: https://github.com/your-org/ebb
Description: chaos scenarios for CI with guaranteed, verified rollback
 Ebb runs chaos suites described in YAML: it checks the steady state, injects faults
 (pausing processes, corrupting files, filling disks, network faults, Kubernetes faults),
 samples health checks and metrics while they are live, rolls every fault back newest-first
 and verifies it is gone. Each fault's undo is journalled on disk before it is injected, so
 'ebb rollback execute' can revert it even after the runner died.
 .
 Example suites are in /usr/share/ebb/examples; copy them to a writable folder to run them.
EOF

dist=${EBB_DIST:-$repo/dist}
mkdir -p "$dist"
deb="$dist/ebb_${version}_amd64.deb"
tarball="$dist/ebb-${version}-linux-x86_64.tar.gz"
rm -f "$dist"/ebb_*_amd64.deb "$dist"/ebb-*-linux-x86_64.tar.gz "$dist/SHA256SUMS"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null

tree=$work/tarball/ebb-${version}-linux-x86_64
rm -rf "$work/tarball"
mkdir -p "$tree"
cp -a "$root/usr/." "$tree/"
tar --owner=0 --group=0 --numeric-owner --sort=name -C "$work/tarball" -czf "$tarball" "ebb-${version}-linux-x86_64"
(cd "$dist" && sha256sum "$(basename "$deb")" "$(basename "$tarball")" > SHA256SUMS)

echo "ebb: binary $(stat -c %s "$ebb") bytes, Depends: $depends"
echo "$deb"
echo "$tarball"
echo "$dist/SHA256SUMS"
