import { checkSubject } from './subjects';
import { NatsServerVersion } from './versions';

/**
 * A destination token's mapping function, as nats-server reads `{{name(args)}}`: the function's
 * first letter and each camel-case capital may be either case, and spaces may surround the parts.
 */
interface MappingFunction {
  readonly name: string;
  readonly pattern: RegExp;
  /** The first release whose transform parser knows the function. */
  readonly parsedSince: string;
  /** The first release whose mapping check (of stream, mirror and source transforms) lists it. */
  readonly listedSince: string;
  /** Why the arguments are wrong, or the wildcard positions they reference. */
  readonly read: (args: string[], version: NatsServerVersion) => string | { readonly positions: readonly number[]; readonly positionFree: boolean };
}

/** Where a subject transform is used: nats-server checks each kind its own way. */
export enum TransformUse {
  /** The stream's own subject transform. */
  STREAM = 'stream',
  /** A mirror's or a source's subject transforms. */
  COPY = 'copy',
  /** The stream's republish. */
  REPUBLISH = 'republish',
}

const INT32_MAX = 2 ** 31 - 1;

/** Go's `strconv.Atoi` of an argument with spaces trimmed. */
function integer(arg: string): number | undefined {
  const trimmed = arg.replace(/^ +| +$/g, '');
  return /^[+-]?\d+$/.test(trimmed) && Number.isSafeInteger(Number(trimmed)) ? Number(trimmed) : undefined;
}

/** A function of a wildcard position and an integer, such as `splitFromLeft(1, 3)`. */
function positionAndInteger(args: string[]) {
  if (args.length < 2) return 'needs 2 arguments';
  if (args.length > 2) return 'takes 2 arguments';
  const position = integer(args[0]);
  const n = integer(args[1]);
  if (position === undefined || n === undefined || Math.abs(n) > INT32_MAX) return 'takes integer arguments';
  return { positions: [position], positionFree: false };
}

function fn(name: string, parsedSince: string, listedSince: string, read: MappingFunction['read']): MappingFunction {
  // `splitFromLeft` is matched as `[sS]plit[fF]rom[lL]eft`, as the server does.
  const letters = name.replace(/[A-Za-z]/g, (c, i: number) => (i === 0 || c !== c.toLowerCase() ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c));
  return { name, parsedSince, listedSince, read, pattern: new RegExp(`{{\\s*${letters}\\s*\\((.*)\\)\\s*}}`) };
}

/** In the order nats-server tries them. */
const MAPPING_FUNCTIONS: readonly MappingFunction[] = [
  fn('wildcard', '2.9.0', '2.10.0', (args) => {
    if (args.length === 1 && args[0] === '') return 'needs 1 argument';
    if (args.length > 1) return 'takes 1 argument';
    const position = integer(args[0]);
    return position === undefined ? 'takes an integer argument' : { positions: [position], positionFree: false };
  }),
  fn('partition', '2.9.0', '2.10.0', (args, version) => {
    if (args.length < 2 && !version.atLeast('2.12.0')) return 'needs a wildcard argument before NATS server 2.12.0';
    const [count, ...rest] = args.map(integer);
    if (count === undefined || count > INT32_MAX || rest.some((p) => p === undefined)) return 'takes integer arguments';
    return { positions: rest as number[], positionFree: true };
  }),
  fn('splitFromLeft', '2.9.0', '2.10.0', positionAndInteger),
  fn('splitFromRight', '2.9.0', '2.10.0', positionAndInteger),
  fn('sliceFromLeft', '2.9.0', '2.10.0', positionAndInteger),
  fn('sliceFromRight', '2.9.0', '2.10.0', positionAndInteger),
  fn('right', '2.10.0', '2.14.0', positionAndInteger),
  fn('left', '2.10.0', '2.14.0', positionAndInteger),
  fn('split', '2.9.0', '2.10.0', (args) => {
    if (args.length < 2) return 'needs 2 arguments';
    if (args.length > 2) return 'takes 2 arguments';
    const position = integer(args[0]);
    if (position === undefined) return 'takes an integer first argument';
    return args[1].includes(' ') ? 'takes a delimiter without spaces' : { positions: [position], positionFree: false };
  }),
  fn('random', '2.12.0', '2.12.0', (args) => {
    if (args.length !== 1) return 'takes 1 argument';
    const n = integer(args[0]);
    return n === undefined || n > INT32_MAX ? 'takes an integer argument' : { positions: [], positionFree: true };
  }),
];

