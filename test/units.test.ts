import { Duration, Size } from 'cdk8s';
import fc from 'fast-check';
import { formatBytes, formatBytesReadable, formatBytesReadablePair, formatDuration, parseDuration, parseSize, UnitError } from '../src/units';

const KI = 1024;
const MI = KI * 1024;
const GI = MI * 1024;
const TI = GI * 1024;
const PI = TI * 1024;

const SIZE_SYNTAX = 'expected a whole number of bytes with an optional unit (k, M, G, T, P, Ki, Mi, Gi, Ti, Pi, KB, MB, GB, TB, KiB, MiB, GiB, TiB, B), for example "10Gi" or "1G"';
const DURATION_SYNTAX = 'expected a Go duration such as "240h", "4h35m", "90s" or "100ms"';
const MAX_GO_DURATION = '"2562047h47m16.854s"';

const HOUR = 3_600_000;

describe('parseSize', () => {
  test.each<[string | number, number]>([
    ['0', 0],
    ['1048576', 1048576],
    ['007', 7],
    ['1k', 1000],
    ['1M', 1e6],
    ['1G', 1e9],
    ['1T', 1e12],
    ['1P', 1e15],
    ['1Ki', KI],
    ['1Mi', MI],
    ['10Gi', 10 * GI],
    ['1Ti', TI],
    ['1Pi', PI],
    ['1KB', 1000],
    ['1MB', 1e6],
    ['1GB', 1e9],
    ['1TB', 1e12],
    ['1KiB', KI],
    ['1MiB', MI],
    ['1GiB', GI],
    ['1TiB', TI],
    ['512B', 512],
    ['0B', 0],
    ['1.5Gi', 1.5 * GI],
    ['0.5k', 500],
    ['2.25KiB', 2304],
    ['1.0', 1],
    ['7Pi', 7 * PI],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    [0, 0],
    [1536, 1536],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  ])('%p is %p bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each<[Size, number]>([
    [Size.kibibytes(1), KI],
    [Size.kibibytes(0.5), 512],
    [Size.mebibytes(1.5), 1.5 * MI],
    [Size.gibibytes(10), 10 * GI],
    [Size.tebibytes(2), 2 * TI],
    [Size.pebibyte(1), PI],
  ])('cdk8s Size %s is %p bytes', (size, bytes) => {
    expect(parseSize(size)).toBe(bytes);
  });

  test.each<[string]>([
    ['10Gb'],
    ['10gi'],
    ['10K'],
    ['10 Gi'],
    [' 10Gi'],
    ['10Gi '],
    ['-1'],
    ['-1Gi'],
    ['+1Gi'],
    ['1e3'],
    ['.5Gi'],
    ['1.Gi'],
    ['Gi'],
    [''],
    ['1PB'],
    ['1PiB'],
    ['1,5Gi'],
    ['0x10'],
    ['constructor'],
    ['1constructor'],
  ])('rejects the string %p', (input) => {
    expect(() => parseSize(input)).toThrow(new UnitError('size', JSON.stringify(input), SIZE_SYNTAX));
  });

  test.each<[string]>([['1.5'], ['0.1Ki'], ['1.0001k'], ['0.5B']])('rejects %p as not a whole number of bytes', (input) => {
    expect(() => parseSize(input)).toThrow(`invalid size "${input}": must come to a whole number of bytes`);
  });

  test.each<[string]>([['9007199254740992'], ['8Pi'], ['100000P']])('rejects %p as too large', (input) => {
    expect(() => parseSize(input)).toThrow(`invalid size "${input}": must be at most 9007199254740991 bytes`);
  });

  test.each<[number]>([[-1], [1.5], [NaN], [Infinity], [Number.MAX_SAFE_INTEGER + 1]])('rejects the number %p', (input) => {
    expect(() => parseSize(input)).toThrow(`invalid size ${input}: expected a non-negative safe integer number of bytes`);
  });

  test('rejects a cdk8s Size that is not a whole number of bytes', () => {
    expect(() => parseSize(Size.mebibytes(0.001))).toThrow('invalid size "0.001Mi": must come to a whole number of bytes');
  });

  test('throws UnitError', () => {
    expect(() => parseSize('x')).toThrow(UnitError);
    expect(() => parseSize('x')).toThrow(expect.objectContaining({ name: 'UnitError' }));
  });
});

