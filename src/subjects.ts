import { NatsServerVersion } from './versions';

/** Longest stream name nats-server accepts, counted in UTF-8 bytes as Go's `len` does. */
const MAX_STREAM_NAME_BYTES = 255;

/** The whitespace nats-server refuses in names (Go's `" \t\r\n\f"`): no other Unicode space. */
const NAME_WHITESPACE = /[ \t\r\n\f]/;
/** Subject syntax and path separators: stream names become subject tokens and directory names. */
const NAME_FORBIDDEN = /[.*>/\\]/;

/**
 * Returns why `name` is not a valid JetStream stream name, or `undefined` when it is valid.
 *
 * Exactly the server's rules: non-empty, at most 255 UTF-8 bytes, none of space, tab, CR, LF, form
 * feed, `. * > / \`, and no NUL (a file stream's directory cannot have it in its name).
 */
export function streamNameProblem(name: string): string | undefined {
  if (name.length === 0) {
    return 'must not be empty';
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_STREAM_NAME_BYTES) {
    return `must be at most ${MAX_STREAM_NAME_BYTES} bytes (has ${bytes})`;
  }
  if (NAME_WHITESPACE.test(name)) {
    return 'must not contain whitespace';
  }
  if (name.includes('\0')) {
    return 'must not contain NUL';
  }
  const forbidden = NAME_FORBIDDEN.exec(name);
  return forbidden === null ? undefined : `must not contain "${forbidden[0]}"`;
}

// Subjects: \s misses U+0085 (NEXT LINE), which \p{White_Space} includes.
const WHITESPACE = /[\s\p{White_Space}]/u;

/**
 * Returns why `subject` is not a valid subscription subject, or `undefined` when it is valid.
 *
 * Rules: non-empty, no whitespace, `.`-separated non-empty tokens, `*` and `>` only as whole tokens, `>` only last.
 */
export function subjectProblem(subject: string): string | undefined {
  const checked = checkSubject(subject);
  return 'problem' in checked ? checked.problem : undefined;
}

/** Why `subject` is not a subject one can publish to (valid, without wildcards), or `undefined`. */
export function literalSubjectProblem(subject: string): string | undefined {
  return subjectProblem(subject) ?? (/(^|\.)[*>](\.|$)/.test(subject) ? 'must not contain wildcards' : undefined);
}

/** A subject split into its tokens, or why it is not a valid subject. */
export type CheckedSubject = { readonly tokens: readonly string[] } | { readonly problem: string };

/** Checks `subject` with the rules of {@link subjectProblem}, and splits it when it keeps them. */
export function checkSubject(subject: string): CheckedSubject {
  if (subject.length === 0) {
    return { problem: 'must not be empty' };
  }
  if (WHITESPACE.test(subject)) {
    return { problem: 'must not contain whitespace' };
  }
  const tokens = subject.split('.');
  if (tokens.includes('')) {
    return { problem: 'has an empty token' };
  }
  if (tokens.some((token) => token !== '*' && token.includes('*'))) {
    return { problem: '"*" must be a whole token' };
  }
  if (tokens.some((token) => token !== '>' && token.includes('>'))) {
    return { problem: '">" must be a whole token' };
  }
  const fullWildcard = tokens.indexOf('>');
  return fullWildcard !== -1 && fullWildcard < tokens.length - 1 ? { problem: '">" must be the last token' } : { tokens };
}

/** What {@link checkSubjects} found for a list, and the elements it found it for. */
const checkedLists = new WeakMap<readonly string[], { readonly subjects: readonly string[]; readonly checked: readonly CheckedSubject[] }>();

/**
 * {@link checkSubject} of every subject of a list, once per list: the answer is kept for the array
 * (not a copy) while its elements stay the same, so a stream's own rules and its store's overlap
 * rule, which read the same definition's subjects, check each subject once between them.
 */
export function checkSubjects(subjects: readonly string[]): readonly CheckedSubject[] {
  const known = checkedLists.get(subjects);
  if (known !== undefined && known.subjects.length === subjects.length && known.subjects.every((s, i) => s === subjects[i])) {
    return known.checked;
  }
  const checked = subjects.map(checkSubject);
  checkedLists.set(subjects, { subjects: [...subjects], checked });
  return checked;
}

