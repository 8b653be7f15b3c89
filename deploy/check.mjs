#!/usr/bin/env node
// Static checks for deploy/: no cluster, Docker or kustomize binary is needed (none exists in CI).
//   node deploy/check.mjs
// 1. Every YAML file under deploy/ parses (including the collector config embedded in a ConfigMap).
// 2. Each overlay is rendered with a small kustomize subset (resources, namespace, generated
//    ConfigMap merge, strategic-merge patches with $patch: delete, replicas, images); every
//    referenced file must exist and every patch must hit an object.
// 3. The rendered objects keep the service contract: a Deployment and Service per service,
//    ports, env, gRPC probes, resources, grace periods, headless backends, GPU placement, HPAs,
//    PDBs, and the names that tie NATS, the collector, PostgreSQL and the adapter together.
// It is not kustomize: `kubectl kustomize` / `kubeconform` on a real toolchain remain the final word.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const DEPLOY = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(DEPLOY, '..');
const NS = 'aigc';

const failures = [];
let checks = 0;
const fail = (msg) => failures.push(msg);
const expect = (cond, msg) => {
  checks++;
  if (!cond) fail(msg);
};

// ---------------------------------------------------------------------------------------------
// The contract (keep in step with docs/deploy.md and the services' config).
const SERVICES = {
  gateway: { grpc: 50051, metrics: 9461, env: { GATEWAY_HTTP_PORT: '8080', ORCHESTRATOR_ADDR: 'orchestrator', BILLING_ADDR: 'billing', MODERATION_ADDR: 'moderation' } },
  orchestrator: { grpc: 50052, metrics: 9462, env: { TEXT_ADDR: 'text', IMAGE_ADDR: 'image', AUDIO_ADDR: 'audio', MODERATION_ADDR: 'moderation' } },
  text: { grpc: 50053, metrics: 9463, model: true, env: {} },
  image: { grpc: 50054, metrics: 9464, model: true, env: {} },
  audio: { grpc: 50055, metrics: 9465, model: true, env: {} },
  moderation: { grpc: 50056, metrics: 9466, env: {} },
  billing: { grpc: 50057, metrics: 9467, env: {} },
};
const COMMON_ENV = ['GRPC_HOST', 'GRPC_PORT', 'METRICS_PORT', 'NATS_URL', 'LOG_LEVEL', 'SHUTDOWN_GRACE_MS', 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT'];
const QUEUE_METRIC = 'aigc_serving_queue_depth';

// ---------------------------------------------------------------------------------------------
// 1. Parse every YAML file.
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const yamlFiles = walk(DEPLOY).filter((p) => /\.ya?ml$/.test(p));
const parsed = new Map();
for (const file of yamlFiles) {
  const docs = YAML.parseAllDocuments(readFileSync(file, 'utf8'));
  const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
  expect(errors.length === 0, `${rel(file)}: YAML error: ${errors.join('; ')}`);
  parsed.set(file, docs.map((d) => d.toJS()).filter((d) => d != null));
}
function rel(p) {
  return relative(ROOT, p);
}
function load(file) {
  if (!parsed.has(file)) throw new Error(`not a parsed YAML file: ${rel(file)}`);
  return structuredClone(parsed.get(file));
}

// ---------------------------------------------------------------------------------------------
// 2. A kustomize subset, enough for this folder.
const MERGE_KEYS = { containers: 'name', initContainers: 'name', env: 'name', volumes: 'name', volumeMounts: 'mountPath', ports: 'containerPort', envFrom: null };

function smp(target, patch, path = '') {
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch') continue;
    if (Array.isArray(value) && MERGE_KEYS[key]) {
      const mk = MERGE_KEYS[key];
      const list = Array.isArray(target[key]) ? target[key] : [];
      for (const item of value) {
        const idx = list.findIndex((x) => x[mk] === item[mk]);
        if (item.$patch === 'delete') {
          if (idx < 0) fail(`patch deletes ${path}${key}[${mk}=${item[mk]}] which does not exist`);
          else list.splice(idx, 1);
        } else if (idx >= 0) smp(list[idx], item, `${path}${key}[${item[mk]}].`);
        else list.push(item);
      }
      target[key] = list;
    } else if (value && typeof value === 'object' && !Array.isArray(value) && target[key] && typeof target[key] === 'object' && !Array.isArray(target[key])) {
      smp(target[key], value, `${path}${key}.`);
    } else {
      target[key] = value; // scalars and lists without a merge key are replaced
    }
  }
  return target;
}

