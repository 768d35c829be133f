import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { startTestServer, type TestServer } from '../support/server.js';
import { configFromEnv, PLACEHOLDER_SECRETS, preStopPauseMs, SECRET_ENV, shutdownGraceMs } from './settings.js';

// Renders every kustomize overlay offline and checks the objects against the Kubernetes schemas
// (kubernetes-models: types, required fields, enums; it does not reject unknown fields, so the
// fields that matter are asserted by name below) and against this server: the probes' paths,
// the port, the settings, the drain.

const K8S = new URL('../../deploy/k8s/', import.meta.url).pathname;
const OVERLAYS = readdirSync(`${K8S}overlays`).sort();
const SECRET_KEYS = ['database-url', 'redis-url', 'queue-url', 'metrics-token', 'smtp-url'];

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML, checked field by field */
type K8sObject = Record<string, any> & { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
};

function kubectlOrFail(): void {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (probe.error) {
    assert.fail(
      `kubectl is needed to render deploy/k8s (kubectl kustomize) and was not found (${(probe.error as NodeJS.ErrnoException).code}): ` +
        'install it (.ci/run does: apt-get install kubectl) and run this test again',
    );
  }
}

function render(overlay: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', `${K8S}overlays/${overlay}`], { encoding: 'utf8' });
  assert.equal(result.status, 0, `kubectl kustomize overlays/${overlay} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => {
    assert.equal(doc.errors.length, 0, String(doc.errors[0]));
    return doc.toJS() as K8sObject;
  });
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

function matchesSelector(selector: { matchLabels?: Record<string, string>; matchExpressions?: any[] }, labels: Record<string, string> = {}) {
  return (
    matches(selector.matchLabels ?? {}, labels) &&
    (selector.matchExpressions ?? []).every((e: { key: string; operator: string; values: string[] }) => {
      assert.equal(e.operator, 'In', 'only In expressions are used');
      return e.values.includes(labels[e.key]!);
    })
  );
}

const workloads = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Job');
const podSpec = (workload: K8sObject) => workload.spec.template.spec;
const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} exists`);
  return found;
};

/** The environment a container starts with: its ConfigMap, then its own variables. */
function containerEnv(objects: K8sObject[], container: any): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    assert.ok(source.configMapRef, 'environment comes from ConfigMaps only (secrets by key)');
    Object.assign(env, one(objects, 'ConfigMap', source.configMapRef.name).data);
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom) {
      const ref = variable.valueFrom.secretKeyRef;
      assert.ok(ref, `${variable.name} comes from a Secret`);
      assert.equal(ref.name, 'pcf-secrets');
      assert.ok(SECRET_KEYS.includes(ref.key), `${ref.key} is a documented key of pcf-secrets`);
      env[variable.name] = PLACEHOLDER_SECRETS[variable.name] ?? 'placeholder';
    } else {
      env[variable.name] = variable.value;
    }
  }
  return env;
}