/**
 * Tells whether some literal subject matches both subject patterns `a` and `b`.
 *
 * @throws Error when either argument is not a valid subject.
 */
export function subjectsOverlap(a: string, b: string): boolean {
  return tokensOverlap(tokenize(a), tokenize(b));
}

function tokensOverlap(left: readonly string[], right: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    // ">" needs at least one token from the other side, and then matches whatever follows.
    if (left[i] === '>') {
      return i < right.length;
    }
    if (right[i] === '>') {
      return i < left.length;
    }
    if (i === left.length || i === right.length) {
      return left.length === right.length;
    }
    if (left[i] !== right[i] && left[i] !== '*' && right[i] !== '*') {
      return false;
    }
  }
}

/** Two inserted subjects that some literal subject matches both of; `a` was inserted first. */
export interface SubjectOverlap<T> {
  readonly a: { readonly subject: string; readonly owner: T };
  readonly b: { readonly subject: string; readonly owner: T };
}

/** Tells whether every subject `subject` matches is also matched by `pattern` (both valid subjects). */
export function subjectIsSubset(subject: string, pattern: string): boolean {
  return tokensWithin(tokenize(subject), tokenize(pattern));
}

function tokensWithin(inner: readonly string[], outer: readonly string[]): boolean {
  for (let i = 0; i < outer.length; i++) {
    if (outer[i] === '>') return i < inner.length;
    if (i === inner.length || inner[i] === '>') return false;
    if (outer[i] !== '*' && inner[i] !== outer[i]) return false;
  }
  return inner.length === outer.length;
}

/**
 * The generations of the server's rules on subjects it answers itself, oldest first.
 */
export enum ReservedSubjectRules {
  /** Before 2.10.17: only `$JS.API.>` and what lies inside it are refused, with or without `noAck`. */
  API_ONLY = 0,
  /**
   * From 2.10.17 (nats-server pull request 5548): a subject inside `$JS.>`, `$JSC.>` or `$SYS.>`
   * needs `noAck` (`$JS.EVENT.>` and `$SYS.ACCOUNT.>` exempt), and `>` needs `noAck` and one replica.
   */
  SUBSET = 1,
  /** From 2.11.2: as before, for any subject that overlaps those namespaces or `$NRG.>`, wildcards included. */
  OVERLAP = 2,
}

/** The reserved-subject rules of a server release. */
export function reservedSubjectRules(version: NatsServerVersion): ReservedSubjectRules {
  if (version.atLeast('2.11.2')) return ReservedSubjectRules.OVERLAP;
  return version.atLeast('2.10.17') ? ReservedSubjectRules.SUBSET : ReservedSubjectRules.API_ONLY;
}

/** Subjects the server itself answers, and the part of each a stream may capture anyway. */
const SERVER_NAMESPACES = [
  { namespace: '$JS.>', exempt: '$JS.EVENT.>', api: 'JetStream API', since: ReservedSubjectRules.SUBSET },
  { namespace: '$JSC.>', api: 'JetStream API', since: ReservedSubjectRules.SUBSET },
  { namespace: '$NRG.>', api: 'JetStream API', since: ReservedSubjectRules.OVERLAP },
  { namespace: '$SYS.>', exempt: '$SYS.ACCOUNT.>', api: 'system API', since: ReservedSubjectRules.SUBSET },
].map((n) => ({ ...n, tokens: n.namespace.split('.'), exemptTokens: n.exempt?.split('.') }));
const JETSTREAM_API_TOKENS = ['$JS', 'API', '>'];

/** The stream settings the server's rules on reserved subjects depend on. */
export interface SubjectCapture {
  readonly noAck: boolean;
  readonly replicas: number;
  /**
   * Which of the server's rules apply: they depend on its release ({@link reservedSubjectRules}).
   * @default ReservedSubjectRules.OVERLAP, the newest and strictest
   */
  readonly rules?: ReservedSubjectRules;
}

/**
 * Returns why the server refuses a stream with `capture` settings on the valid subject
 * `subject`, or `undefined` when it accepts it. The newer rules exist because a stream that acks
 * answers every request it captures, the server's own included.
 *
 * @param tokens the subject's tokens, when the caller has checked it already ({@link checkSubject})
 * @throws Error when `subject` is not a valid subject and no tokens are given
 */