function build(dir) {
  const kfile = join(dir, 'kustomization.yaml');
  expect(existsSync(kfile), `${rel(dir)}: no kustomization.yaml`);
  const k = load(kfile)[0];
  let objects = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    if (!existsSync(p)) {
      fail(`${rel(kfile)}: resource ${r} does not exist`);
      continue;
    }
    if (statSync(p).isDirectory()) objects.push(...build(p));
    else {
      expect(p.startsWith(dir + '/'), `${rel(kfile)}: file resource ${r} is outside the kustomization root (kustomize refuses it)`);
      objects.push(...load(p));
    }
  }
  for (const gen of k.configMapGenerator ?? []) {
    const data = Object.fromEntries((gen.literals ?? []).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === gen.name);
    if (gen.behavior === 'merge') {
      expect(!!existing, `${rel(kfile)}: configMapGenerator merge of ${gen.name}, which no base generates`);
      if (existing) Object.assign(existing.data, data);
    } else {
      expect(!existing, `${rel(kfile)}: ConfigMap ${gen.name} generated twice without behavior: merge`);
      objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: gen.name }, data });
    }
  }
  for (const p of k.patches ?? []) {
    expect(!p.target, `${rel(kfile)}: targeted patches are not modelled by check.mjs`);
    const pfile = resolve(dir, p.path);
    if (!existsSync(pfile)) {
      fail(`${rel(kfile)}: patch ${p.path} does not exist`);
      continue;
    }
    for (const patch of load(pfile)) {
      const idx = objects.findIndex((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name);
      if (idx < 0) {
        fail(`${rel(pfile)}: patch target ${patch.kind}/${patch.metadata.name} not found`);
        continue;
      }
      if (patch.$patch === 'delete') objects.splice(idx, 1);
      else smp(objects[idx], patch, `${patch.kind}/${patch.metadata.name}: `);
    }
  }
  for (const r of k.replicas ?? []) {
    const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === r.name);
    expect(!!d, `${rel(kfile)}: replicas for unknown Deployment ${r.name}`);
    if (d) d.spec.replicas = r.count;
  }
  for (const img of k.images ?? []) {
    for (const o of objects) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        if (c.image === img.name) c.image = `${img.newName ?? img.name}:${img.newTag ?? 'latest'}`;
      }
    }
  }
  if (k.namespace) for (const o of objects) if (o.kind !== 'Namespace') o.metadata.namespace = k.namespace;
  return objects;
}

// ---------------------------------------------------------------------------------------------
// 3. Contract checks on a rendered overlay.
const find = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata?.name === name);
const envOf = (c) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

