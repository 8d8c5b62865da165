"""Validates a stream of Kubernetes manifests (YAML, as `helm template` prints them) against the
API schemas kubernetes-validate ships, for each Kubernetes version asked, and prints one JSON
object: the documents as parsed and one result per document and version (passed, failed with the
field's path and the message, or no-schema for a kind the API does not define, a CRD's).

    python validateManifests.py [--strict] --kubernetes-version 1.29 [...] FILE
"""
import argparse
import json
import sys

import yaml
from kubernetes_validate import utils
from kubernetes_validate.version import __version__


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--strict', action='store_true')
    parser.add_argument('--kubernetes-version', action='append', required=True)
    parser.add_argument('file')
    args = parser.parse_args()

    with open(args.file, encoding='utf-8') as f:
        documents = [d for d in yaml.safe_load_all(f) if d]

    supported = utils.all_versions()
    results = []
    for index, document in enumerate(documents):
        for version in args.kubernetes_version:
            result = {'index': index, 'kind': document.get('kind'), 'name': (document.get('metadata') or {}).get('name'), 'version': version}
            try:
                result['validatedAgainst'] = utils.validate(document, version, args.strict)
                result['status'] = 'passed'
            except utils.ValidationError as e:
                result.update(status='failed', path='.'.join(str(p) for p in e.path), message=e.message)
            except utils.SchemaNotFoundError as e:
                result.update(status='no-schema', message=e.message)
            except utils.VersionNotSupportedError:
                print(json.dumps({'error': 'kubernetes-validate %s has no schemas for Kubernetes %s (it has %s)' % (__version__, version, ', '.join(supported))}))
                return 2
            results.append(result)

    json.dump({'validator': __version__, 'supportedVersions': supported, 'documents': documents, 'results': results}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
