import fc from 'fast-check';
import {
  ReservedSubjectRules, SubjectCapture, SubjectTree, checkSubject, checkSubjects, reservedSubjectProblem, reservedSubjectRules, streamNameProblem,
  subjectIsSubset, subjectProblem, subjectsOverlap,
} from '../src/subjects';
import { NatsServerVersion } from '../src/versions';

describe('streamNameProblem', () => {
  test.each<[string]>([
    ['ORDERS'],
    ['orders-v2_eu'],
    ['a'],
    ['a'.repeat(255)],
    ['é'.repeat(127)],
    ['KV_config'],
    ['$weird#but@allowed!'],
    ['日本'],
    // nats-server 2.9.10 accepts these (test/server-rules.test.ts): only its own five whitespace characters are refused.
    ['a\vb'],
    ['a\u00a0b'],
    ['a\u3000b'],
    ['a\u0001b'],
  ])('%p is valid', (name) => {
    expect(streamNameProblem(name)).toBeUndefined();
  });

  test.each<[string, string]>([
    ['', 'must not be empty'],
    ['a'.repeat(256), 'must be at most 255 bytes (has 256)'],
    ['a'.repeat(300), 'must be at most 255 bytes (has 300)'],
    ['é'.repeat(128), 'must be at most 255 bytes (has 256)'],
    ['my stream', 'must not contain whitespace'],
    [' ORDERS', 'must not contain whitespace'],
    ['a\tb', 'must not contain whitespace'],
    ['a\nb', 'must not contain whitespace'],
    ['a\rb', 'must not contain whitespace'],
    ['a\fb', 'must not contain whitespace'],
    ['a\u0000b', 'must not contain NUL'],
    ['orders.eu', 'must not contain "."'],
    ['orders*', 'must not contain "*"'],
    ['orders>', 'must not contain ">"'],
    ['orders/eu', 'must not contain "/"'],
    ['orders\\eu', 'must not contain "\\"'],
    ['a/b.c', 'must not contain "/"'],
  ])('%p: %s', (name, problem) => {
    expect(streamNameProblem(name)).toBe(problem);
  });
});

describe('subjectProblem', () => {
  test.each<[string]>([
    ['orders'],
    ['orders.eu.created'],
    ['*'],
    ['>'],
    ['orders.*'],
    ['orders.>'],
    ['*.*.>'],
    ['orders.*.created'],
    ['$JS.API.>'],
    ['_INBOX.abc123'],
    ['a-b.c_d.e:f'],
  ])('%p is valid', (subject) => {
    expect(subjectProblem(subject)).toBeUndefined();
  });

  test.each<[string, string]>([
    ['', 'must not be empty'],
    ['a..b', 'has an empty token'],
    ['.a', 'has an empty token'],
    ['a.', 'has an empty token'],
    ['.', 'has an empty token'],
    ['a b', 'must not contain whitespace'],
    ['a.b ', 'must not contain whitespace'],
    ['a\tb', 'must not contain whitespace'],
    ['a.\n', 'must not contain whitespace'],
    ['a.\u00a0', 'must not contain whitespace'],
    ['a*', '"*" must be a whole token'],
    ['a.b*.c', '"*" must be a whole token'],
    ['**', '"*" must be a whole token'],
    ['a>', '">" must be a whole token'],
    ['a.>>', '">" must be a whole token'],
    ['>.a', '">" must be the last token'],
    ['a.>.b', '">" must be the last token'],
    ['>.>', '">" must be the last token'],
  ])('%p: %s', (subject, problem) => {
    expect(subjectProblem(subject)).toBe(problem);
  });
});

describe('checkSubject', () => {
  test.each<[string, ReturnType<typeof checkSubject>]>([
    ['orders.*.created', { tokens: ['orders', '*', 'created'] }],
    ['>', { tokens: ['>'] }],
    ['a..b', { problem: 'has an empty token' }],
    ['a.>.b', { problem: '">" must be the last token' }],
  ])('%p: %j, as subjectProblem says', (subject, expected) => {
    expect(checkSubject(subject)).toEqual(expected);
    expect(subjectProblem(subject)).toBe('problem' in expected ? expected.problem : undefined);
  });
});

describe('checkSubjects', () => {
  test('checks every subject of a list, and the same unchanged list only once', () => {
    const subjects = ['orders.>', 'a b'];
    const first = checkSubjects(subjects);
    expect(first).toEqual([{ tokens: ['orders', '>'] }, { problem: 'must not contain whitespace' }]);
    expect(checkSubjects(subjects)).toBe(first);
    expect(checkSubjects([...subjects])).not.toBe(first);
  });

  test('checks a list again once its elements changed', () => {
    const subjects = ['orders.>'];
    checkSubjects(subjects);
    subjects[0] = 'orders..x';
    expect(checkSubjects(subjects)).toEqual([{ problem: 'has an empty token' }]);
    subjects.push('b');
    expect(checkSubjects(subjects)).toEqual([{ problem: 'has an empty token' }, { tokens: ['b'] }]);
  });
});

