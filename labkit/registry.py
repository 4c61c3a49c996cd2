"""Image references, registries, ECR lifecycle rules and image scanners, for the image-management lab (module 16).

- `parse_reference`: what a short name such as `python:3.11` really means (`docker.io/library/python:3.11`);
- `Registry`: the OCI distribution API of a registry over HTTP: tags, manifests by tag or digest (the
  digest checked against the bytes), moving a tag without pulling, deleting by digest, the config blob;
- `lifecycle_expired`: which images an ECR lifecycle policy expires, following ECR's documented
  evaluation rules (moto stores lifecycle policies but never runs them, and has no policy preview);
- `reclaimable_bytes`: what removing some images really frees (their layers no other image uses), from
  the engine API (layer chain ids and the history's layer sizes);
- `find_tool` / `run_tool`: locate trivy, syft or grype and run them with a timeout, offline-friendly
  settings and caches in a directory the caller chooses (a missing scanner raises `ToolMissing`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)

#: Semantic Versioning 2.0.0 (semver.org's regular expression): major, minor, patch, pre-release, build.
SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
#: What a registry accepts as a tag (the distribution spec): 1-128 characters, no `+` or `/`.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

DOCKER_HUB = "docker.io"


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ImageRef:
    """A fully qualified image reference: registry host, repository path, tag and/or digest."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(ref: str) -> ImageRef:
    """Normalize a reference the way the Docker CLI does.

    The first path component is a registry host only if it contains `.` or `:` or is `localhost`;
    otherwise the image is on Docker Hub (`docker.io`), where one-component names live under
    `library/` (the official images). Without a tag or digest, the tag is `latest`.
    """
    name, _, digest_part = ref.partition("@")
    digest = digest_part if "@" in ref else None
    if digest is not None and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        raise ValueError(f"{ref!r}: a digest is sha256: and 64 hex digits")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not TAG_RE.fullmatch(tag):
            raise ValueError(f"{ref!r}: {tag!r} is not a valid tag")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
        if "/" not in repository:
            repository = f"library/{repository}"
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = DOCKER_HUB
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", repository):
        raise ValueError(f"{ref!r}: repository {repository!r} must be lower-case path components")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(registry, repository, tag, digest)


# --------------------------------------------------------------------------- the distribution API


