import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

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

/** A Secret the user named, referenced once per name under `scope`. */
export function secretByName(scope: Construct, name: string): kplus.ISecret {
  const id = `Secret-${name}`;
  return (scope.node.tryFindChild(id) as kplus.ISecret | undefined) ?? kplus.Secret.fromSecretName(scope, id, name);
}