describe('subjectIsSubset', () => {
  test.each<[string, string, boolean]>([
    ['a.b', 'a.b', true],
    ['a.b', 'a.*', true],
    ['a.*', 'a.*', true],
    ['a.*', 'a.b', false],
    ['a.b.c', 'a.>', true],
    ['a.>', 'a.>', true],
    ['a.*.>', 'a.>', true],
    ['a.>', 'a.*', false],
    ['a', 'a.>', false],
    ['a.b', 'a.b.c', false],
    ['>', '$JS.>', false],
    ['$JS.EVENT.ADVISORY.>', '$JS.EVENT.>', true],
  ])('%p within %p: %p', (subject, pattern, expected) => {
    expect(subjectIsSubset(subject, pattern)).toBe(expected);
  });
});

describe('reservedSubjectProblem', () => {
  const newest = { noAck: false, replicas: 1, rules: ReservedSubjectRules.OVERLAP };
  const subset = { noAck: false, replicas: 1, rules: ReservedSubjectRules.SUBSET };
  const older = { noAck: false, replicas: 1, rules: ReservedSubjectRules.API_ONLY };
  const overlapsJs = 'overlaps the JetStream API "$JS.>", so it needs noAck: a stream that acks would answer those requests in the server\'s place';
  test.each<[string, SubjectCapture, string | undefined]>([
    ['orders.>', newest, undefined],
    ['$JS.EVENT.ADVISORY.>', newest, undefined],
    ['$SYS.ACCOUNT.*.CONNECT', newest, undefined],
    ['$JS.ACK.orders.>', newest, overlapsJs],
    ['$JS.ACK.orders.>', { ...newest, noAck: true }, undefined],
    ['*.*', newest, overlapsJs],
    ['$NRG.x', newest, 'overlaps the JetStream API "$NRG.>", so it needs noAck: a stream that acks would answer those requests in the server\'s place'],
    ['$SYS.>', newest, 'overlaps the system API "$SYS.>", so it needs noAck: a stream that acks would answer those requests in the server\'s place'],
    ['>', newest, 'captures every subject, so it needs noAck: a stream that acks would answer every request, the server\'s own included'],
    ['>', { ...newest, noAck: true, replicas: 3 }, 'captures every subject, so it needs replicas 1'],
    ['>', { ...newest, noAck: true }, undefined],
    ['$JS.ACK.orders.>', subset, 'is inside the JetStream API "$JS.>", so it needs noAck: a stream that acks would answer those requests in the server\'s place'],
    ['*.*', subset, undefined],
    ['$NRG.x', subset, undefined],
    ['$SYS.>', subset, 'is inside the system API "$SYS.>", so it needs noAck: a stream that acks would answer those requests in the server\'s place'],
    ['>', subset, 'captures every subject, so it needs noAck: a stream that acks would answer every request, the server\'s own included'],
    ['>', older, undefined],
    ['$JS.API.>', { ...older, noAck: true }, 'is inside the JetStream API "$JS.API.>", which the server refuses to capture'],
    ['$JS.*.STREAM', older, undefined],
    ['$SYS.>', older, undefined],
  ])('%p with %j: %p', (subject, capture, expected) => {
    expect(reservedSubjectProblem(subject, capture)).toBe(expected);
    expect(reservedSubjectProblem(subject, capture, subject.split('.'))).toBe(expected);
  });

  test.each<[string, ReservedSubjectRules]>([
    ['2.9.25', ReservedSubjectRules.API_ONLY],
    ['2.10.24', ReservedSubjectRules.SUBSET],
    ['2.10.27', ReservedSubjectRules.SUBSET],
    ['2.11.17', ReservedSubjectRules.OVERLAP],
    ['2.15.3', ReservedSubjectRules.OVERLAP],
  ])('NATS %s has rules %p', (version, rules) => {
    expect(reservedSubjectRules(NatsServerVersion.of(version))).toBe(rules);
  });

  test('rejects an invalid subject given without its tokens', () => {
    expect(() => reservedSubjectProblem('a..b', newest)).toThrow('invalid subject "a..b": has an empty token');
  });
});