describe('Kubernetes manifests (deploy/k8s)', () => {
  let server: TestServer;
  before(async () => {
    kubectlOrFail();
    server = await startTestServer('pglite');
  });
  after(() => server?.close());

  it('has a staging and a production overlay', () => {
    assert.deepEqual(OVERLAYS, ['production', 'staging']);
  });

  for (const overlay of OVERLAYS) {
    describe(`overlay ${overlay}`, () => {
      let objects: K8sObject[];
      before(() => {
        kubectlOrFail();
        objects = render(overlay);
      });

      it('renders objects that the Kubernetes schemas accept', () => {
        for (const object of objects) {
          const model = MODELS[`${object.apiVersion}/${object.kind}`];
          assert.ok(model, `${object.apiVersion} ${object.kind} is a kind this test knows`);
          assert.doesNotThrow(() => new model(object).validate(), `${object.kind} ${object.metadata.name}`);
          assert.equal(object.metadata.labels?.['app.kubernetes.io/part-of'], 'pcf', `${object.kind} ${object.metadata.name} is labelled`);
        }
        // An empty render would pass the loop above.
        assert.ok(byKind(objects, 'Deployment').length === 3 && objects.length >= 14, `${objects.length} objects`);
      });

      it('runs the api, auth and worker roles from one image, migrations as a Job', () => {
        const roles = Object.fromEntries(
          byKind(objects, 'Deployment').map((d) => [d.metadata.name, containerEnv(objects, podSpec(d).containers[0]).PCF_ROLES]),
        );
        assert.deepEqual(roles, { 'pcf-api': 'api', 'pcf-auth': 'auth', 'pcf-worker': 'worker' });
        const images = new Set(workloads(objects).flatMap((w) => podSpec(w).containers.map((c: any) => c.image)));
        assert.equal(images.size, 1, `one image: ${[...images].join(', ')}`);
        assert.doesNotMatch([...images][0], /:latest$|^[^:]+$/, 'a pinned tag');
        const job = one(objects, 'Job', 'pcf-migrate');
        assert.deepEqual(podSpec(job).containers[0].command, ['node', 'dist/bundle/pcf.js', 'migrate', 'up']);
        assert.equal(podSpec(job).restartPolicy, 'Never');
      });

      if (overlay === 'production') {
        it('has the topology: 3 api, 2 auth, 1 worker; the HPA starts at 3', () => {
          const replicas = Object.fromEntries(byKind(objects, 'Deployment').map((d) => [d.metadata.name, d.spec.replicas]));
          assert.deepEqual(replicas, { 'pcf-api': 3, 'pcf-auth': 2, 'pcf-worker': 1 });
          assert.equal(one(objects, 'HorizontalPodAutoscaler', 'pcf-api').spec.minReplicas, 3);
        });
      }

      it('sets only real PCF_ settings, with valid values, and the serving pods do not migrate', () => {
        for (const workload of workloads(objects)) {
          for (const container of podSpec(workload).containers) {
            const env = containerEnv(objects, container);
            for (const name of Object.keys(env)) assert.match(name, /^PCF_/, `${workload.metadata.name} sets only PCF_ variables`);
            const config = configFromEnv(env, `${workload.kind} ${workload.metadata.name}`);
            if (workload.kind === 'Deployment') {
              assert.equal(config.database.autoMigrate, false, 'the Job migrates');
              assert.equal(config.profile, 'production');
              for (const required of ['PCF_DATABASE_URL', 'PCF_REDIS_URL', 'PCF_QUEUE_URL', 'PCF_METRICS_TOKEN']) {
                assert.ok(
                  container.env.some((v: any) => v.name === required && v.valueFrom?.secretKeyRef),
                  `${required} from the Secret`,
                );
              }
            }
          }
        }
      });

      it('keeps secrets out of ConfigMaps', () => {
        for (const configMap of byKind(objects, 'ConfigMap')) {
          for (const [name, value] of Object.entries(configMap.data as Record<string, string>)) {
            assert.ok(!SECRET_ENV.has(name), `${name} is a secret setting: it belongs in pcf-secrets`);
            assert.doesNotMatch(value, /:\/\/[^/\s]*@/, `${name} carries credentials`);
          }
        }
      });

      it('probes paths the server answers, on the port the server listens on', async () => {
        for (const workload of byKind(objects, 'Deployment')) {
          const container = podSpec(workload).containers[0];
          const config = configFromEnv(containerEnv(objects, container), workload.metadata.name);
          const http = container.ports.find((p: any) => p.name === 'http');
          assert.equal(http?.containerPort, config.port, `${workload.metadata.name}: containerPort http is PCF_PORT`);
          assert.equal(container.livenessProbe.httpGet.path, '/health');
          assert.equal(container.readinessProbe.httpGet.path, '/health/ready');
          for (const probe of [container.livenessProbe, container.readinessProbe]) {
            assert.ok([config.port, 'http'].includes(probe.httpGet.port), 'the probe targets the server port');
            const answer = await server.app.inject({ method: 'GET', url: probe.httpGet.path });
            assert.equal(answer.statusCode, 200, `${probe.httpGet.path} answers 200 on a healthy server`);
          }
          // The readiness endpoint answers within 5 s (its checks time out at health.checkTimeoutMs).
          assert.ok(container.readinessProbe.timeoutSeconds * 1000 > config.health.checkTimeoutMs);
        }
      });

      it('gives every pod longer than the preStop pause, the drain and the close after it', () => {
        for (const workload of byKind(objects, 'Deployment')) {
          const spec = podSpec(workload);
          const container = spec.containers[0];
          const config = configFromEnv(containerEnv(objects, container), workload.metadata.name);
          const pauseMs = preStopPauseMs(container.lifecycle?.preStop?.exec?.command);
          const neededMs = pauseMs + config.shutdown.drainTimeoutMs + shutdownGraceMs();
          assert.ok(
            spec.terminationGracePeriodSeconds * 1000 > neededMs,
            `${workload.metadata.name}: grace ${spec.terminationGracePeriodSeconds} s > ${neededMs / 1000} s`,
          );
          const routed = byKind(objects, 'Service').some((s) => matches(s.spec.selector, workload.spec.template.metadata.labels));
          if (routed) assert.ok(pauseMs >= 3000, `${workload.metadata.name} is behind a Service: a preStop pause lets the endpoint go first`);
        }
      });

      it('selectors match the pods they mean', () => {
        const deployments = byKind(objects, 'Deployment');
        const podLabels = (w: K8sObject) => w.spec.template.metadata.labels as Record<string, string>;
        for (const d of deployments) assert.ok(matchesSelector(d.spec.selector, podLabels(d)), `${d.metadata.name} selects its own pods`);
        for (const service of byKind(objects, 'Service')) {
          const selected = deployments.filter((d) => matches(service.spec.selector, podLabels(d)));
          assert.equal(selected.length, 1, `Service ${service.metadata.name} selects the pods of one Deployment`);
          const ports = podSpec(selected[0]!).containers.flatMap((c: any) => c.ports ?? []);
          for (const port of service.spec.ports) {
            const target = port.targetPort;
            assert.ok(
              ports.some((p: any) => p.name === target || p.containerPort === target),
              `${service.metadata.name}: targetPort ${target} is a container port`,
            );
          }
        }
        for (const pdb of byKind(objects, 'PodDisruptionBudget')) {
          const selected = deployments.filter((d) => matchesSelector(pdb.spec.selector, podLabels(d)));
          assert.equal(selected.length, 1, `PodDisruptionBudget ${pdb.metadata.name} covers one Deployment`);
          if (pdb.spec.maxUnavailable !== undefined) assert.ok(selected[0]!.spec.replicas > pdb.spec.maxUnavailable, 'evictions leave a pod');
        }
        for (const hpa of byKind(objects, 'HorizontalPodAutoscaler')) one(objects, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
        for (const policy of byKind(objects, 'NetworkPolicy')) {
          assert.ok(
            workloads(objects).some((w) => matchesSelector(policy.spec.podSelector, podLabels(w))),
            `NetworkPolicy ${policy.metadata.name} selects pods`,
          );
        }
      });

      it('routes /api/v1/auth to the auth pods and the rest to the api pods, WebSockets kept open', async () => {
        const ingress = one(objects, 'Ingress', 'pcf');
        const routes = Object.fromEntries(
          ingress.spec.rules[0].http.paths.map((p: any) => [p.path, `${p.backend.service.name}:${p.backend.service.port.name}`]),
        );
        assert.deepEqual(routes, { '/api/v1/auth': 'pcf-auth:http', '/': 'pcf-api:http' });
        for (const path of ingress.spec.rules[0].http.paths) {
          const service = one(objects, 'Service', path.backend.service.name);
          assert.ok(
            service.spec.ports.some((p: any) => p.name === path.backend.service.port.name),
            `${service.metadata.name} has the port`,
          );
        }
        const annotations = ingress.metadata.annotations as Record<string, string>;
        assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600, 'WebSockets outlive the default 60 s');
        assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout']) >= 3600);
        assert.doesNotMatch(annotations['nginx.ingress.kubernetes.io/proxy-next-upstream'] ?? '', /non_idempotent/, 'POSTs are never retried');
        // The prefix the auth pods get is where the server's auth routes live.
        const me = await server.app.inject({ method: 'GET', url: '/api/v1/auth/me' });
        assert.equal(me.statusCode, 401, 'an auth route, not a 404');
      });

      it('runs locked down: non-root, read-only root, no capabilities, /tmp writable, requests and limits', () => {
        for (const workload of workloads(objects)) {
          const spec = podSpec(workload);
          const name = workload.metadata.name;
          assert.equal(spec.securityContext.runAsNonRoot, true, name);
          assert.equal(spec.securityContext.runAsUser, 10001, `${name}: the image's user`);
          assert.equal(spec.automountServiceAccountToken, false, name);
          for (const container of spec.containers) {
            assert.equal(container.securityContext.readOnlyRootFilesystem, true, name);
            assert.equal(container.securityContext.allowPrivilegeEscalation, false, name);
            assert.deepEqual(container.securityContext.capabilities.drop, ['ALL'], name);
            const tmp = container.volumeMounts.find((m: any) => m.mountPath === '/tmp');
            assert.ok(spec.volumes.find((v: any) => v.name === tmp?.name)?.emptyDir, `${name}: /tmp is an emptyDir`);
            for (const kind of ['requests', 'limits']) {
              assert.ok(container.resources[kind]?.cpu && container.resources[kind]?.memory, `${name}: ${kind}`);
            }
          }
        }
      });
    });
  }

  it('documents the Secret keys the manifests read', () => {
    const docs = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
    for (const key of SECRET_KEYS) assert.ok(docs.includes(key), `docs/deployment.md names ${key}`);
  });
});
