"""A stateful Kubernetes API for Ebb's tests: kmock's KubernetesEmulator, extended.

kmock keeps objects in memory and serves create/get/list/patch/delete. It ignores
labelSelector, runs no controllers and checks no credentials, so this launcher adds:

- bearer-token authentication (a wrong token gets 401, a --forbidden-token gets 403);
- labelSelector and fieldSelector filtering of lists;
- uid, resourceVersion and creationTimestamp on created objects, a new resourceVersion on
  every patch, 409 for a patch whose metadata.resourceVersion is stale, and 409 for a delete
  whose preconditions.uid does not match;
- a replica controller: Deployments and StatefulSets get pods up to spec.replicas (labelled
  with spec.selector.matchLabels); a new pod becomes Ready after --ready-delay seconds;
  status.replicas/readyReplicas follow.

Usage: python kube_emulator.py --port-file F --token T [--forbidden-token T2] [--seed objects.json]
The port is written to F once the server listens on 127.0.0.1. It runs until killed.
"""
import argparse
import asyncio
import datetime
import itertools
import json
import os
import signal
import time
import uuid

import kmock
from kmock import KubernetesEmulator, KubernetesError, Server, resource

RESOURCES = {
    'pods': resource('', 'v1', 'pods'),
    'services': resource('', 'v1', 'services'),
    'nodes': resource('', 'v1', 'nodes'),
    'namespaces': resource('', 'v1', 'namespaces'),
    'deployments': resource('apps', 'v1', 'deployments'),
    'statefulsets': resource('apps', 'v1', 'statefulsets'),
    'networkpolicies': resource('networking.k8s.io', 'v1', 'networkpolicies'),
}
WORKLOADS = ('deployments', 'statefulsets')


def matches_labels(selector, labels):
    """The Kubernetes label selector text form: a=b, a==b, a!=b, a, !a (comma-separated)."""
    for part in filter(None, (p.strip() for p in selector.split(','))):
        if '!=' in part:
            key, value = part.split('!=', 1)
            if labels.get(key) == value:
                return False
        elif '=' in part:
            key, value = part.replace('==', '=').split('=', 1)
            if labels.get(key) != value:
                return False
        elif part.startswith('!'):
            if part[1:] in labels:
                return False
        elif part not in labels:
            return False
    return True


def matches_fields(selector, obj):
    for part in filter(None, (p.strip() for p in selector.split(','))):
        negate = '!=' in part
        key, value = part.replace('!=', '=').replace('==', '=').split('=', 1)
        actual = obj
        for step in key.split('.'):
            actual = actual.get(step) if isinstance(actual, dict) else None
        text = ('true' if actual else 'false') if isinstance(actual, bool) else str(actual)
        if (text == value) == negate:
            return False
    return True


def is_ready(pod):
    conditions = pod.get('status', {}).get('conditions', [])
    return any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in conditions)