class RegistryError(RuntimeError):
    """A registry request failed; the message has the method, URL, status and the registry's answer."""


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry served it: its bytes are what the digest is computed over."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    """A registry's HTTP API (`/v2/...`), for a plain-HTTP local registry or any anonymous one."""

    def __init__(self, address: str, scheme: str = "http", timeout: float = 30.0) -> None:
        self.base = f"{scheme}://{address}/v2"
        self.timeout = timeout

    def _request(
        self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")[:500]
            raise RegistryError(f"{method} {self.base + path} -> {exc.code}: {body}") from None
        except OSError as exc:
            raise RegistryError(f"{method} {self.base + path}: {exc}") from None

    def catalog(self) -> list[str]:
        return json.loads(self._request("GET", "/_catalog")[2]).get("repositories") or []

    def tags(self, repo: str) -> list[str]:
        """The repository's tags (empty when the repository does not exist or has none)."""
        try:
            return json.loads(self._request("GET", f"/{repo}/tags/list")[2]).get("tags") or []
        except RegistryError as exc:
            if "-> 404" in str(exc):
                return []
            raise

    def manifest(self, repo: str, ref: str) -> Manifest:
        """GET the manifest of a tag or digest; the registry's digest is checked against the bytes."""
        _, headers, body = self._request(
            "GET", f"/{repo}/manifests/{ref}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
        )
        headers = {k.lower(): v for k, v in headers.items()}
        digest = sha256_digest(body)
        served = headers.get("docker-content-digest", digest)
        if served != digest:
            raise RegistryError(f"{repo}:{ref}: the registry says {served}, the bytes hash to {digest}")
        media = headers.get("content-type", "").split(";")[0] or json.loads(body).get("mediaType", OCI_MANIFEST)
        return Manifest(body, media, digest)

    def digest(self, repo: str, ref: str) -> str | None:
        """The digest a tag points at now (HEAD request), or None when the tag does not exist."""
        try:
            _, headers, _ = self._request(
                "HEAD", f"/{repo}/manifests/{ref}", headers={"Accept": ", ".join(MANIFEST_TYPES)}
            )
        except RegistryError as exc:
            if "-> 404" in str(exc):
                return None
            raise
        return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        """PUT the manifest bytes under `tag` (creating or moving the tag); returns the stored digest.

        This is how `crane tag` / `skopeo copy` retag without pulling: the layers are already there,
        only the small manifest document travels.
        """
        _, headers, _ = self._request(
            "PUT", f"/{repo}/manifests/{tag}", data=manifest.body, headers={"Content-Type": manifest.media_type}
        )
        return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest", manifest.digest)

    def delete(self, repo: str, digest: str) -> None:
        """DELETE a manifest by digest (every tag pointing at it goes too). Blobs stay until garbage collection."""
        if not digest.startswith("sha256:"):
            raise ValueError("the registry API deletes manifests by digest, not by tag")
        self._request("DELETE", f"/{repo}/manifests/{digest}")

    def blob(self, repo: str, digest: str) -> bytes:
        data = self._request("GET", f"/{repo}/blobs/{digest}")[2]
        if sha256_digest(data) != digest:
            raise RegistryError(f"blob {digest} of {repo}: the bytes do not match the digest")
        return data

    def config(self, repo: str, ref: str) -> dict[str, Any]:
        """The image configuration (env, cmd, labels, history) of a single-platform image."""
        manifest = self.manifest(repo, ref).json()
        if "config" not in manifest:
            raise RegistryError(f"{repo}:{ref} is an index (multi-platform), not an image manifest")
        return json.loads(self.blob(repo, manifest["config"]["digest"]))


# --------------------------------------------------------------------------- ECR lifecycle policies


def _rules(policy: dict | str) -> list[dict]:
    doc = json.loads(policy) if isinstance(policy, str) else policy
    rules = sorted(doc.get("rules") or [], key=lambda r: r["rulePriority"])
    if not rules:
        raise ValueError("a lifecycle policy needs at least one rule")
    priorities = [r["rulePriority"] for r in rules]
    if len(set(priorities)) != len(priorities):
        raise ValueError(f"rule priorities must be unique, saw {priorities}")
    statuses = [r["selection"]["tagStatus"] for r in rules]
    if statuses.count("untagged") > 1:
        raise ValueError("only one rule may select untagged images")
    if "any" in statuses[:-1]:
        raise ValueError("a rule with tagStatus 'any' must have the highest rulePriority")
    for rule in rules:
        sel = rule["selection"]
        if sel["tagStatus"] == "tagged" and not (sel.get("tagPrefixList") or sel.get("tagPatternList")):
            raise ValueError(f"rule {rule['rulePriority']}: tagStatus 'tagged' needs tagPrefixList or tagPatternList")
        if sel["countType"] not in ("imageCountMoreThan", "sinceImagePushed"):
            raise ValueError(f"rule {rule['rulePriority']}: countType {sel['countType']!r} is not evaluated here")
        if sel["countType"] == "sinceImagePushed" and sel.get("countUnit", "days") != "days":
            raise ValueError(f"rule {rule['rulePriority']}: countUnit must be 'days'")
    return rules


def _pattern(p: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in p.split("*")) + "$")