describe('parseDuration', () => {
  test.each<[string | number, number]>([
    ['0', 0],
    ['0s', 0],
    ['0h0m', 0],
    ['240h', 240 * HOUR],
    ['4h35m', 16_500_000],
    ['1.5h', 1.5 * HOUR],
    ['100ms', 100],
    ['2h45m30.5s', 9_930_500],
    ['90s', 90_000],
    ['1m', 60_000],
    ['7d', 7 * 24 * HOUR],
    ['1d12h', 36 * HOUR],
    ['1000000ns', 1],
    ['5000us', 5],
    ['5000\u00b5s', 5],
    ['5000\u03bcs', 5],
    ['1.h', HOUR],
    ['.5s', 500],
    ['0.001s', 1],
    ['1h1h', 2 * HOUR],
    ['500ms500ms', 1000],
    ['0.5ms500us', 1],
    ['1.25s250ms', 1500],
    ['2562047h47m16.854s', 9_223_372_036_854],
    [0, 0],
    [1500, 1500],
    [9_223_372_036_854, 9_223_372_036_854],
  ])('%p is %p ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test.each<[Duration, number]>([
    [Duration.millis(250), 250],
    [Duration.seconds(1.5), 1500],
    [Duration.minutes(2), 120_000],
    [Duration.hours(240), 240 * HOUR],
    [Duration.days(7), 7 * 24 * HOUR],
  ])('cdk8s Duration %s is %p ms', (duration, ms) => {
    expect(parseDuration(duration)).toBe(ms);
  });

  test.each<[string]>([
    ['10x'],
    ['10'],
    ['1'],
    ['h'],
    ['1x'],
    [' 1h'],
    ['1h '],
    ['1 h'],
    ['1h 30m'],
    [''],
    ['-1h'],
    ['-0'],
    ['+1h'],
    ['.s'],
    ['1.2.3s'],
    ['1mh'],
    ['1H'],
    ['1w'],
    ['1y'],
    ['P1D'],
    ['1e3s'],
    ['00'],
  ])('rejects the string %p', (input) => {
    expect(() => parseDuration(input)).toThrow(new UnitError('duration', JSON.stringify(input), DURATION_SYNTAX));
  });

  test.each<[string]>([['1ns'], ['1.5ms'], ['0.0001s'], ['1500us'], ['1500000ns']])('rejects %p as not a whole number of milliseconds', (input) => {
    expect(() => parseDuration(input)).toThrow(`invalid duration "${input}": must come to a whole number of milliseconds`);
  });

  test.each<[string | number, string]>([
    ['2562047h47m16.855s', '"2562047h47m16.855s"'],
    ['106752d', '"106752d"'],
    [9_223_372_036_855, '9223372036855'],
  ])('rejects %p as longer than a Go duration', (input, label) => {
    expect(() => parseDuration(input)).toThrow(`invalid duration ${label}: must be at most ${MAX_GO_DURATION}, the longest Go duration`);
  });

  test.each<[number]>([[-1], [1.5], [NaN], [Infinity], [Number.MAX_SAFE_INTEGER + 1]])('rejects the number %p', (input) => {
    expect(() => parseDuration(input)).toThrow(`invalid duration ${input}: expected a non-negative safe integer number of milliseconds`);
  });

  test('rejects a cdk8s Duration that is not a whole number of milliseconds', () => {
    expect(() => parseDuration(Duration.millis(1.5))).toThrow('invalid duration "1.5 millis": must come to a whole number of milliseconds');
  });

  test('throws UnitError', () => {
    expect(() => parseDuration('x')).toThrow(UnitError);
  });
});

