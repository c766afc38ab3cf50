#!/bin/bash
# Builds the scenario's artifacts in OUT (and nowhere else on this machine) and writes
# OUT/catalog.yml: taco_artifacts entries per node with file:// URLs and real sha256.
#   - Debian packages as they are (kind deb): bookworm's containerd 1.6, runc, CNI plugins.
#   - Upstream-layout release files (kinds archive/binary) repacked from Debian's real
#     binaries: containerd 2.x (sid) as bin/* in a tarball, runc as a bare binary, the CNI
#     plugins (sid) as a flat tgz -- the shapes the upstream releases have.
#   - A one-layer OCI image holding a static busybox, to run a container through containerd.
# apt runs with its own lists and cache under OUT, so the machine's apt state is untouched.
set -euo pipefail
OUT=$(realpath "$1")
ARCH=$(dpkg --print-architecture)
MIRROR=${TACO_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$OUT"
cd "$OUT"

fetch_debs() {  # suite, packages...
  local suite=$1; shift
  local apt="$OUT/apt-$suite"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$OUT/$suite"
  echo "deb [signed-by=$KEYRING] $MIRROR $suite main" > "$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/none"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
              -o "Dir::State::status=/dev/null" -o "Debug::NoLocking=1"
              -o "APT::Sandbox::User=root" -o "APT::Architecture=$ARCH" -qq)
  apt-get "${opts[@]}" update
  (cd "$OUT/$suite" && apt-get "${opts[@]}" download "$@")
}

fetch_debs bookworm containerd runc containernetworking-plugins busybox-static
fetch_debs sid containerd containernetworking-plugins

deb_version() { dpkg-deb -f "$1" Version | sed -E 's/^[0-9]+://; s/[~+].*$//'; }

# --- Upstream-shaped release files from the real binaries
rm -rf repack && mkdir -p repack release
dpkg-deb -x sid/containerd_*.deb repack/containerd
CONTAINERD_V=$(deb_version sid/containerd_*.deb)
tar -C repack/containerd/usr -czf "release/containerd-$CONTAINERD_V-linux-$ARCH.tar.gz" \
  bin/containerd bin/containerd-shim-runc-v2 bin/ctr
dpkg-deb -x bookworm/runc_*.deb repack/runc
RUNC_V=$(deb_version bookworm/runc_*.deb)
cp repack/runc/usr/sbin/runc "release/runc.$ARCH"
dpkg-deb -x sid/containernetworking-plugins_*.deb repack/cni
CNI_V=$(deb_version sid/containernetworking-plugins_*.deb)
tar -C repack/cni/usr/lib/cni -czf "release/cni-plugins-linux-$ARCH-v$CNI_V.tgz" .

# --- A one-layer OCI image with a static busybox
dpkg-deb -x bookworm/busybox-static_*.deb repack/busybox
mkdir -p repack/rootfs/bin oci/blobs/sha256
cp repack/busybox/bin/busybox repack/rootfs/bin/busybox
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C repack/rootfs -cf repack/layer.tar bin
blob() {  # file -> "digest size", moved into the layout
  local d s
  d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  mv "$1" "oci/blobs/sha256/$d"; echo "$d $s"
}
read -r LAYER LAYER_SIZE < <(blob repack/layer.tar)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/busybox","sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$ARCH" "$LAYER" > repack/config.json
read -r CONFIG CONFIG_SIZE < <(blob repack/config.json)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$CONFIG" "$CONFIG_SIZE" "$LAYER" "$LAYER_SIZE" > repack/manifest.json
read -r MANIFEST MANIFEST_SIZE < <(blob repack/manifest.json)
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
  "$MANIFEST" "$MANIFEST_SIZE" > oci/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > oci/oci-layout
tar -C oci -cf busybox-oci.tar .

# --- The catalog
entry() {  # name kind version file
  printf '    %s:\n      kind: %s\n      version: "%s"\n      filename: %s\n' "$1" "$2" "$3" "$(basename "$4")"
  printf '      url: {%s: "file://%s"}\n' "$ARCH" "$OUT/$4"
  printf '      sha256: {%s: %s}\n' "$ARCH" "$(sha256sum "$4" | cut -d' ' -f1)"
}
{
  echo "container_runtime_test_catalogs:"
  echo "  crt-node1:"
  entry containerd deb "$(deb_version bookworm/containerd_*.deb)" bookworm/containerd_*.deb
  entry runc deb "$RUNC_V" bookworm/runc_*.deb
  entry cni_plugins deb "$(deb_version bookworm/containernetworking-plugins_*.deb)" bookworm/containernetworking-plugins_*.deb
  echo "  crt-node2:"
  entry containerd archive "$CONTAINERD_V" "release/containerd-$CONTAINERD_V-linux-$ARCH.tar.gz"
  entry runc binary "$RUNC_V" "release/runc.$ARCH"
  entry cni_plugins archive "$CNI_V" "release/cni-plugins-linux-$ARCH-v$CNI_V.tgz"
  echo "container_runtime_test_image: $OUT/busybox-oci.tar"
} > catalog.yml
rm -rf repack apt-bookworm apt-sid
