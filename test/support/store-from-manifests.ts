import { kubeletEnvironment } from './kubelet';
import { NatsServerHandle, makeTempDir, rewriteConfigForLocal, startNatsServer } from './nats-server';
import { freePort } from './ports';

/** Fake Secret values for every Secret key a manifest names: `<secret>/<key>` gives `pw-<secret>-<key>`. */
export function fakeSecrets(objects: any[]): Map<string, string> {
  const refs = JSON.stringify(objects).matchAll(/"secretKeyRef":\{"key":"([^"]+)","name":"([^"]+)"\}/g);
  return new Map([...refs].map(([, key, name]) => [`${name}/${key}`, `pw-${name}-${key}`]));
}

/**
 * Starts a store's servers from its synthesized manifests, as its StatefulSet would: its own
 * nats.conf (ports, routes and paths rewritten to loopback; the authorization block, which holds
 * neither, kept as rendered) and each pod's environment with `secrets`. Cluster members start
 * together: they turn healthy only once a meta leader exists.
 */
export async function startStoreFromManifests(objects: any[], storeName: string, secrets: ReadonlyMap<string, string>): Promise<NatsServerHandle[]> {
  const statefulSet = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === storeName);
  const natsConf: string = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${storeName}-config`).data['nats.conf'];
  const authorization = /^authorization \{\n[\s\S]*?^\}\n/m.exec(natsConf)?.[0] ?? '';
  const replicas: number = statefulSet.spec.replicas;
  const members = await Promise.all(Array.from({ length: replicas }, async (_, i) => ({
    name: `${storeName}-${i}`, clientPort: await freePort(), monitorPort: await freePort(),
    clusterPort: replicas > 1 ? await freePort() : undefined, storeDir: makeTempDir(),
  })));
  const routes = replicas > 1 ? members.map((m) => `nats://127.0.0.1:${m.clusterPort}`) : undefined;
  return Promise.all(members.map((m) => startNatsServer({
    config: rewriteConfigForLocal(natsConf.replace(authorization, ''), { ...m, serverName: m.name, routes }) + authorization,
    storeDir: m.storeDir,
    clusterPort: m.clusterPort,
    env: kubeletEnvironment(statefulSet.spec.template.spec.containers[0].env, secrets, { 'metadata.name': m.name }),
    timeoutMs: 20_000,
  })));
}

/** The credentials of the store's `admin` user when it authenticates users (the examples have one); none otherwise. */
export function adminCredentials(objects: any[], storeName: string, secrets: ReadonlyMap<string, string>): { user?: string; pass?: string } {
  const env = objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === storeName).spec.template.spec.containers[0].env;
  const admin = env.find((v: any) => v.name === 'NATS_USER_ADMIN_PASSWORD_RAW');
  if (!admin) return {};
  const ref = admin.valueFrom.secretKeyRef;
  return { user: 'admin', pass: secrets.get(`${ref.name}/${ref.key}`) };
}