describe('subjectsOverlap', () => {
  test.each<[string, string, boolean]>([
    ['a', 'a', true],
    ['a.b', 'a.b', true],
    ['a.*', 'a.*', true],
    ['a.>', 'a.>', true],
    ['a', 'b', false],
    ['a.b', 'a.c', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b', true],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.>', 'b.c', false],
    ['*.b', 'a.*', true],
    ['*.b', 'a.c', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['>', '*', true],
    ['>', '>', true],
    ['a.>', '*.>', true],
    ['a.>', '*', false],
    ['a.*.>', 'a.>', true],
    ['a.*.>', 'a.b', false],
    ['a.b.>', 'a.*.c', true],
    ['a.b.>', 'a.c.>', false],
    ['a.b', 'a.b.c', false],
  ])('%p and %p: %p', (a, b, expected) => {
    expect(subjectsOverlap(a, b)).toBe(expected);
    expect(subjectsOverlap(b, a)).toBe(expected);
  });

  test('agrees with searching for a literal subject that both match', () => {
    // Over tokens a, b, c plus an unused "z", every overlap of patterns up to 4 tokens has a witness of at most 4 tokens.
    const witnesses = [1, 2, 3, 4].flatMap((length) => literalsOfLength(length, ['a', 'b', 'c', 'z']));
    const subject = fc.tuple(fc.array(fc.constantFrom('a', 'b', 'c', '*'), { maxLength: 3 }), fc.constantFrom('a', 'b', 'c', '*', '>'))
      .map(([head, last]) => [...head, last].join('.'));
    fc.assert(fc.property(subject, subject, (a, b) => {
      const witnessed = witnesses.some((literal) => matches(a, literal) && matches(b, literal));
      expect(subjectsOverlap(a, b)).toBe(witnessed);
    }), { numRuns: 500 });
  });

  test('rejects invalid subjects', () => {
    expect(() => subjectsOverlap('a..b', 'a')).toThrow('invalid subject "a..b": has an empty token');
    expect(() => subjectsOverlap('a', '>.a')).toThrow('invalid subject ">.a": ">" must be the last token');
  });
});

/** Every literal subject with `length` tokens drawn from `alphabet`. */
function literalsOfLength(length: number, alphabet: string[]): string[][] {
  return length === 0 ? [[]] : literalsOfLength(length - 1, alphabet).flatMap((prefix) => alphabet.map((t) => [...prefix, t]));
}

/** Whether `pattern` matches the literal `tokens`, written independently of the trie and of subjectsOverlap. */
function matches(pattern: string, tokens: string[]): boolean {
  const parts = pattern.split('.');
  return parts.at(-1) === '>'
    ? tokens.length >= parts.length && parts.slice(0, -1).every((p, i) => p === '*' || p === tokens[i])
    : tokens.length === parts.length && parts.every((p, i) => p === '*' || p === tokens[i]);
}

/** Pairs as "a|b" subject strings, for compact assertions. */
function pairs<T>(tree: SubjectTree<T>): string[] {
  return tree.findOverlaps().map(({ a, b }) => `${a.subject}|${b.subject}`);
}

describe('SubjectTree', () => {
  test('an empty tree has no overlaps', () => {
    expect(new SubjectTree<string>().findOverlaps()).toEqual([]);
  });

  test('reports each overlapping pair once with owners, in insertion order', () => {
    const tree = new SubjectTree<string>();
    tree.insert('orders.>', 'ORDERS');
    tree.insert('billing.*', 'BILLING');
    tree.insert('orders.eu.created', 'EU');
    tree.insert('billing.invoice', 'INVOICES');
    tree.insert('shipping', 'SHIPPING');
    expect(tree.findOverlaps()).toEqual([
      { a: { subject: 'orders.>', owner: 'ORDERS' }, b: { subject: 'orders.eu.created', owner: 'EU' } },
      { a: { subject: 'billing.*', owner: 'BILLING' }, b: { subject: 'billing.invoice', owner: 'INVOICES' } },
    ]);
  });

  test('orders pairs by the first element, then the second', () => {
    const tree = new SubjectTree<number>();
    ['a.c', '>', 'a.*', 'a.b', '*.c'].forEach((subject, i) => tree.insert(subject, i));
    expect(pairs(tree)).toEqual([
      'a.c|>', 'a.c|a.*', 'a.c|*.c',
      '>|a.*', '>|a.b', '>|*.c',
      'a.*|a.b', 'a.*|*.c',
    ]);
  });

  test('reports identical subjects and subjects of the same owner', () => {
    const tree = new SubjectTree<string>();
    tree.insert('a.b', 'S1');
    tree.insert('a.*', 'S1');
    tree.insert('a.b', 'S2');
    expect(tree.findOverlaps().map(({ a, b }) => `${a.owner}:${a.subject}|${b.owner}:${b.subject}`)).toEqual([
      'S1:a.b|S1:a.*',
      'S1:a.b|S2:a.b',
      'S1:a.*|S2:a.b',
    ]);
  });

  test('does not report ">" against a shorter subject', () => {
    const tree = new SubjectTree<string>();
    tree.insert('a', 'A');
    tree.insert('a.>', 'B');
    tree.insert('*', 'C');
    expect(pairs(tree)).toEqual(['a|*']);
  });

  test('a query ">" reaches every deeper subject', () => {
    const tree = new SubjectTree<string>();
    tree.insert('a.>', 'Q');
    tree.insert('a', 'X');
    tree.insert('a.b', 'X');
    tree.insert('a.*.c', 'X');
    tree.insert('a.b.>', 'X');
    tree.insert('b.c', 'X');
    expect(pairs(tree).filter((pair) => pair.startsWith('a.>|'))).toEqual(['a.>|a.b', 'a.>|a.*.c', 'a.>|a.b.>']);
  });

  test('takes the tokens of a subject the caller has checked', () => {
    const tree = new SubjectTree<string>();
    tree.insert('a.*', 'S1', ['a', '*']);
    tree.insert('a.b', 'S2', ['a', 'b']);
    expect(tree.findOverlaps().map(({ a, b }) => `${a.owner}:${a.subject}|${b.owner}:${b.subject}`)).toEqual(['S1:a.*|S2:a.b']);
  });

  test('rejects invalid subjects', () => {
    expect(() => new SubjectTree<string>().insert('a.*b', 'X')).toThrow('invalid subject "a.*b": "*" must be a whole token');
  });

  test('finds nothing among 20,000 literal subjects and 100 distinct trailing wildcards', () => {
    const tree = new SubjectTree<number>();
    for (let i = 0; i < 20_000; i++) {
      tree.insert(`s${i}.x`, i);
    }
    for (let i = 0; i < 100; i++) {
      tree.insert(`w${i}.>`, i);
    }
    expect(tree.findOverlaps()).toEqual([]);
  });

  test('finds every overlap with a wildcard among many literal subjects', () => {
    const tree = new SubjectTree<number>();
    for (let i = 0; i < 5_000; i++) {
      tree.insert(`s${i}.x`, i);
    }
    tree.insert('s42.>', -1);
    tree.insert('*.x', -2);
    expect(pairs(tree).filter((pair) => !pair.endsWith('|*.x'))).toEqual(['s42.x|s42.>']);
    expect(pairs(tree).filter((pair) => pair.endsWith('|*.x'))).toHaveLength(5_001);
  });

  test('finds only the real overlap among subjects with a "*" in the middle', () => {
    const tree = new SubjectTree<string>();
    for (let i = 0; i < 4_000; i++) {
      tree.insert(`a.s${i}.x`, `literal-${i}`);
      tree.insert(`a.*.y${i}`, `star-${i}`);
    }
    tree.insert('a.s7.y7', 'probe');
    expect(tree.findOverlaps().map(({ a, b }) => `${a.owner}|${b.owner}`)).toEqual(['star-7|probe']);
  });

  test('a subject inserted after a query is found by the next one', () => {
    const tree = new SubjectTree<string>();
    tree.insert('a.b.c', 'first');
    tree.insert('a.d.c', 'second');
    tree.insert('a.*.e', 'star');
    expect(pairs(tree)).toEqual([]);
    tree.insert('a.b.e', 'late');
    expect(pairs(tree)).toEqual(['a.*.e|a.b.e']);
  });

  test('overlaps() yields pairs lazily, in the order findOverlaps returns them', () => {
    const tree = new SubjectTree<number>();
    ['>', 'a', 'b', 'c'].forEach((subject, i) => tree.insert(subject, i));
    const iterator = tree.overlaps();
    expect(iterator.next().value).toEqual({ a: { subject: '>', owner: 0 }, b: { subject: 'a', owner: 1 } });
    expect([...iterator].map(({ b }) => b.subject)).toEqual(['b', 'c']);
  });

  test('matches brute force over a tiny alphabet', () => {
    const literal = fc.constantFrom('a', 'b', 'c', '*');
    const subject = fc.tuple(fc.array(literal, { minLength: 0, maxLength: 3 }), fc.constantFrom('a', 'b', 'c', '*', '>'))
      .map(([head, last]) => [...head, last].join('.'));
    fc.assert(fc.property(fc.array(subject, { minLength: 1, maxLength: 30 }), (subjects) => {
      const tree = new SubjectTree<number>();
      const half = Math.floor(subjects.length / 2);
      subjects.slice(0, half).forEach((s, i) => tree.insert(s, i));
      // A query between the inserts builds star views that the later inserts must not make stale.
      tree.findOverlaps();
      subjects.slice(half).forEach((s, i) => tree.insert(s, half + i));
      const expected: string[] = [];
      subjects.forEach((a, i) => subjects.forEach((b, j) => {
        if (i < j && subjectsOverlap(a, b)) {
          expected.push(`${i}-${j}`);
        }
      }));
      const actual = tree.findOverlaps().map(({ a, b }) => `${a.owner}-${b.owner}`);
      expect(actual).toEqual(expected);
    }), { numRuns: 500 });
  });
});
