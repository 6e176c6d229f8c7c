# The two base images, made from the Debian mirror with mmdebstrap (sourced by scripts/build-images).
# scripts/build-images tags them with a hash of this file: change a recipe here and they are rebuilt,
# otherwise they are reused from local podman storage.
#
# runtime: the same content as gcr.io/distroless/python3-debian12:nonroot: Debian 12's python3.11 with its
#   standard library, libstdc++ (distroless python3 is built on distroless cc), CA certificates and tzdata, users root and nonroot (65532), and no shell, no package
#   manager (the `extract` variant unpacks the packages and their dependencies without running any
#   maintainer script, so nothing else is pulled in).
# build: Debian 12's python3 with venv and pip, the stage that installs the wheels (same Python ABI).

DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=http://deb.debian.org/debian
# An imported tarball has no image config: give it the PATH distroless images set.
BASE_IMAGE_CHANGES=(--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")

make_runtime_base() {  # $1: output tarball
  local root
  root="$(mktemp -d)"
  mmdebstrap --quiet --variant=extract --format=directory \
    --include=python3.11-minimal,libpython3.11-stdlib,libstdc++6,ca-certificates,tzdata,netbase \
    "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR"
  # What the packages' maintainer scripts (not run by `extract`) and distroless would add:
  ln -s python3.11 "$root/usr/bin/python3"
  mkdir -p "$root/etc/ssl/certs" "$root/root" "$root/home/nonroot" "$root/tmp"
  cat "$root"/usr/share/ca-certificates/*/*.crt > "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$root/etc/group"
  chown 65532:65532 "$root/home/nonroot"
  chmod 700 "$root/root"
  chmod 1777 "$root/tmp"
  # Documentation, and tools that need a shell or perl, which the image does not have.
  rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/lintian \
    "$root"/var/cache/* "$root"/var/lib/apt/lists/* "$root"/usr/bin/debconf* "$root"/usr/bin/c_rehash
  tar --numeric-owner -C "$root" -cf "$1" .
  rm -rf "$root"
}

make_build_base() {  # $1: output tarball
  mmdebstrap --quiet --variant=essential --format=tar \
    --include=python3,python3-venv,ca-certificates \
    "$DEBIAN_SUITE" "$1" "$DEBIAN_MIRROR"
}