function checkOverlay(name, objs, { gpu }) {
  const where = (s) => `${name}/${s}`;
  const cm = find(objs, 'ConfigMap', 'aigc-common');
  expect(!!cm, `${name}: ConfigMap aigc-common missing`);
  const common = cm?.data ?? {};
  for (const key of ['GRPC_HOST', 'NATS_URL', 'LOG_LEVEL', 'SHUTDOWN_GRACE_MS', 'OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
    expect(key in common, `${name}: aigc-common lacks ${key}`);
  }
  expect(common.GRPC_HOST === '0.0.0.0', `${name}: GRPC_HOST must be 0.0.0.0`);
  expect(['otlp', 'none'].includes(common.OTEL_TRACES_EXPORTER), `${name}: OTEL_TRACES_EXPORTER must be otlp|none`);
  expect(common.NATS_URL === `nats://nats.${NS}.svc.cluster.local:4222`, `${name}: NATS_URL must name the Helm release's client Service`);
  expect(!!find(objs, 'Namespace', NS), `${name}: Namespace ${NS} missing`);
  expect(objs.every((o) => o.kind === 'Namespace' || o.metadata.namespace === NS), `${name}: every object must land in namespace ${NS}`);

  for (const [svc, spec] of Object.entries(SERVICES)) {
    const w = where(svc);
    const d = find(objs, 'Deployment', svc);
    const s = find(objs, 'Service', svc);
    expect(!!d, `${w}: Deployment missing`);
    expect(!!s, `${w}: Service missing`);
    if (!d || !s) continue;
    const pod = d.spec.template.spec;
    const sel = d.spec.selector?.matchLabels ?? {};
    expect(sel['app.kubernetes.io/name'] === svc, `${w}: selector must be app.kubernetes.io/name=${svc}`);
    expect(d.spec.template.metadata.labels['app.kubernetes.io/name'] === svc, `${w}: pod label must match the selector`);
    expect(s.spec.selector?.['app.kubernetes.io/name'] === svc, `${w}: Service selector mismatch`);
    expect(pod.containers.length === 1, `${w}: expected one container`);
    const c = pod.containers[0];
    expect(c.name === svc, `${w}: container must be named ${svc} (patches match on it)`);
    expect(typeof c.image === 'string' && c.image.length > 0, `${w}: image missing`);

    // env: common keys come from the ConfigMap, the rest from the container.
    const env = envOf(c);
    expect((c.envFrom ?? []).some((e) => e.configMapRef?.name === 'aigc-common'), `${w}: envFrom aigc-common missing`);
    for (const key of COMMON_ENV) expect(key in env || key in common, `${w}: env ${key} missing`);
    expect(env.SERVICE === svc, `${w}: SERVICE must be ${svc}`);
    expect(env.GRPC_PORT === String(spec.grpc), `${w}: GRPC_PORT must be ${spec.grpc}`);
    expect(env.METRICS_PORT === String(spec.metrics), `${w}: METRICS_PORT must be ${spec.metrics}`);
    for (const [key, value] of Object.entries(spec.env)) {
      if (key.endsWith('_ADDR')) {
        const peer = SERVICES[value];
        expect(env[key] === `dns:///${value}.${NS}.svc.cluster.local:${peer.grpc}`, `${w}: ${key} must be dns:///${value}.${NS}.svc.cluster.local:${peer.grpc}`);
      } else expect(env[key] === value, `${w}: ${key} must be ${value}`);
    }
    if (spec.model) expect(typeof env.MODEL_REPOSITORY === 'string' && env.MODEL_REPOSITORY.startsWith('/'), `${w}: MODEL_REPOSITORY must be an absolute path`);
    if (svc === 'billing') {
      const sqlite = 'BILLING_DB' in env;
      const pg = 'BILLING_DATABASE_URL' in env;
      expect(sqlite !== pg, `${w}: exactly one of BILLING_DB / BILLING_DATABASE_URL`);
      if (sqlite) {
        expect((d.spec.replicas ?? 1) === 1 && d.spec.strategy?.type === 'Recreate', `${w}: SQLite billing needs 1 replica and Recreate`);
        const vol = (pod.volumes ?? []).find((v) => v.persistentVolumeClaim);
        expect(!!vol && !!find(objs, 'PersistentVolumeClaim', vol.persistentVolumeClaim.claimName), `${w}: SQLite billing needs its PVC`);
        const dir = dirname(env.BILLING_DB);
        expect((c.volumeMounts ?? []).some((m) => m.name === vol?.name && dir.startsWith(m.mountPath)), `${w}: BILLING_DB must live on the PVC mount`);
      }
      if (pg) {
        const ref = env.BILLING_DATABASE_URL?.secretKeyRef;
        expect(!!ref, `${w}: BILLING_DATABASE_URL must come from a Secret`);
        const cluster = objs.find((o) => o.kind === 'Cluster' && o.apiVersion?.startsWith('postgresql.cnpg.io/'));
        expect(!!cluster && ref?.name === `${cluster.metadata.name}-app` && ref?.key === 'uri', `${w}: BILLING_DATABASE_URL must read <cnpg cluster>-app/uri`);
        expect((d.spec.replicas ?? 1) >= 2, `${w}: PostgreSQL billing should run several replicas`);
        expect(!find(objs, 'PersistentVolumeClaim', 'billing-data'), `${w}: SQLite PVC left behind`);
      }
    }

    // ports
    const cports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
    expect(cports.grpc === spec.grpc && cports.metrics === spec.metrics, `${w}: container ports grpc/metrics must be ${spec.grpc}/${spec.metrics}`);
    if (svc === 'gateway') expect(cports.http === 8080, `${w}: http port 8080 missing`);
    const sports = Object.fromEntries((s.spec.ports ?? []).map((p) => [p.name, p.port]));
    expect(sports.grpc === spec.grpc && sports.metrics === spec.metrics, `${w}: Service ports grpc/metrics must be ${spec.grpc}/${spec.metrics}`);
    if (svc === 'gateway') expect(s.spec.clusterIP !== 'None' && sports.http === 8080, `${w}: gateway Service must have a cluster IP and port 8080`);
    else expect(s.spec.clusterIP === 'None', `${w}: gRPC backend Service must be headless (clusterIP: None)`);
    const ann = d.spec.template.metadata.annotations ?? {};
    expect(ann['prometheus.io/scrape'] === 'true' && ann['prometheus.io/port'] === String(spec.metrics) && ann['prometheus.io/path'] === '/metrics', `${w}: Prometheus scrape annotations missing or wrong`);

    // probes: native gRPC on the gRPC port
    expect(c.readinessProbe?.grpc?.port === spec.grpc, `${w}: readinessProbe must be grpc on ${spec.grpc}`);
    expect(c.livenessProbe?.grpc?.port === spec.grpc, `${w}: livenessProbe must be grpc on ${spec.grpc}`);
    if (spec.model) {
      expect(c.startupProbe?.grpc?.port === spec.grpc, `${w}: model server needs a grpc startupProbe`);
      const budget = (c.startupProbe?.periodSeconds ?? 10) * (c.startupProbe?.failureThreshold ?? 3);
      expect(budget >= 300, `${w}: startupProbe allows only ${budget}s for model load`);
    }

    // resources
    const r = c.resources ?? {};
    expect(r.requests?.cpu && r.requests?.memory && r.limits?.memory, `${w}: requests.cpu, requests.memory and limits.memory required`);

    // graceful shutdown: preStop sleep + drain must fit in terminationGracePeriodSeconds
    const sleep = c.lifecycle?.preStop?.exec?.command;
    const sleepS = Array.isArray(sleep) && /sleep$/.test(sleep[0]) ? Number(sleep[1]) : NaN;
    expect(Number.isFinite(sleepS) && sleepS > 0 && sleepS <= 15, `${w}: preStop must be a short sleep`);
    const graceMs = Number(env.SHUTDOWN_GRACE_MS ?? common.SHUTDOWN_GRACE_MS);
    const tgps = pod.terminationGracePeriodSeconds ?? 30;
    expect(tgps > sleepS + graceMs / 1000, `${w}: terminationGracePeriodSeconds ${tgps} <= preStop ${sleepS}s + SHUTDOWN_GRACE_MS ${graceMs}ms`);
    if (spec.model) expect(graceMs >= 60000, `${w}: model servers need a long drain (>= 60 s) for in-flight generation`);

    // every mount has a volume
    const vols = new Set((pod.volumes ?? []).map((v) => v.name));
    for (const m of c.volumeMounts ?? []) expect(vols.has(m.name), `${w}: volumeMount ${m.name} has no volume`);
    for (const v of pod.volumes ?? []) {
      if (v.persistentVolumeClaim) expect(!!find(objs, 'PersistentVolumeClaim', v.persistentVolumeClaim.claimName), `${w}: PVC ${v.persistentVolumeClaim.claimName} not in the overlay`);
    }
    expect(pod.securityContext?.runAsNonRoot === true && c.securityContext?.allowPrivilegeEscalation === false, `${w}: must run non-root without privilege escalation`);

    // GPU placement and scaling
    const gpus = r.limits?.['nvidia.com/gpu'];
    if (gpu && spec.model) {
      expect(gpus === 1, `${w}: needs limits nvidia.com/gpu: 1`);
      expect(pod.nodeSelector?.['aigc.dev/pool'] === `${svc}-gpu`, `${w}: needs nodeSelector aigc.dev/pool=${svc}-gpu`);
      expect((pod.tolerations ?? []).some((t) => t.key === 'nvidia.com/gpu'), `${w}: needs a nvidia.com/gpu toleration`);
      expect(/aigc-cuda/.test(c.image), `${w}: GPU pods need the CUDA image`);
      const hpa = find(objs, 'HorizontalPodAutoscaler', svc);
      expect(hpa?.spec.scaleTargetRef?.name === svc && hpa?.spec.metrics?.some((m) => m.pods?.metric?.name === QUEUE_METRIC), `${w}: needs an HPA on ${QUEUE_METRIC}`);
      expect(d.spec.replicas === undefined, `${w}: replicas must be left to the HPA`);
    } else {
      expect(gpus === undefined, `${w}: no GPUs outside gpu-prod model servers`);
      expect(!pod.nodeSelector?.['aigc.dev/pool'], `${w}: no GPU pool outside gpu-prod`);
    }
    if (gpu) {
      const pdb = find(objs, 'PodDisruptionBudget', svc);
      expect(pdb?.spec.selector?.matchLabels?.['app.kubernetes.io/name'] === svc, `${w}: needs a PodDisruptionBudget`);
      const hpa = find(objs, 'HorizontalPodAutoscaler', svc);
      if (hpa) {
        expect(d.spec.replicas === undefined, `${w}: has an HPA and a fixed replicas count`);
        expect((hpa.spec.minReplicas ?? 1) >= 2, `${w}: HPA minReplicas < 2 with a PDB blocks drains`);
      }
    } else {
      expect(d.spec.replicas === 1, `${w}: cpu-dev runs exactly one replica`);
    }
  }
  if (gpu) {
    const collector = find(objs, 'Service', 'otel-collector');
    expect(collector?.spec.ports?.some((p) => p.port === 4318), `${name}: otel-collector Service with OTLP/HTTP 4318 missing`);
    expect(common.OTEL_EXPORTER_OTLP_ENDPOINT === `http://otel-collector.${NS}.svc.cluster.local:4318`, `${name}: OTLP endpoint must name the collector's OTLP/HTTP port (libs/telemetry uses the HTTP exporter)`);
  }
}

const cpuDev = build(join(DEPLOY, 'k8s/overlays/cpu-dev'));
const gpuProd = build(join(DEPLOY, 'k8s/overlays/gpu-prod'));
checkOverlay('cpu-dev', cpuDev, { gpu: false });
checkOverlay('gpu-prod', gpuProd, { gpu: true });

// ---------------------------------------------------------------------------------------------
// 4. The pieces outside kustomize.
{
  const [cm] = load(join(DEPLOY, 'otel/collector.yaml')).filter((o) => o.kind === 'ConfigMap');
  const conf = YAML.parse(cm.data['collector.yaml']);
  expect(conf.receivers?.otlp?.protocols?.http?.endpoint === '0.0.0.0:4318', 'otel: OTLP/HTTP receiver must listen on 0.0.0.0:4318');
  const tr = conf.service?.pipelines?.traces;
  expect(tr?.exporters?.some((e) => e.startsWith('otlp')) && conf.exporters?.prometheus, 'otel: must export traces over OTLP and metrics to Prometheus');
  for (const [, p] of Object.entries(conf.service?.pipelines ?? {})) {
    for (const x of [...p.receivers, ...(p.processors ?? []), ...p.exporters]) {
      expect(x in (conf.receivers ?? {}) || x in (conf.processors ?? {}) || x in (conf.exporters ?? {}) || x in (conf.connectors ?? {}), `otel: pipeline component ${x} is not defined`);
    }
  }
}
{
  const [v] = load(join(DEPLOY, 'nats/values.yaml'));
  expect(v.config?.cluster?.enabled === true && v.config?.cluster?.replicas === 3, 'nats: cluster of 3 required');
  expect(v.config?.jetstream?.enabled === true && v.config?.jetstream?.fileStore?.pvc?.enabled, 'nats: JetStream with a file store PVC required');
}
{
  const [v] = load(join(DEPLOY, 'monitoring/prometheus-adapter-values.yaml'));
  expect(v.rules?.custom?.some((r) => r.name?.as === QUEUE_METRIC && r.seriesQuery.startsWith(QUEUE_METRIC)), `adapter: rule exposing ${QUEUE_METRIC} missing`);
}
{
  const df = readFileSync(join(DEPLOY, 'docker/Dockerfile'), 'utf8');
  expect(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m.test(df), 'Dockerfile: runtime must be node:20-bookworm-slim');
  expect(/nvidia\/cuda:12\.[0-9.]+-cudnn-runtime-ubuntu22\.04/.test(df), 'Dockerfile: CUDA 12 cuDNN runtime base missing');
  expect(/^USER 10001/m.test(df) && /ENTRYPOINT \["\/usr\/bin\/tini", "--"/.test(df), 'Dockerfile: non-root user and tini entrypoint required');
  const froms = df.match(/^FROM .*$/gm) ?? [];
  expect(froms.at(-1) === 'FROM ${NODE_IMAGE} AS runtime', 'Dockerfile: the CPU runtime must be the last (default) stage');
  const npmrc = existsSync(join(ROOT, '.npmrc')) ? readFileSync(join(ROOT, '.npmrc'), 'utf8') : '';
  expect(/^onnxruntime-node-install=skip$/m.test(npmrc), '.npmrc: onnxruntime-node-install=skip missing (the image build relies on it)');
  const entry = readFileSync(join(DEPLOY, 'docker/entrypoint.sh'), 'utf8');
  for (const svc of Object.keys(SERVICES)) expect(entry.includes(svc), `entrypoint.sh: ${svc} not accepted`);
  expect(/exec node "services\/\$\{SERVICE\}\/dist\/main\.js"/.test(entry), 'entrypoint.sh: must exec node services/$SERVICE/dist/main.js');
  expect((statSync(join(DEPLOY, 'docker/entrypoint.sh')).mode & 0o111) !== 0, 'entrypoint.sh: not executable');
}

if (failures.length) {
  console.error(`deploy/check.mjs: ${failures.length} of ${checks} checks failed`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}
console.log(`deploy/check.mjs: ${yamlFiles.length} YAML files parsed, ${checks} checks passed (cpu-dev: ${cpuDev.length} objects, gpu-prod: ${gpuProd.length} objects)`);