describe('formatBytes', () => {
  test.each<[number, string]>([
    [0, '0B'],
    [1, '1B'],
    [1536, '1536B'],
    [KI, '1KiB'],
    [1000, '1KB'],
    [2 * GI, '2GiB'],
    [512 * MI, '512MiB'],
    [1e9, '1GB'],
    [5e8, '500MB'],
    [1000 * KI, '1000KiB'],
    [PI, '1024TiB'],
    [1e15, '1000TB'],
    [1e12, '1TB'],
    [1000 * GI, '1000GiB'],
    [1024 * 1e9, '1024GB'],
    [3 * TI, '3TiB'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991B'],
  ])('%p is %p', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  test.each<[number]>([[-1], [0.5], [NaN]])('rejects %p', (bytes) => {
    expect(() => formatBytes(bytes)).toThrow(`invalid size ${bytes}: expected a non-negative safe integer number of bytes`);
  });
});

describe('formatBytesReadable', () => {
  test.each<[number, string]>([
    [0, '0B'],
    [1536, '1536B'],
    [1536 * MI, '1536MiB'],
    [9999 * GI, '9999GiB'],
    [5 * TI, '5TiB'],
    [1e12, '1TB'],
    [5244416 * MI, '5.0TiB'],
    [943718 * MI, '921.6GiB'],
    [10000 * KI, '9.8MiB'],
    [1048575 * MI, '1.0TiB'],
    [9663676416 + 1, '9.0GiB'],
    [PI, '1024TiB'],
    [3 * Number.MAX_SAFE_INTEGER, '24576.0TiB'],
  ])('%p is %p: exact when that is four digits at most, else one decimal in the largest binary unit', (bytes, text) => {
    expect(formatBytesReadable(bytes)).toBe(text);
  });

  test.each<[number]>([[-1], [0.5], [NaN], [Infinity]])('rejects %p', (bytes) => {
    expect(() => formatBytesReadable(bytes)).toThrow(`invalid size ${bytes}: expected a non-negative whole number of bytes`);
  });
});

describe('formatBytesReadablePair', () => {
  test.each<[number, number, [string, string]]>([
    [5244416 * MI, 90 * GI, ['5.0TiB', '90GiB']],
    [5 * TI + MI, 5 * TI, ['5242881MiB', '5TiB']],
    [943718 * MI + 1, 943718 * MI, ['989560045569B', '943718MiB']],
    [3 * Number.MAX_SAFE_INTEGER, 2 * Number.MAX_SAFE_INTEGER, ['24576.0TiB', '16384.0TiB']],
  ])('%p and %p are %p: readable, or both exact where rounding would make them look alike', (a, b, texts) => {
    expect(formatBytesReadablePair(a, b)).toEqual(texts);
  });
});

describe('formatDuration', () => {
  test.each<[number, string]>([
    [0, '0s'],
    [1, '1ms'],
    [100, '100ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [1050, '1.05s'],
    [1001, '1.001s'],
    [60_000, '1m'],
    [HOUR, '1h'],
    [86_400_000, '24h'],
    [16_500_000, '4h35m'],
    [9_930_500, '2h45m30.5s'],
    [HOUR + 500, '1h0.5s'],
    [HOUR * 2400, '2400h'],
    [9_223_372_036_854, '2562047h47m16.854s'],
  ])('%p is %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test.each<[number]>([[-1], [0.5], [Infinity]])('rejects %p', (ms) => {
    expect(() => formatDuration(ms)).toThrow(`invalid duration ${ms}: expected a non-negative safe integer number of milliseconds`);
  });
});

describe('round trips', () => {
  test('parseSize(formatBytes(n)) === n', () => {
    const bytes = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 50 }),
      // Multiples of large units, so the unit branches are exercised and not just "<n>B".
      fc.tuple(fc.integer({ min: 0, max: 1024 }), fc.constantFrom(KI, MI, GI, TI, 1e3, 1e6, 1e9, 1e12)).map(([n, unit]) => n * unit),
    );
    fc.assert(fc.property(bytes, (n) => parseSize(formatBytes(n)) === n));
  });

  test('parseDuration(formatDuration(ms)) === ms', () => {
    const ms = fc.oneof(
      fc.integer({ min: 0, max: 1e12 }),
      fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom(1, 1000, 60_000, HOUR)).map(([n, unit]) => n * unit),
    );
    fc.assert(fc.property(ms, (n) => parseDuration(formatDuration(n)) === n));
  });
});
