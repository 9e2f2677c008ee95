import { JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { SecretKeyReference, TLS_FILES } from './auth';

/** The user and group every pod runs as: the nats image runs as any user, the node image has `node` as 1000. */
export const RUN_AS = 1000;

/** The security context of every container: non-root, read-only root, no privileges, no capabilities, seccomp. */
export function hardenedContainer(): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: RUN_AS,
    group: RUN_AS,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

/** What cdk8s-plus-28 cannot set on a pod spec at `podSpec` (a JSON pointer): the pod's seccomp profile, and no service links. */
export function hardenedPodPatches(podSpec: string): JsonPatch[] {
  return [
    JsonPatch.add(`${podSpec}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }),
    JsonPatch.add(`${podSpec}/enableServiceLinks`, false),
  ];
}

/** A Secret the user named, referenced once per name under `scope`. */
export function secretByName(scope: Construct, name: string): kplus.ISecret {
  const id = `Secret-${name}`;
  return (scope.node.tryFindChild(id) as kplus.ISecret | undefined) ?? kplus.Secret.fromSecretName(scope, id, name);
}

/** An environment variable's value from a Secret key the user named. */
export function secretEnvValue(scope: Construct, ref: SecretKeyReference): kplus.EnvValue {
  return kplus.EnvValue.fromSecretValue({ secret: secretByName(scope, ref.secretName), key: ref.key });
}

/** A volume holding only `ca.crt` of a certificate Secret: what a client needs to trust the server. */
export function caVolume(scope: Construct, id: string, secretName: string, volumeName: string): kplus.Volume {
  return kplus.Volume.fromSecret(scope, id, secretByName(scope, secretName), {
    name: volumeName, items: { [TLS_FILES.ca]: { path: TLS_FILES.ca } },
  });
}