export function reservedSubjectProblem(subject: string, capture: SubjectCapture, tokens: readonly string[] = tokenize(subject)): string | undefined {
  const rules = capture.rules ?? ReservedSubjectRules.OVERLAP;
  if (rules === ReservedSubjectRules.API_ONLY) {
    return tokensWithin(tokens, JETSTREAM_API_TOKENS) ? 'is inside the JetStream API "$JS.API.>", which the server refuses to capture' : undefined;
  }
  if (subject === '>') {
    if (!capture.noAck) return 'captures every subject, so it needs noAck: a stream that acks would answer every request, the server\'s own included';
    return capture.replicas === 1 ? undefined : 'captures every subject, so it needs replicas 1';
  }
  if (capture.noAck) return undefined;
  const overlap = rules === ReservedSubjectRules.OVERLAP;
  const reserved = SERVER_NAMESPACES.find((n) => n.since <= rules
    && (overlap ? tokensOverlap(tokens, n.tokens) : tokensWithin(tokens, n.tokens))
    && !(n.exemptTokens !== undefined && tokensWithin(tokens, n.exemptTokens)));
  if (reserved === undefined) return undefined;
  return `${overlap ? 'overlaps' : 'is inside'} the ${reserved.api} "${reserved.namespace}", so it needs noAck: a stream that acks would answer those requests in the server's place`;
}

interface Entry<T> {
  readonly subject: string;
  readonly tokens: readonly string[];
  readonly owner: T;
  readonly index: number;
}

interface TrieNode<T> {
  readonly literals: Map<string, TrieNode<T>>;
  star: TrieNode<T> | undefined;
  /** Entries whose last token leads to this node. */
  readonly ends: Array<Entry<T>>;
  /** Entries whose next token, at this node, is `>`. */
  readonly rest: Array<Entry<T>>;
  /** All children merged into one trie, built the first time a `*` query passes this node. */
  starView?: TrieNode<T>;
}

/**
 * Collects owned subjects in a token trie and finds every pair that overlaps.
 *
 * Complexity: insert is O(tokens). A query token `*` does not walk every child of a node: it
 * continues in the node's star view, all children merged into one trie (built once, at most the
 * size of the subtree). So a query costs O(2^wildcards in the stored path + overlaps found), and
 * finding the overlaps of n subjects is near-linear in n whatever mix of `*`, `>` and literals.
 */
export class SubjectTree<T> {
  private readonly root: TrieNode<T> = newNode();
  private readonly entries: Array<Entry<T>> = [];

  /**
   * Adds `subject` on behalf of `owner`; the same subject may be added any number of times.
   *
   * @param tokens the subject's tokens, when the caller has checked it already ({@link checkSubject})
   * @throws Error when `subject` is not a valid subject and no tokens are given.
   */
  insert(subject: string, owner: T, tokens: readonly string[] = tokenize(subject)): void {
    const entry: Entry<T> = { subject, tokens, owner, index: this.entries.length };
    this.entries.push(entry);
    let node = this.root;
    for (const token of entry.tokens) {
      // Star views below this node no longer hold every entry.
      node.starView = undefined;
      if (token === '>') {
        node.rest.push(entry);
        return;
      }
      node = token === '*' ? (node.star ??= newNode()) : getOrAdd(node.literals, token);
    }
    node.ends.push(entry);
  }

  /**
   * Yields every pair of inserted subjects that overlap, identical ones and same-owner ones included.
   *
   * Each pair appears once with `a` inserted before `b`, ordered by `a`'s insertion and then `b`'s.
   * Pairs are found as they are taken, so a caller that stops early does not pay for the rest
   * (n subjects that all overlap make n^2/2 pairs).
   */
  *overlaps(): Generator<SubjectOverlap<T>> {
    for (const first of this.entries) {
      const found: Array<Entry<T>> = [];
      collectMatches(this.root, first.tokens, 0, found);
      const later = found.filter((second) => second.index > first.index).sort((x, y) => x.index - y.index);
      for (const second of later) yield { a: publicEntry(first), b: publicEntry(second) };
    }
  }

  /** Every pair {@link overlaps} yields, as an array. */
  findOverlaps(): Array<SubjectOverlap<T>> {
    return [...this.overlaps()];
  }

