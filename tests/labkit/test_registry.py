"""labkit.registry: references, the distribution API (against an in-process stub), ECR lifecycle rules,
layer accounting over the engine API (a unix-socket stub), scanner lookup."""

from __future__ import annotations

import json
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from labkit import registry as reg

# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("python:3.11-slim", "docker.io/library/python:3.11-slim"),
        ("python", "docker.io/library/python:latest"),
        ("bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest"),
        ("localhost/mlops-labs/debian:bookworm", "localhost/mlops-labs/debian:bookworm"),
        ("127.0.0.1:5050/m016-x-scorer:1.0.0", "127.0.0.1:5050/m016-x-scorer:1.0.0"),
        (
            "1234.dkr.ecr.us-east-1.amazonaws.com/team/app:sha-abc1234",
            "1234.dkr.ecr.us-east-1.amazonaws.com/team/app:sha-abc1234",
        ),
        ("ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io/org/app@sha256:" + "a" * 64),
        ("ghcr.io/org/app:1.0@sha256:" + "b" * 64, "ghcr.io/org/app:1.0@sha256:" + "b" * 64),
    ],
)
def test_parse_reference_normalizes_like_the_docker_cli(ref, expected):
    assert str(reg.parse_reference(ref)) == expected


def test_parse_reference_rejects_bad_names():
    for bad in ("Python:3.11", "app@sha256:123", "app:bad+tag"):
        with pytest.raises(ValueError):
            reg.parse_reference(bad)


def test_semver_regex():
    assert reg.SEMVER_RE.fullmatch("1.2.3")["patch"] == "3"
    assert reg.SEMVER_RE.fullmatch("2.0.0-rc.1")["prerelease"] == "rc.1"
    assert reg.SEMVER_RE.fullmatch("1.0.0+build.5")["build"] == "build.5"
    for bad in ("1.2", "v1.2.3", "01.2.3", "1.2.3-"):
        assert reg.SEMVER_RE.fullmatch(bad) is None, bad


# --------------------------------------------------------------------------- the distribution API


class _Stub(BaseHTTPRequestHandler):
    manifests: ClassVar[dict[str, tuple[bytes, str]]] = {}
    corrupt = False

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _manifest(self):
        _, _, repo, _, ref = self.path.split("/", 4)
        key = f"{repo}:{ref}"
        if key not in self.manifests:
            return self._send(404, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}')
        body, media = self.manifests[key]
        digest = reg.sha256_digest(body) if not self.corrupt else "sha256:" + "0" * 64
        self._send(200, body, {"Content-Type": media, "Docker-Content-Digest": digest})

    def do_GET(self):
        if self.path.endswith("/tags/list"):
            repo = self.path.split("/")[2]
            tags = sorted(k.split(":", 1)[1] for k in self.manifests if k.startswith(repo + ":") and ":sha256" not in k)
            return self._send(200, json.dumps({"name": repo, "tags": tags}).encode())
        return self._manifest()

    do_HEAD = do_GET

    def do_PUT(self):
        _, _, repo, _, ref = self.path.split("/", 4)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        media = self.headers["Content-Type"]
        self.manifests[f"{repo}:{ref}"] = (body, media)
        self.manifests[f"{repo}:{reg.sha256_digest(body)}"] = (body, media)
        self._send(201, b"", {"Docker-Content-Digest": reg.sha256_digest(body)})

    def do_DELETE(self):
        _, _, repo, _, digest = self.path.split("/", 4)
        body = self.manifests.get(f"{repo}:{digest}", (None,))[0]
        for key in [k for k, v in self.manifests.items() if k.startswith(repo + ":") and v[0] == body]:
            del self.manifests[key]
        self._send(202)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_registry():
    _Stub.manifests, _Stub.corrupt = {}, False
    server = HTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield reg.Registry(f"127.0.0.1:{server.server_address[1]}", timeout=5)
    server.shutdown()


