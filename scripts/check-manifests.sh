#!/usr/bin/env bash
# Checks deploy/kubernetes offline: every resource of a built-in kind
# against the Kubernetes API schemas (kubernetes-validate, strict: no
# unknown fields), and every YAML file of the repository with yamllint.
# Installs both (pinned) into a virtual environment under target/ the
# first time. Custom kinds (the CloudNativePG Cluster) are linted only.
# And the image the manifests run is the one deploy/image/Dockerfile
# builds, at the workspace's version.
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
# The image: the tag the Dockerfile's build line gives, the workspace's
# version, and every manifest's image.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
built=$(sed -n 's/^#.*docker build .* -t \([^ ]*\) .*$/\1/p' deploy/image/Dockerfile)
[ "$built" = "tickforge/tickforge-server:$version" ] || {
    echo "check-manifests: deploy/image/Dockerfile builds '$built', not tickforge/tickforge-server:$version" >&2
    exit 1
}
mapfile -t images < <(grep -ho 'image: *[^ ]*' deploy/kubernetes/*.yaml | sed 's/image: *//' | grep -v '^ghcr.io/cloudnative-pg' | sort -u)
for image in "${images[@]}"; do
    [ "$image" = "$built" ] || { echo "check-manifests: a manifest runs $image; the Dockerfile builds $built" >&2; exit 1; }
done
[ "${#images[@]}" -gt 0 ] || { echo "check-manifests: no manifest names the server's image" >&2; exit 1; }
echo "check-manifests: the manifests run $built, which deploy/image/Dockerfile builds"
echo "check-manifests: ok"
