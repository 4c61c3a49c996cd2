#!/usr/bin/env bash
# Install the tools that tests/infra/ and the infra labs use. Idempotent: a second run
# only checks versions (a few seconds). Needs Python 3.11, Go and network access to
# PyPI, the Go module proxy and Debian's archive; nothing else is downloaded.
#
#   bash scripts/install-infra-tools.sh          # everything
#   SKIP_APT=1 bash scripts/install-infra-tools.sh
#
# Locations (tests/infra/tools.py looks in the same places):
#   $INFRA_TOOLS_DIR (default ~/.cache/mlops-course-labs/infra-tools)
#     bin/           actionlint, helm, kustomize, syft, trivy (go install, pinned; syft and
#                    trivy take 10-40 min to build once, then the stamp makes this a no-op)
#     venv-checkov/  checkov (its exact boto3 pin clashes with the course venv)
#   .venv-orch/      Airflow 3 + KFP 2 (pins: infra-snippets/requirements-orchestration.txt)
#   .venv/           python-hcl2, kubernetes-validate (course venv)
#   /usr/bin         promtool, prometheus, amtool, shellcheck (Debian packages)
# terraform and the hashicorp/aws provider cannot be installed from the reachable
# registries; where the machine image has them (terraform on PATH, provider mirror in
# /opt/tf-plugins or $TF_PROVIDER_MIRROR) the tests use them.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${INFRA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-course-labs/infra-tools}"
PY="${PYTHON:-python3.11}"

ACTIONLINT_VERSION=v1.7.12
HELM_VERSION=v3.19.0
KUSTOMIZE_VERSION=v5.7.1
SYFT_VERSION=v1.57.1   # SBOMs (module 16)
TRIVY_VERSION=v0.74.0  # misconfiguration scans (module 16); vulnerability scans need its DB download
CHECKOV_VERSION=3.3.30
PYTHON_HCL2_VERSION=8.1.4
KUBERNETES_VALIDATE_VERSION=1.37.0

log() { printf '[install-infra-tools] %s\n' "$*"; }
mkdir -p "$TOOLS/bin"

# --- Debian packages: promtool/prometheus, amtool, shellcheck (actionlint uses it for run: blocks)
if [[ -z "${SKIP_APT:-}" ]]; then
  need=()
  command -v promtool >/dev/null || need+=(prometheus)
  command -v amtool >/dev/null || need+=(prometheus-alertmanager)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
    # The Debian packages start system services bound to 0.0.0.0; the tests start their own on 127.0.0.1.
    for svc in prometheus prometheus-alertmanager; do
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
  fi
fi

# --- Go tools, pinned, into $TOOLS/bin (go's module cache makes reinstalls cheap)
go_tool() {  # name module version [GOEXPERIMENT]
  local name=$1 module=$2 version=$3 experiment=${4:-} stamp="$TOOLS/bin/.$1.version"
  if [[ -x "$TOOLS/bin/$name" && "$(cat "$stamp" 2>/dev/null)" == "$version" ]]; then return; fi
  command -v go >/dev/null || { log "go not found: cannot build $name"; return; }
  log "go install $module@$version"
  GOEXPERIMENT="$experiment" GOBIN="$TOOLS/bin" GOFLAGS=-trimpath go install "$module@$version"
  echo "$version" >"$stamp"
}
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_tool syft github.com/anchore/syft/cmd/syft "$SYFT_VERSION"
go_tool trivy github.com/aquasecurity/trivy/cmd/trivy "$TRIVY_VERSION" jsonv2  # it imports encoding/json/v2
# Graded lab kernels see only system dirs: put the tools labs run on their PATH too
# (m005 lints a workflow with actionlint; m016 scans images with syft and trivy).
for tool in actionlint syft trivy; do
  if [[ "$(id -u)" -eq 0 && -x "$TOOLS/bin/$tool" ]] && ! cmp -s "$TOOLS/bin/$tool" "/usr/local/bin/$tool"; then
    install -m 0755 "$TOOLS/bin/$tool" "/usr/local/bin/$tool"
  fi
done

# --- checkov in its own venv
if [[ "$("$TOOLS/venv-checkov/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
  log "checkov $CHECKOV_VERSION -> $TOOLS/venv-checkov"
  "$PY" -m venv "$TOOLS/venv-checkov"
  "$TOOLS/venv-checkov/bin/pip" install -q "checkov==$CHECKOV_VERSION"
fi

# --- course venv: python-hcl2, kubernetes-validate (compatible with constraints.txt)
if [[ -x "$REPO/.venv/bin/python" ]]; then
  if ! "$REPO/.venv/bin/python" - "$PYTHON_HCL2_VERSION" "$KUBERNETES_VALIDATE_VERSION" <<'PYEOF'
import sys
from importlib.metadata import version
sys.exit(0 if (version("python-hcl2"), version("kubernetes-validate")) == tuple(sys.argv[1:]) else 1)
PYEOF
  then
    log "python-hcl2 / kubernetes-validate -> .venv"
    cons=(); [[ -f "$REPO/constraints.txt" ]] && cons=(-c "$REPO/constraints.txt")
    "$REPO/.venv/bin/pip" install -q "${cons[@]}" "python-hcl2==$PYTHON_HCL2_VERSION" \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  fi
else
  log "no .venv yet: create the course venv first (make install), then rerun for python-hcl2/kubernetes-validate"
fi

# --- orchestration venv: Airflow 3 + KFP 2, exact pins
ORCH="${ORCH_VENV:-$REPO/.venv-orch}"
REQ="$REPO/infra-snippets/requirements-orchestration.txt"
STAMP="$ORCH/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  log "Airflow + KFP -> $ORCH"
  [[ -x "$ORCH/bin/python" ]] || "$PY" -m venv "$ORCH"
  "$ORCH/bin/pip" install -q -r "$REQ"
  echo "$want" >"$STAMP"
fi

# --- report
for t in terraform promtool prometheus amtool shellcheck; do
  printf '  %-12s %s\n' "$t" "$(command -v $t || echo 'not found')"
done
for t in actionlint helm kustomize; do printf '  %-12s %s\n' "$t" "$TOOLS/bin/$t"; done
mirror="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
[[ -d "$mirror/registry.terraform.io/hashicorp/aws" ]] && printf '  %-12s %s\n' "aws provider" "$mirror" \
  || printf '  %-12s %s\n' "aws provider" "not found (terraform apply tests will skip)"
log "done"
