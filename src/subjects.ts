/** Longest stream name nats-server accepts, counted in UTF-8 bytes as Go's `len` does. */
const MAX_STREAM_NAME_BYTES = 255;

// \s misses U+0085 (NEXT LINE), which \p{White_Space} includes.
const WHITESPACE = /[\s\p{White_Space}]/u;
const CONTROL = /\p{Cc}/u;
// Stream names become subject tokens and directory names on the server.
const NAME_FORBIDDEN = /[.*>/\\]/;

/**
 * Returns why `name` is not a valid JetStream stream name, or `undefined` when it is valid.
 *
 * Rules: non-empty, at most 255 UTF-8 bytes, no whitespace, no control characters and none of `. * > / \`.
 */
export function streamNameProblem(name: string): string | undefined {
  if (name.length === 0) {
    return 'must not be empty';
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_STREAM_NAME_BYTES) {
    return `must be at most ${MAX_STREAM_NAME_BYTES} bytes (has ${bytes})`;
  }
  if (WHITESPACE.test(name)) {
    return 'must not contain whitespace';
  }
  if (CONTROL.test(name)) {
    return 'must not contain control characters';
  }
  const forbidden = NAME_FORBIDDEN.exec(name);
  return forbidden === null ? undefined : `must not contain "${forbidden[0]}"`;
}

/**
 * Returns why `subject` is not a valid subscription subject, or `undefined` when it is valid.
 *
 * Rules: non-empty, no whitespace, `.`-separated non-empty tokens, `*` and `>` only as whole tokens, `>` only last.
 */
export function subjectProblem(subject: string): string | undefined {
  if (subject.length === 0) {
    return 'must not be empty';
  }
  if (WHITESPACE.test(subject)) {
    return 'must not contain whitespace';
  }
  const tokens = subject.split('.');
  if (tokens.includes('')) {
    return 'has an empty token';
  }
  if (tokens.some((token) => token !== '*' && token.includes('*'))) {
    return '"*" must be a whole token';
  }
  if (tokens.some((token) => token !== '>' && token.includes('>'))) {
    return '">" must be a whole token';
  }
  const fullWildcard = tokens.indexOf('>');
  return fullWildcard !== -1 && fullWildcard < tokens.length - 1 ? '">" must be the last token' : undefined;
}

/**
 * Tells whether some literal subject matches both subject patterns `a` and `b`.
 *
 * @throws Error when either argument is not a valid subject.
 */
export function subjectsOverlap(a: string, b: string): boolean {
  const left = tokenize(a);
  const right = tokenize(b);
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

interface Entry<T> {
  readonly subject: string;
  readonly tokens: string[];
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
}

/**
 * Collects owned subjects in a token trie and finds every pair that overlaps.
 *
 * Complexity: insert is O(tokens); findOverlaps is, per subject, O(trie nodes its tokens can reach + overlaps found),
 * which stays near-linear overall when subjects are mostly literal or end in `>`.
 */
export class SubjectTree<T> {
  private readonly root: TrieNode<T> = newNode();
  private readonly entries: Array<Entry<T>> = [];

  /**
   * Adds `subject` on behalf of `owner`; the same subject may be added any number of times.
   *
   * @throws Error when `subject` is not a valid subject.
   */
  insert(subject: string, owner: T): void {
    const entry: Entry<T> = { subject, tokens: tokenize(subject), owner, index: this.entries.length };
    this.entries.push(entry);
    let node = this.root;
    for (const token of entry.tokens) {
      if (token === '>') {
        node.rest.push(entry);
        return;
      }
      node = token === '*' ? (node.star ??= newNode()) : getOrAdd(node.literals, token);
    }
    node.ends.push(entry);
  }

  /**
   * Returns every pair of inserted subjects that overlap, identical ones and same-owner ones included.
   *
   * Each pair appears once with `a` inserted before `b`, ordered by `a`'s insertion and then `b`'s.
   */
  findOverlaps(): Array<{ a: { subject: string; owner: T }; b: { subject: string; owner: T } }> {
    return this.entries.flatMap((first) => {
      const found: Array<Entry<T>> = [];
      collectMatches(this.root, first.tokens, 0, found);
      return found
        .filter((second) => second.index > first.index)
        .sort((x, y) => x.index - y.index)
        .map((second) => ({ a: publicEntry(first), b: publicEntry(second) }));
    });
  }
}

function tokenize(subject: string): string[] {
  const problem = subjectProblem(subject);
  if (problem !== undefined) {
    throw new Error(`invalid subject ${JSON.stringify(subject)}: ${problem}`);
  }
  return subject.split('.');
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
function collectMatches<T>(node: TrieNode<T>, query: string[], depth: number, found: Array<Entry<T>>): void {
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
    childrenOf(node).forEach((child) => collectMatches(child, query, depth + 1, found));
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
