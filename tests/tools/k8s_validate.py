"""Validates every document of Kubernetes YAML files offline, with kubernetes-validate's Python API
in strict mode (unknown fields are errors), for each Kubernetes version given.

    k8s_validate.py --version 1.28 --version latest FILE...

The API, unlike the CLI, raises SchemaNotFoundError for a kind/apiVersion that the version does
not have (the CLI only logs a warning and exits 0), and that is a failure here too. Exits 0 when
every document passes for every version, 1 otherwise, with one line per problem on stdout.
"""

import argparse
import sys

import kubernetes_validate
import yaml
from kubernetes_validate.utils import major_minor


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--version", action="append", required=True,
                   help="Kubernetes version (major.minor[.patch]) or 'latest' (newest bundled)")
    p.add_argument("files", nargs="+")
    args = p.parse_args()
    versions = [kubernetes_validate.latest_version() if v == "latest" else v for v in args.version]

    problems = []
    checked = 0
    for path in args.files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not docs:
            problems.append(f"{path}: no documents")
        for doc in docs:
            name = f"{path}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
            for version in versions:
                try:
                    used = kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    where = ".".join(str(p) for p in e.path)
                    problems.append(f"{name}: Kubernetes {version}: {where}: {e.message}")
                    continue
                except kubernetes_validate.SchemaNotFoundError as e:
                    problems.append(f"{name}: Kubernetes {version}: {e.message}")
                    continue
                # The library falls back to the newest schema not newer than the one asked for;
                # a check against another version than asked would prove nothing.
                if used != major_minor(version):
                    problems.append(f"{name}: asked for Kubernetes {version}, checked {used}")
                    continue
                checked += 1
                print(f"ok {name}: Kubernetes {used} (strict)")
    for line in problems:
        print(f"FAIL {line}")
    print(f"kubernetes-validate {kubernetes_validate.__version__}: {checked} passed, "
          f"{len(problems)} failed")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
