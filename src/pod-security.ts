import * as kplus from 'cdk8s-plus-28';

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
