#!/usr/bin/env bash
# Checks deploy/kubernetes offline: every resource of a built-in kind
# against the Kubernetes API schemas (kubernetes-validate, strict: no
# unknown fields), and every YAML file of the repository with yamllint.
# Installs both (pinned) into a virtual environment under target/ the
# first time. Custom kinds (the CloudNativePG Cluster) are linted only.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/manifest-tools
if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/yamllint" ]; then
    echo "check-manifests: installing kubernetes-validate and yamllint into $venv (once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" "yamllint==1.38.0"
fi

# Files whose resources are all of built-in kinds.
builtin=()
for file in deploy/kubernetes/*.yaml; do
    if grep -q '^apiVersion: .*cnpg\.io' "$file"; then
        continue
    fi
    builtin+=("$file")
done
[ "${#builtin[@]}" -gt 0 ] || { echo "check-manifests: no manifests in deploy/kubernetes" >&2; exit 1; }
echo "check-manifests: validating ${#builtin[@]} files of built-in kinds"
"$venv/bin/kubernetes-validate" --strict --quiet "${builtin[@]}"

mapfile -t yaml < <(git ls-files '*.yaml' '*.yml' | grep -v '/node_modules/')
echo "check-manifests: linting ${#yaml[@]} YAML files"
"$venv/bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 120}}}' "${yaml[@]}"
echo "check-manifests: ok"
