import { ApiObject } from 'cdk8s';

/**
 * Runs `transform` on an object's final JSON, after cdk8s and cdk8s-plus have rendered it (after
 * their typed conversion, which drops fields it has no type for). Wrappers stack: the last one
 * added runs last.
 */
export function afterRendering(object: ApiObject, transform: (json: any) => any): void {
  const render = object.toJson.bind(object);
  object.toJson = () => transform(render());
}

/** Sorts object keys at every level, as cdk8s does for the objects it renders. */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeysDeep((value as any)[key])]));
}
