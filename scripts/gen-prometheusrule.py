#!/usr/bin/env python3
"""Writes deploy/kubernetes/prometheusrule.yaml from alerts/synthex.rules.yml.

The PrometheusRule's spec.groups must be exactly the rule file's groups (tests/stack_files.rs
compares the parsed YAML). Python standard library only: the rule file's text is indented under
`spec:` as is, which keeps comments, block scalars and quoting byte for byte.

    scripts/gen-prometheusrule.py           # regenerate
    scripts/gen-prometheusrule.py --check   # exit 1 if the manifest is out of date
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RULES = ROOT / "alerts" / "synthex.rules.yml"
OUT = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from alerts/synthex.rules.yml by scripts/gen-prometheusrule.py: do not edit.
# Regenerate after changing the rules:  python3 scripts/gen-prometheusrule.py
# tests/stack_files.rs fails when spec.groups differs from the rule file's groups.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: synthex
  labels:
    app.kubernetes.io/name: synthex
    # kube-prometheus-stack selects rules by its Helm release label: set it to your release name.
    release: kube-prometheus-stack
spec:
"""


def render(rules_text: str) -> str:
    body = []
    for number, line in enumerate(rules_text.splitlines(), start=1):
        if line.strip() in ("---", "..."):
            continue
        top_level_key = line and not line[0].isspace() and not line.startswith("#")
        if top_level_key and not line.startswith("groups:"):
            sys.exit(f"{RULES}:{number}: only `groups:` may be a top-level key, found {line!r}")
        body.append("  " + line if line.strip() else "")
    return HEADER + "\n".join(body).rstrip("\n") + "\n"


def main() -> int:
    text = render(RULES.read_text(encoding="utf-8"))
    if sys.argv[1:] == ["--check"]:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
