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