  /**
   * Every inserted subject that overlaps `subject` (which is not inserted), in insertion order.
   *
   * @throws Error when `subject` is not a valid subject and no tokens are given.
   */
  matching(subject: string, tokens: readonly string[] = tokenize(subject)): Array<{ readonly subject: string; readonly owner: T }> {
    const found: Array<Entry<T>> = [];
    collectMatches(this.root, tokens, 0, found);
    return found.sort((x, y) => x.index - y.index).map(publicEntry);
  }
}

function tokenize(subject: string): readonly string[] {
  const checked = checkSubject(subject);
  if ('problem' in checked) {
    throw new Error(`invalid subject ${JSON.stringify(subject)}: ${checked.problem}`);
  }
  return checked.tokens;
}

function newNode<T>(): TrieNode<T> {
  return { literals: new Map(), star: undefined, ends: [], rest: [] };
}

function getOrAdd<T>(children: Map<string, TrieNode<T>>, token: string): TrieNode<T> {
  let child = children.get(token);
  if (child === undefined) {
    child = newNode();
    children.set(token, child);
  }
  return child;
}

function childrenOf<T>(node: TrieNode<T>): Array<TrieNode<T>> {
  return node.star === undefined ? [...node.literals.values()] : [...node.literals.values(), node.star];
}

/** Pushes into `found` every entry at or below `node` that overlaps `query` from token `depth` on. */
function collectMatches<T>(node: TrieNode<T>, query: readonly string[], depth: number, found: Array<Entry<T>>): void {
  if (depth === query.length) {
    pushAll(found, node.ends);
    return;
  }
  // A stored ">" here matches any query that still has a token left.
  pushAll(found, node.rest);
  const token = query[depth];
  if (token === '>') {
    childrenOf(node).forEach((child) => collectSubtree(child, found));
  } else if (token === '*') {
    const view = starViewOf(node);
    if (view !== undefined) collectMatches(view, query, depth + 1, found);
  } else {
    const literal = node.literals.get(token);
    if (literal !== undefined) {
      collectMatches(literal, query, depth + 1, found);
    }
    if (node.star !== undefined) {
      collectMatches(node.star, query, depth + 1, found);
    }
  }
}

/** The node's children merged into one trie (cached), or undefined when it has none. */
function starViewOf<T>(node: TrieNode<T>): TrieNode<T> | undefined {
  const children = childrenOf(node);
  if (children.length === 0) return undefined;
  if (children.length === 1) return children[0];
  return (node.starView ??= mergeNodes(children));
}

/** A new trie holding every entry of `nodes` at the same relative place; the inputs are left as they are. */
function mergeNodes<T>(nodes: ReadonlyArray<TrieNode<T>>): TrieNode<T> {
  const merged = newNode<T>();
  const literalGroups = new Map<string, Array<TrieNode<T>>>();
  const starGroup: Array<TrieNode<T>> = [];
  for (const node of nodes) {
    pushAll(merged.ends, node.ends);
    pushAll(merged.rest, node.rest);
    for (const [token, child] of node.literals) getOrAddGroup(literalGroups, token).push(child);
    if (node.star !== undefined) starGroup.push(node.star);
  }
  for (const [token, group] of literalGroups) merged.literals.set(token, group.length === 1 ? group[0] : mergeNodes(group));
  if (starGroup.length > 0) merged.star = starGroup.length === 1 ? starGroup[0] : mergeNodes(starGroup);
  return merged;
}

function getOrAddGroup<T>(groups: Map<string, Array<TrieNode<T>>>, token: string): Array<TrieNode<T>> {
  let group = groups.get(token);
  if (group === undefined) {
    group = [];
    groups.set(token, group);
  }
  return group;
}

/** Pushes into `found` every entry stored at or below `node`. */
function collectSubtree<T>(node: TrieNode<T>, found: Array<Entry<T>>): void {
  pushAll(found, node.ends);
  pushAll(found, node.rest);
  childrenOf(node).forEach((child) => collectSubtree(child, found));
}

// A loop, not push(...items), because spreading thousands of identical subjects can overflow the stack.
function pushAll<T>(target: T[], items: readonly T[]): void {
  for (const item of items) {
    target.push(item);
  }
}

function publicEntry<T>(entry: Entry<T>): { subject: string; owner: T } {
  return { subject: entry.subject, owner: entry.owner };
}
