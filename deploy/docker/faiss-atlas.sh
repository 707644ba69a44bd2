#!/bin/sh
# faiss-atlas.sh SITE_PACKAGES ROOT: link FAISS against Debian's ATLAS (BLAS and LAPACK,
# with libgfortran about 15 MB) instead of the OpenBLAS its wheel bundles (42 MB), and put
# those libraries under ROOT with their Debian package records (/var/lib/dpkg/status.d, as
# distroless keeps them), so scanners and SBOMs see them. FAISS calls BLAS for batches only
# (IVF training and assignment, batch searches), never for one query; there ATLAS's sgemm
# runs at about half OpenBLAS's speed (docs/containers.md has the figures).
set -eu
site=$1 root=$2
arch=$(python3.11 -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH"))')
vendored=$site/faiss_cpu.libs
openblas=$(cd "$vendored" && ls libopenblas*.so*)
# (one change per run: patchelf 0.14 garbles the two made at once)
patchelf --replace-needed "$openblas" liblapack.so.3 "$site/faiss/libfaiss.so"
patchelf --add-needed libblas.so.3 "$site/faiss/libfaiss.so"
readelf -d "$site/faiss/libfaiss.so" | grep -q 'NEEDED.*\[liblapack\.so\.3\]'
# OpenBLAS and its Fortran runtime were FAISS's only users of these
rm -f "$vendored/$openblas" "$vendored"/libgfortran-*.so* "$vendored"/libquadmath-*.so*
mkdir -p "$root/usr/lib/$arch" "$root/var/lib/dpkg/status.d"
for lib in libblas.so.3 liblapack.so.3 libatlas.so.3 libgfortran.so.5 libquadmath.so.0; do
  cp "$(readlink -f "/usr/lib/$arch/$lib")" "$root/usr/lib/$arch/$lib"
done
for pkg in libatlas3-base libgfortran5 libquadmath0; do
  dpkg-query -s "$pkg" | grep -v -E '^(Status|Conffiles):|^ /' > "$root/var/lib/dpkg/status.d/$pkg"
done