def test_registry_moves_a_tag_by_putting_the_same_bytes_and_deletes_by_digest(stub_registry):
    body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}'
    manifest = reg.Manifest(body, reg.OCI_MANIFEST, reg.sha256_digest(body))
    assert stub_registry.put_manifest("app", "1.0.0", manifest) == manifest.digest
    got = stub_registry.manifest("app", "1.0.0")
    assert got.body == body and got.digest == manifest.digest and got.media_type == reg.OCI_MANIFEST
    stub_registry.put_manifest("app", "prod", got)
    assert stub_registry.digest("app", "prod") == manifest.digest
    assert sorted(stub_registry.tags("app")) == ["1.0.0", "prod"]
    assert stub_registry.digest("app", "missing") is None
    assert stub_registry.tags("nothing-here") == []
    with pytest.raises(ValueError):
        stub_registry.delete("app", "1.0.0")
    stub_registry.delete("app", manifest.digest)
    assert stub_registry.tags("app") == []


def test_registry_rejects_a_digest_that_does_not_match_the_bytes(stub_registry):
    body = b'{"schemaVersion": 2}'
    stub_registry.put_manifest("app", "1", reg.Manifest(body, reg.OCI_MANIFEST, reg.sha256_digest(body)))
    _Stub.corrupt = True
    with pytest.raises(reg.RegistryError, match="hash to"):
        stub_registry.manifest("app", "1")


# --------------------------------------------------------------------------- ECR lifecycle rules

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _img(digest, tags, days):
    return {"imageDigest": digest, "imageTags": tags, "imagePushedAt": T0 + timedelta(days=days)}


def _rule(priority, **selection):
    return {"rulePriority": priority, "selection": selection, "action": {"type": "expire"}}


KEEP_PROD = _rule(1, tagStatus="tagged", tagPrefixList=["prod"], countType="imageCountMoreThan", countNumber=9999)
UNTAGGED_1D = _rule(2, tagStatus="untagged", countType="sinceImagePushed", countUnit="days", countNumber=1)
KEEP_2_RELEASES = _rule(3, tagStatus="tagged", tagPatternList=["*.*.*"], countType="imageCountMoreThan", countNumber=2)

IMAGES = [
    _img("a", ["1.0.0", "prod"], 0),
    _img("b", ["1.1.0"], 1),
    _img("c", ["1.2.0"], 2),
    _img("d", [], 3),
    _img("e", ["1.3.0", "sha-abc1234"], 4),
    _img("f", ["sha-def5678"], 5),
    _img("g", [], 9.9),
]


def _expired(policy, images=IMAGES, now=T0 + timedelta(days=10)):
    return [i["imageDigest"] for i in reg.lifecycle_expired(policy, images, now)]


def test_a_higher_priority_rule_protects_what_it_selects():
    assert _expired({"rules": [KEEP_PROD, UNTAGGED_1D, KEEP_2_RELEASES]}) == ["b", "d"]
    # without the protecting rule, production's image is just the oldest release
    assert _expired({"rules": [UNTAGGED_1D, KEEP_2_RELEASES]}) == ["a", "b", "d"]
    # a protecting rule at a LOWER priority than the count rule protects nothing
    late = dict(KEEP_PROD, rulePriority=9)
    assert _expired({"rules": [late, UNTAGGED_1D, KEEP_2_RELEASES]}) == ["a", "b", "d"]


def test_age_and_any_rules_and_same_second_ordering():
    policy = {"rules": [_rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=3)]}
    assert _expired(policy) == ["a", "b", "c", "d"]
    same_second = [_img(x, [f"1.0.{n}"], 0) for n, x in enumerate("pqr")]
    keep_one = {"rules": [dict(KEEP_2_RELEASES, selection=dict(KEEP_2_RELEASES["selection"], countNumber=1))]}
    assert _expired(keep_one, same_second) == ["p", "q"], "ties keep the list order, oldest first"
    prefix_all = _rule(1, tagStatus="tagged", tagPrefixList=["1.", "sha-"], countType="sinceImagePushed", countNumber=1)
    assert _expired({"rules": [prefix_all]}) == ["e"], "every prefix of the list must match one of the tags"