class Emulator(KubernetesEmulator):
    """KubernetesEmulator plus authentication, selectors, versions and a replica controller."""

    token: str = ''
    forbidden_token: str = ''
    versions = itertools.count(1000)

    async def _handle(self, request):
        auth = request.headers.get('Authorization', '')
        if auth == f'Bearer {self.forbidden_token}' and self.forbidden_token:
            raise KubernetesError(status=403, reason='Forbidden', message='this account may not do that (emulated RBAC)')
        if auth != f'Bearer {self.token}':
            raise KubernetesError(status=401, reason='Unauthorized', message='Unauthorized')
        if request.resource is not None:
            self._preconditions(request)
        return await super()._handle(request)

    def _stored(self, request):
        key = (request.resource, request.namespace, request.name)
        obj = self.objects[key] if key in self.objects else None
        return None if obj is None or obj.deleted else obj

    def _preconditions(self, request):
        action = request.action
        if action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault('metadata', {})
            if request.namespace:
                meta.setdefault('namespace', request.namespace)
            meta['uid'] = str(uuid.uuid4())
            meta['resourceVersion'] = str(next(self.versions))
            meta['creationTimestamp'] = datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
        elif action == kmock.action.UPDATE and isinstance(request.data, dict):
            stored = self._stored(request)
            meta = request.data.setdefault('metadata', {})
            wanted = meta.get('resourceVersion')
            if stored is not None and wanted is not None and wanted != stored.raw.get('metadata', {}).get('resourceVersion'):
                raise KubernetesError(status=409, reason='Conflict',
                                      message='the object has been modified; please apply your changes to the latest version and try again')
            meta['resourceVersion'] = str(next(self.versions))
        elif action == kmock.action.DELETE and isinstance(request.data, dict):
            stored = self._stored(request)
            uid = (request.data.get('preconditions') or {}).get('uid')
            if stored is not None and uid and uid != stored.raw.get('metadata', {}).get('uid'):
                raise KubernetesError(status=409, reason='Conflict', message='Precondition failed: UID in precondition does not match')

    async def _serve_list(self, request):
        listing = await super()._serve_list(request)
        labels = request.params.get('labelSelector')
        fields = request.params.get('fieldSelector')
        items = listing['items']
        if labels:
            items = [i for i in items if matches_labels(labels, i.get('metadata', {}).get('labels') or {})]
        if fields:
            items = [i for i in items if matches_fields(fields, i)]
        return {**listing, 'items': items}

    # The replica controller.

    def _live(self, plural, namespace=None):
        for (res, ns, name), obj in list(self.objects.items()):
            if res == RESOURCES[plural] and not obj.deleted and (namespace is None or ns == namespace):
                yield (res, ns, name), obj

    def reconcile(self, ready_delay):
        now = time.monotonic()
        for (_, ns, name), pod in self._live('pods'):
            ready_at = pod.raw.get('metadata', {}).get('annotations', {}).get('emulator/ready-at')
            if ready_at is not None and not is_ready(pod.raw) and now >= float(ready_at):
                pod.patch({'status': {'phase': 'Running', 'conditions': [{'type': 'Ready', 'status': 'True'}]}})
        for plural in WORKLOADS:
            for (_, ns, name), workload in self._live(plural):
                spec = workload.raw.get('spec', {})
                desired = int(spec.get('replicas', 1))
                match = spec.get('selector', {}).get('matchLabels', {})
                pods = [(key, p) for key, p in self._live('pods', ns)
                        if all(p.raw.get('metadata', {}).get('labels', {}).get(k) == v for k, v in match.items())]
                for index in range(len(pods), desired):
                    pod_name = f'{name}-{uuid.uuid4().hex[:5]}'
                    labels = dict(spec.get('template', {}).get('metadata', {}).get('labels') or match)
                    self.objects[RESOURCES['pods'], ns, pod_name] = {
                        'apiVersion': 'v1', 'kind': 'Pod',
                        'metadata': {'name': pod_name, 'namespace': ns, 'labels': labels, 'uid': str(uuid.uuid4()),
                                     'resourceVersion': str(next(self.versions)),
                                     'annotations': {'emulator/ready-at': str(now + ready_delay)}},
                        'spec': {'nodeName': 'node-1'},
                        'status': {'phase': 'Pending', 'conditions': [{'type': 'Ready', 'status': 'False'}]},
                    }
                for _, pod in pods[desired:]:
                    pod.delete()
                pods = pods[:desired] if len(pods) > desired else pods
                ready = sum(1 for _, p in self._live('pods', ns)
                            if all(p.raw.get('metadata', {}).get('labels', {}).get(k) == v for k, v in match.items()) and is_ready(p.raw))
                total = max(len(pods), desired)
                status = workload.raw.get('status', {})
                if status.get('replicas') != total or status.get('readyReplicas') != ready:
                    workload.patch({'status': {'replicas': total, 'readyReplicas': ready, 'availableReplicas': ready}})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port-file', required=True)
    parser.add_argument('--token', required=True)
    parser.add_argument('--forbidden-token', default='')
    parser.add_argument('--seed')
    parser.add_argument('--ready-delay', type=float, default=1.0)
    args = parser.parse_args()

    emulator = Emulator()
    emulator.token = args.token
    emulator.forbidden_token = args.forbidden_token
    for res in RESOURCES.values():
        emulator.resources[res] = {}
    for obj in json.load(open(args.seed)) if args.seed else []:
        meta = obj.setdefault('metadata', {})
        meta.setdefault('uid', str(uuid.uuid4()))
        meta.setdefault('resourceVersion', str(next(emulator.versions)))
        plural = obj['kind'].lower() + ('ies' if obj['kind'].endswith('y') else 's')
        plural = plural.replace('policys', 'policies').replace('policyies', 'policies')
        emulator.objects[RESOURCES[plural], meta.get('namespace'), meta['name']] = obj

    async with emulator, Server(emulator) as server:
        temporary = args.port_file + '.tmp'
        with open(temporary, 'w') as handle:
            handle.write(str(server.port))
        os.rename(temporary, args.port_file)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        while not stop.is_set():
            emulator.reconcile(args.ready_delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.1)
            except asyncio.TimeoutError:
                pass


if __name__ == '__main__':
    asyncio.run(main())