/** A destination token nats-server reads as a mapping function. */
function isFunctionToken(token: string): boolean {
  return token.length > 4 && token.startsWith('{{') && token.endsWith('}}');
}

/** Tokens with whitespace in them are no subject tokens, except inside a mapping function. */
const TOKEN_WHITESPACE = /[\t\n\f\r ]/;

/**
 * Why nats-server `version` refuses a subject transform from `source` to `destination` where it is
 * used (`use`), or `undefined` when it takes it.
 *
 * The destination may use `$1` or `{{wildcard(1)}}` for the source's first `*`, and the server's
 * other mapping functions; a source without `*` allows no function that reads a wildcard. An
 * empty source is `>`; an empty destination leaves subjects as they are.
 */
export function subjectTransformProblem(source: string, destination: string, version: NatsServerVersion, use: TransformUse): string | undefined {
  // 2.10 parses a stream's and a republish's transform only; its mirror and source check lists
  // functions as 2.11 does, and later releases check every transform but a republish's that way.
  const listed = use === TransformUse.COPY || (use === TransformUse.STREAM && version.atLeast('2.11.0'));
  if (destination === '') return undefined;
  const from = checkSubject(source === '' ? '>' : source);
  if ('problem' in from) return `source ${from.problem}`;
  const tokens = destination.split('.');
  const functions: Array<{ token: string; positions: readonly number[]; positionFree: boolean }> = [];
  for (const [i, token] of tokens.entries()) {
    if (token === '') return 'destination has an empty token';
    if (token === '*') return 'destination must not contain "*"';
    if (token === '>' && i < tokens.length - 1) return 'destination ">" must be the last token';
    if (isFunctionToken(token)) {
      const match = MAPPING_FUNCTIONS.find((f) => f.pattern.test(token));
      if (!match) return `destination ${JSON.stringify(token)} is not a mapping function`;
      const since = listed ? match.listedSince : match.parsedSince;
      if (!version.atLeast(since)) return `destination ${JSON.stringify(token)}: ${match.name}() ${listed ? 'here ' : ''}needs NATS server ${since} or newer`;
      const args = match.pattern.exec(token)![1].split(/,\s*/);
      const read = match.read(args, version);
      if (typeof read === 'string') return `destination ${JSON.stringify(token)}: ${match.name}() ${read}`;
      functions.push({ token, ...read });
      continue;
    }
    if (TOKEN_WHITESPACE.test(token)) return 'destination must not contain whitespace';
    const legacy = /^\$([+-]?\d+)$/.exec(token);
    if (legacy) functions.push({ token, positions: [Number(legacy[1])], positionFree: false });
  }
  const sourceTokens = from.tokens;
  const fullWildcard = sourceTokens.includes('>');
  if (fullWildcard !== tokens.includes('>')) return 'source and destination must both end in ">" or neither';
  const wildcards = sourceTokens.filter((t) => t === '*').length;
  const shown = JSON.stringify(source || '>');
  for (const f of functions) {
    if (wildcards === 0) {
      // Before 2.12 no function goes with a source without "*"; later releases take those that read no wildcard.
      const taken = version.atLeast('2.12.0') && (fullWildcard ? f.positions.every((p) => p <= 0) : f.positionFree);
      if (!taken) return `destination ${JSON.stringify(f.token)} reads a wildcard, and source ${shown} has no "*"`;
      continue;
    }
    const beyond = f.positions.find((p) => p > wildcards);
    if (beyond !== undefined) return `destination ${JSON.stringify(f.token)} reads wildcard ${beyond}, and source ${shown} has ${wildcards}`;
  }
  return undefined;
}