def test_invalid_policies_are_refused():
    any_first = _rule(1, tagStatus="any", countType="imageCountMoreThan", countNumber=1)
    with pytest.raises(ValueError, match="highest"):
        reg.lifecycle_expired({"rules": [any_first, KEEP_2_RELEASES]}, IMAGES)
    with pytest.raises(ValueError, match="unique"):
        reg.lifecycle_expired({"rules": [KEEP_PROD, dict(KEEP_2_RELEASES, rulePriority=1)]}, IMAGES)
    with pytest.raises(ValueError, match="needs tagPrefixList"):
        reg.lifecycle_expired(
            {"rules": [_rule(1, tagStatus="tagged", countType="imageCountMoreThan", countNumber=1)]}, []
        )
    with pytest.raises(ValueError, match="untagged"):
        reg.lifecycle_expired({"rules": [UNTAGGED_1D, dict(UNTAGGED_1D, rulePriority=5)]}, [])


# --------------------------------------------------------------------------- engine API over a unix socket


class _UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


BASE = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
#: three images on one base: `dev-old` (dangling, one own layer), `dev` (its own layer), `base`
IMAGES_API = {
    "base": {"layers": BASE, "history": [100, 0, 1000]},  # newest first; 0 = an empty-layer step (ENV)
    "dev-old": {"layers": [*BASE, "sha256:" + "c" * 64], "history": [30, 0, 100, 0, 1000]},
    "dev": {"layers": [*BASE, "sha256:" + "d" * 64], "history": [40, 0, 100, 0, 1000]},
}


class _DockerStub(BaseHTTPRequestHandler):
    def address_string(self):
        return "unix"

    def _json(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1.41/images/json?all=true":
            return self._json(200, [{"Id": "sha256:" + name} for name in IMAGES_API])
        parts = self.path.split("/")  # ['', 'v1.41', 'images', NAME, 'json'|'history']
        img = IMAGES_API.get(parts[3]) if len(parts) == 5 else None
        if img is None:
            return self._json(404, {"message": "image not known"})
        if parts[4] == "json":
            return self._json(200, {"RootFS": {"Layers": img["layers"]}})
        return self._json(200, [{"Size": size} for size in img["history"]])

    def log_message(self, *args):
        pass


@pytest.fixture
def engine_socket(tmp_path: Path):
    sock = tmp_path / "engine.sock"
    server = _UnixHTTP(str(sock), _DockerStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"unix://{sock}"
    server.shutdown()
    server.server_close()


def test_image_layers_pairs_history_sizes_with_layers(engine_socket):
    layers = reg.image_layers("dev-old", host=engine_socket)
    assert [layer.size for layer in layers] == [1000, 100, 30]
    assert layers[0].chain_id == BASE[0] and layers[1].chain_id != BASE[1], "chain ids include the parents"
    assert reg.local_images(engine_socket) == list(IMAGES_API)


def test_reclaimable_bytes_counts_only_layers_no_other_image_uses(engine_socket):
    assert reg.reclaimable_bytes(["dev-old"], host=engine_socket) == 30
    assert reg.reclaimable_bytes(["sha256:dev-old", "dev"], host=engine_socket) == 70
    # the base's layers are free only when every image using them goes
    assert reg.reclaimable_bytes(["base"], host=engine_socket) == 0
    assert reg.reclaimable_bytes(list(IMAGES_API), host=engine_socket) == 1170
    with pytest.raises(RuntimeError, match="404"):
        reg.image_layers("missing", host=engine_socket)
    with pytest.raises(ValueError):
        reg.engine_api("/version", host="ssh://somewhere")


def test_chain_ids_follow_the_oci_definition():
    chains = reg.chain_ids(["sha256:1", "sha256:2"])
    assert chains == ["sha256:1", reg.sha256_digest(b"sha256:1 sha256:2")]


# --------------------------------------------------------------------------- scanners


def test_a_missing_scanner_raises_tool_missing(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NO-SUCH-SCANNER_BIN", "")
    assert reg.find_tool("no-such-scanner") is None
    with pytest.raises(reg.ToolMissing, match="not installed"):
        reg.run_tool("no-such-scanner", "--version", cache=tmp_path)


def test_tool_env_keeps_caches_under_the_given_directory(tmp_path: Path):
    env = reg.tool_env("syft", tmp_path / "c")
    assert env["SYFT_CACHE_DIR"].startswith(str(tmp_path)) and env["SYFT_CHECK_FOR_APP_UPDATE"] == "false"
    assert Path(env["TMPDIR"]).is_dir()
    assert reg.tool_env("trivy", tmp_path)["TRIVY_CACHE_DIR"].startswith(str(tmp_path))