def _selects(sel: dict, tags: list[str]) -> bool:
    status = sel["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return not tags
    if not tags:
        return False
    # ECR: every prefix (or pattern) of the list must match at least one of the image's tags
    prefixes = sel.get("tagPrefixList") or []
    patterns = [_pattern(p) for p in sel.get("tagPatternList") or []]
    return all(any(t.startswith(p) for t in tags) for p in prefixes) and all(
        any(p.match(t) for t in tags) for p in patterns
    )


def _pushed(image: dict) -> datetime:
    at = image["imagePushedAt"]
    if isinstance(at, (int, float)):
        return datetime.fromtimestamp(at, tz=UTC)
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def lifecycle_expired(policy: dict | str, images: list[dict], now: datetime | None = None) -> list[dict]:
    """The images (ECR `describe_images` imageDetails) that `policy` expires, oldest first.

    ECR's rules: rules are applied in rulePriority order; an image is expired by at most one rule,
    and an image selected by a higher-priority rule can't be expired by a lower-priority one (it is
    still counted by them); `imageCountMoreThan` keeps the newest N selected images; `sinceImagePushed`
    expires selected images pushed more than N days before `now`. Images pushed in the same second
    (moto's timestamps have one-second resolution) keep the order of `images`, oldest first.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    order = sorted(range(len(images)), key=lambda i: (_pushed(images[i]), i))  # oldest first
    claimed: set[int] = set()
    expired: set[int] = set()
    for rule in _rules(policy):
        sel = rule["selection"]
        if rule.get("action", {}).get("type", "expire") != "expire":
            continue
        chosen = [i for i in order if _selects(sel, images[i].get("imageTags") or [])]
        if sel["countType"] == "imageCountMoreThan":
            newest_first = chosen[::-1]
            candidates = newest_first[int(sel["countNumber"]) :]
        else:
            limit = now - timedelta(days=int(sel["countNumber"]))
            candidates = [i for i in chosen if _pushed(images[i]) < limit]
        expired.update(i for i in candidates if i not in claimed)
        claimed.update(chosen)
    return [images[i] for i in order if i in expired]


# --------------------------------------------------------------------------- engine disk usage


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def engine_api(path: str, method: str = "GET", host: str | None = None, timeout: float = 60.0) -> Any:
    """Call the Docker Engine API (podman serves the same API) at CONTAINER_HOST/DOCKER_HOST; parsed JSON."""
    host = host or os.environ.get("CONTAINER_HOST") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    url = urlparse(host)
    if url.scheme == "unix":
        conn: http.client.HTTPConnection = _UnixConnection(url.path, timeout)
    elif url.scheme in ("tcp", "http"):
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 2375, timeout=timeout)
    else:
        raise ValueError(f"engine host {host!r}: only unix:// and tcp:// are supported here")
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path} -> {resp.status}: {body.decode(errors='replace')[:500]}")
    return json.loads(body) if body else None


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: a layer's identity *with everything below it* (the same diff on another parent is
    another layer on disk). ChainID(L1) = DiffID(L1); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chains: list[str] = []
    for diff in diff_ids:
        chains.append(diff if not chains else sha256_digest(f"{chains[-1]} {diff}".encode()))
    return chains


@dataclass(frozen=True)
class Layer:
    """One filesystem layer of a local image: its chain id, diff id and uncompressed size in bytes."""

    chain_id: str
    diff_id: str
    size: int


def image_layers(image: str, host: str | None = None) -> list[Layer]:
    """An image's layers, bottom first, with sizes from the engine's history (empty-layer steps skipped)."""
    diff_ids = engine_api(f"/v1.41/images/{image}/json", host=host)["RootFS"]["Layers"]
    history = engine_api(f"/v1.41/images/{image}/history", host=host)  # newest first
    sizes = [int(h.get("Size", 0)) for h in reversed(history) if int(h.get("Size", 0)) > 0]
    if len(sizes) != len(diff_ids):
        # a layer with an empty diff has size 0 in the history: only safe to pad when sizes are all known
        if len(sizes) > len(diff_ids):
            raise RuntimeError(f"{image}: {len(sizes)} sized history entries for {len(diff_ids)} layers")
        sizes += [0] * (len(diff_ids) - len(sizes))
    return [Layer(c, d, s) for c, d, s in zip(chain_ids(diff_ids), diff_ids, sizes, strict=True)]


def local_images(host: str | None = None, attempts: int = 5) -> list[str]:
    """Ids of every image in the engine's store, intermediate build images included.

    On a shared engine an image can vanish while podman lists the store (it then answers 500, "image not
    known"): the listing is retried.
    """
    for attempt in range(attempts):
        try:
            return [img["Id"].removeprefix("sha256:") for img in engine_api("/v1.41/images/json?all=true", host=host)]
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    return []


def _layers_or_none(image: str, host: str | None) -> list[str] | None:
    try:
        return engine_api(f"/v1.41/images/{image}/json", host=host)["RootFS"]["Layers"]
    except RuntimeError:  # removed meanwhile (the engine is shared)
        return None


def reclaimable_bytes(images: list[str], host: str | None = None) -> int:
    """What removing `images` frees: the sizes of their layers that no other local image uses.

    An image's size counts every layer under it, the shared base included; two images built on the
    same base share those bytes on disk, so removing one frees only its own layers. Every other image
    in the store is inspected (in parallel) to know which layers are still in use.
    """
    targets = {i.removeprefix("sha256:") for i in images}
    others = [i for i in local_images(host) if i not in targets]
    used_elsewhere: set[str] = set()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for diff_ids in pool.map(lambda i: _layers_or_none(i, host), others):
            used_elsewhere.update(chain_ids(diff_ids or []))
    freed: dict[str, int] = {}
    for image in targets:
        for layer in image_layers(image, host):
            if layer.chain_id not in used_elsewhere:
                freed[layer.chain_id] = layer.size
    return sum(freed.values())


# --------------------------------------------------------------------------- scanners


class ToolMissing(RuntimeError):
    """The scanner is not installed here; the message says how to get it."""


INSTALL = {
    "trivy": "go install github.com/aquasecurity/trivy/cmd/trivy@v0.74.0 (or the release binary from GitHub)",
    "syft": "go install github.com/anchore/syft/cmd/syft@v1.57.1 (or the release binary from GitHub)",
    "grype": "go install github.com/anchore/grype/cmd/grype@latest (needs its vulnerability DB download)",
}


def find_tool(name: str) -> str | None:
    """The scanner's path: $<NAME>_BIN, then PATH, then /usr/local/bin and ~/go/bin."""
    candidates = [os.environ.get(f"{name.upper()}_BIN", ""), shutil.which(name) or ""]
    candidates += [f"/usr/local/bin/{name}", str(Path.home() / "go" / "bin" / name)]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def tool_env(name: str, cache: Path | str) -> dict[str, str]:
    """Environment for a scanner run: caches and temp files under `cache`, no update checks or telemetry."""
    cache = Path(cache)
    tmp = cache / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "XDG_CACHE_HOME": str(cache)}
    if name == "syft":
        env.update(SYFT_CHECK_FOR_APP_UPDATE="false", SYFT_CACHE_DIR=str(cache / "syft"))
    if name == "grype":
        env.update(GRYPE_CHECK_FOR_APP_UPDATE="false", GRYPE_DB_CACHE_DIR=str(cache / "grype-db"))
    if name == "trivy":
        env.update(TRIVY_CACHE_DIR=str(cache / "trivy"), TRIVY_DISABLE_TELEMETRY="true", TRIVY_NO_PROGRESS="true")
    return env


def run_tool(name: str, *args: str, cache: Path | str, timeout: float = 180.0) -> subprocess.CompletedProcess:
    """Run a scanner (never raises on its exit code: scanners use it for findings); ToolMissing if absent."""
    binary = find_tool(name)
    if binary is None:
        raise ToolMissing(f"{name} is not installed on this machine: {INSTALL.get(name, 'install it')}")
    try:
        return subprocess.run(
            [binary, *args],
            env=tool_env(name, cache),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{name} {' '.join(args)} did not finish in {timeout:.0f} s") from exc


def misconfigurations(path: Path | str, cache: Path | str, timeout: float = 180.0) -> list[dict[str, str]]:
    """`trivy config`'s failed checks for a file or directory, with the checks built into trivy (offline).

    Each finding: id (e.g. DS002), avd_id, severity, title, target (the file), message.
    """
    proc = run_tool(
        "trivy",
        "config",
        "--skip-check-update",
        "--skip-version-check",
        "--disable-telemetry",
        "--format",
        "json",
        "--quiet",
        "--file-patterns",
        "dockerfile:Containerfile",
        str(path),
        cache=cache,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"trivy config {path} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    doc = json.loads(proc.stdout or "{}")
    found = []
    for result in doc.get("Results") or []:
        for m in result.get("Misconfigurations") or []:
            if m.get("Status", "FAIL") == "FAIL":
                found.append(
                    {
                        "id": m.get("ID", ""),
                        "avd_id": m.get("AVDID", ""),
                        "severity": m.get("Severity", ""),
                        "title": m.get("Title", ""),
                        "target": result.get("Target", ""),
                        "message": m.get("Message", ""),
                    }
                )
    return found
