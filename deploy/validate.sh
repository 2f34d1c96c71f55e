#!/usr/bin/env bash
# Offline validation of deploy/: no cluster, no internet beyond the Go module
# proxy. Run from anywhere: deploy/validate.sh (make chart runs it).
#
#   1. the standalone alert rules and dashboard equal the chart's copies;
#   2. helm lint --strict and helm template for every ci/*-values.yaml;
#   3. the default values are refused (no credentials), and every file in
#      test-bad-values/ is refused with the message its "# expect:" names;
#   4. promtool checks and unit-tests the rules, when promtool is installed;
#   5. the Go suite in deploy/chartest renders through the Helm SDK and
#      strictly decodes every manifest into the Kubernetes types.
#
# helm is built once from the Go module proxy into .cache/bin (3-5 minutes
# cold, then reused). Environment: KUBE_VERSION (default 1.31.0),
# CHARTEST_RACE=0 to run the Go suite without -race.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHART=$ROOT/deploy/helm/onboarding-adapter
BAD=$ROOT/deploy/helm/test-bad-values
HELM_VERSION=v3.22.0
KUBE_VERSION=${KUBE_VERSION:-1.31.0}
BIN=$ROOT/.cache/bin
HELM=$BIN/helm
OUT=$ROOT/.cache/helm/rendered
export HELM_CACHE_HOME=$ROOT/.cache/helm/cache HELM_CONFIG_HOME=$ROOT/.cache/helm/config HELM_DATA_HOME=$ROOT/.cache/helm/data

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# helm reports "v3.22" when built without the release ldflags, so a stamp
# file records which version .cache/bin/helm is.
if [[ ! -x $HELM || "$(cat "$HELM.version" 2>/dev/null)" != "$HELM_VERSION" ]]; then
  echo "deploy: building helm $HELM_VERSION into .cache/bin (first run only, a few minutes)"
  start=$SECONDS
  GOBIN=$BIN go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" >"$HELM.version"
  echo "deploy: helm built in $((SECONDS - start))s"
fi

# 1. One source of truth for rules and dashboard.
for pair in "files/prometheus-rules.yaml:deploy/prometheus/alerts.yaml" "files/dashboard.json:deploy/grafana/onboarding-adapter.json"; do
  src=$CHART/${pair%%:*} dst=$ROOT/${pair#*:}
  if cmp -s "$src" "$dst"; then ok "${pair#*:} equals the chart's ${pair%%:*}"
  else bad "${pair#*:} differs from the chart's ${pair%%:*} (the chart file is the source: cp it over)"; fi
done

# 2. Lint and render every environment.
mkdir -p "$OUT"
for values in "$CHART"/ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  if log=$("$HELM" lint "$CHART" --strict --kube-version "$KUBE_VERSION" -f "$values" 2>&1); then
    ok "helm lint --strict ($name)"
  else bad "helm lint --strict ($name)"; echo "$log"; fi
  if log=$("$HELM" template onb "$CHART" --namespace bank --kube-version "$KUBE_VERSION" \
      --api-versions monitoring.coreos.com/v1/ServiceMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule \
      -f "$values" 2>&1 >"$OUT/$name.yaml"); then
    ok "helm template ($name: $(grep -c '^kind:' "$OUT/$name.yaml") objects in .cache/helm/rendered/$name.yaml)"
  else bad "helm template ($name)"; echo "$log"; fi
done

# 3. Values that must be refused.
if log=$("$HELM" template onb "$CHART" --kube-version "$KUBE_VERSION" 2>&1 >/dev/null); then
  bad "the default values render without credentials"
elif grep -qF "secrets.basicAuthUsername is required" <<<"$log"; then
  ok "the default values are refused without credentials"
else bad "the default values are refused, but not for the credentials"; echo "$log"; fi

for values in "$BAD"/*.yaml; do
  name=$(basename "$values")
  expect=$(sed -n 's/^# expect: //p' "$values")
  if [[ -z $expect ]]; then bad "$name has no '# expect:' line"; continue; fi
  if log=$("$HELM" template onb "$CHART" --kube-version "$KUBE_VERSION" -f "$CHART/ci/minimal-values.yaml" -f "$values" 2>&1 >/dev/null); then
    bad "$name was accepted"
  elif grep -qF -- "$expect" <<<"$log"; then
    ok "$name refused"
  else bad "$name refused, but without \"$expect\""; echo "$log"; fi
done

# 4. Rules: syntax and unit tests (promtool ships in Debian's "prometheus").
if command -v promtool >/dev/null; then
  if log=$(promtool check rules "$ROOT/deploy/prometheus/alerts.yaml" 2>&1); then ok "promtool check rules"
  else bad "promtool check rules"; echo "$log"; fi
  if log=$(cd "$ROOT/deploy/prometheus" && promtool test rules alerts_test.yaml 2>&1); then ok "promtool test rules"
  else bad "promtool test rules"; echo "$log"; fi
elif [ "${CI:-}" = true ]; then
  bad "promtool is not installed, and CI=true runs the alert rules' tests (apt-get install prometheus)"
else
  echo "SKIPPED LOUDLY: promtool check/test rules: promtool is not installed (apt-get install prometheus)"
fi

# 5. The Go suite (its own module: the service's go.mod stays lean).
race=-race
[[ ${CHARTEST_RACE:-1} == 0 ]] && race=
if (cd "$ROOT/deploy/chartest" && go vet ./...); then ok "go vet ./deploy/chartest"
else bad "go vet ./deploy/chartest"; fi
if (cd "$ROOT/deploy/chartest" && go test $race -count=1 ./...); then ok "go test ./deploy/chartest"
else bad "go test ./deploy/chartest"; fi

echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
