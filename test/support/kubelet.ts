import * as fs from 'fs';
import * as path from 'path';
import { nodeOfImage } from './job-node';

/**
 * A container's environment as the kubelet builds it from a synthesized manifest: Secret keys
 * looked up in `secrets` (by `secretName/key`), field references from `fields`, and `$(VAR)`
 * in a value expanded from the variables declared before it.
 */
export function kubeletEnvironment(
  env: ReadonlyArray<{ name: string; value?: string; valueFrom?: any }>,
  secrets: ReadonlyMap<string, string>,
  fields: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const result: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const variable of env) {
    const secretRef = variable.valueFrom?.secretKeyRef;
    const fieldRef = variable.valueFrom?.fieldRef;
    if (secretRef) {
      const value = secrets.get(`${secretRef.name}/${secretRef.key}`);
      if (value === undefined) throw new Error(`no secret ${secretRef.name}/${secretRef.key} for ${variable.name}`);
      result[variable.name] = value;
    } else if (fieldRef) {
      const value = fields[fieldRef.fieldPath];
      if (value === undefined) throw new Error(`no field ${fieldRef.fieldPath} for ${variable.name}`);
      result[variable.name] = value;
    } else {
      result[variable.name] = (variable.value ?? '').replace(/\$\(([A-Za-z_]\w*)\)/g, (reference, name: string) => result[name] ?? reference);
    }
  }
  return result;
}

/**
 * Writes every ConfigMap volume a pod's first container mounts into a local directory per mount,
 * as the kubelet does: `data` as text, `binaryData` decoded, `items` renamed, projected volumes
 * joined into one directory. Returns each mount path with its local directory.
 */
export function materializeConfigMapMounts(objects: readonly any[], pod: any, root: string): Map<string, string> {
  const mounts = new Map<string, string>();
  const configMap = (name: string) => {
    const found = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name);
    if (!found) throw new Error(`the pod mounts ConfigMap ${name}, which the manifests do not hold`);
    return found;
  };
  for (const mount of pod.containers[0].volumeMounts) {
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    const sources = volume.configMap ? [volume.configMap] : (volume.projected?.sources ?? []).map((s: any) => s.configMap);
    if (sources.length === 0) continue;
    const dir = path.join(root, mount.name);
    fs.mkdirSync(dir, { recursive: true });
    for (const source of sources) {
      const object = configMap(source.name);
      const files = new Map<string, Buffer>([
        ...Object.entries(object.data ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value as string)]),
        ...Object.entries(object.binaryData ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value as string, 'base64')]),
      ]);
      const items: Array<{ key: string; path: string }> = source.items ?? [...files.keys()].map((key) => ({ key, path: key }));
      for (const item of items) fs.writeFileSync(path.join(dir, item.path), files.get(item.key) as Buffer);
    }
    mounts.set(mount.mountPath, dir);
  }
  return mounts;
}

/** A pod's first container as it would run on this machine; see {@link localContainer}. */
export interface LocalContainer {
  /** The command, `node` being the image's (see {@link nodeOfImage}), mount paths mapped to their local directories. */
  readonly command: readonly string[];
  /** The environment the kubelet builds, mount paths mapped the same way. */
  readonly env: Record<string, string>;
  /** Each mount path with its local directory. */
  readonly mounts: ReadonlyMap<string, string>;
}

/**
 * A pod's first container as the kubelet would run it, here: its ConfigMaps written under `root`
 * (see {@link materializeConfigMapMounts}), its command and its environment (Secrets from
 * `secrets`) with every mount path replaced by its local directory.
 */
export function localContainer(objects: readonly any[], pod: any, root: string, secrets: ReadonlyMap<string, string>): LocalContainer {
  const mounts = materializeConfigMapMounts(objects, pod, root);
  const local = (text: string) => [...mounts].reduce((mapped, [mountPath, dir]) => mapped.replace(mountPath, dir), text);
  const container = pod.containers[0];
  const env = Object.fromEntries(Object.entries(kubeletEnvironment(container.env, secrets)).map(([name, value]) => [name, local(value)]));
  const [command, ...args] = (container.command as string[]).map(local);
  return { command: [command === 'node' ? nodeOfImage(container.image) : command, ...args], env, mounts };
}
