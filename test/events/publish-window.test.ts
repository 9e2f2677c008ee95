import type { EventMessage } from '../../src/events/event-message';
import { InFlightBudget, PublishAck, PublishWindow } from '../../src/events/publish-window';

/**
 * The window's bookkeeping with a publish function the test settles by hand; the window against a
 * real server, stopped and started, is in test/events-forwarder.test.ts.
 */

const message = (id: string): EventMessage => ({ subject: `k8s.ns.Pod.${id}`, msgId: id, body: new Uint8Array() });

/** Publishes that wait until the test answers them, in any order. */
class ScriptedPublish {
  readonly sent: string[] = [];
  private readonly pending = new Map<string, { resolve: (ack: PublishAck) => void; reject: (error: Error) => void }[]>();

  readonly publish = (m: EventMessage): Promise<PublishAck> => {
    this.sent.push(m.msgId);
    return new Promise((resolve, reject) => {
      const list = this.pending.get(m.msgId) ?? [];
      list.push({ resolve, reject });
      this.pending.set(m.msgId, list);
    });
  };

  ack(id: string, duplicate = false): void {
    this.take(id).resolve({ duplicate });
  }

  fail(id: string): void {
    this.take(id).reject(new Error('timeout'));
  }

  private take(id: string) {
    const waiting = this.pending.get(id)?.shift();
    if (!waiting) throw new Error(`${id} is not in flight`);
    return waiting;
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

function newWindow(max: number | InFlightBudget, committed?: string) {
  const server = new ScriptedPublish();
  const acknowledged: string[] = [];
  const window = new PublishWindow(server.publish, typeof max === 'number' ? new InFlightBudget(max) : max, {
    acknowledged: (m, ack) => acknowledged.push(`${m.msgId}${ack.duplicate ? ' (duplicate)' : ''}`),
    failed: () => undefined,
    resumed: () => undefined,
  }, committed);
  return { server, window, acknowledged };
}

describe('PublishWindow', () => {
  test('commits a position only once it and every message before it are stored', async () => {
    const { server, window } = newWindow(8, '10');
    await window.send(message('a'), '11');
    await window.send(message('b'), '12');
    window.mark('13');
    await window.send(message('c'), '14');
    server.ack('b');
    server.ack('c');
    await turn();
    expect(window.committed).toBe('10');
    server.ack('a');
    await turn();
    expect(window.committed).toBe('14');
    expect(window.inFlight).toBe(0);
  });

  test('a position reached with nothing in flight is committed at once; listed messages carry none', async () => {
    const { server, window } = newWindow(8);
    window.mark('5');
    expect(window.committed).toBe('5');
    await window.send(message('listed-1'));
    await window.send(message('listed-2'));
    window.mark('9');
    server.ack('listed-2');
    server.ack('listed-1');
    await turn();
    expect(window.committed).toBe('9');
  });

  test('waits for room: a sender is held while the window is full', async () => {
    const { server, window } = newWindow(2);
    await window.send(message('a'), '1');
    await window.send(message('b'), '2');
    let third = false;
    const sending = window.send(message('c'), '3').then(() => (third = true));
    await turn();
    expect([third, server.sent]).toEqual([false, ['a', 'b']]);
    server.ack('a');
    await sending;
    expect(server.sent).toEqual(['a', 'b', 'c']);
  });

  test('windows that share a budget share its bound: one namespace\'s messages hold another\'s back', async () => {
    const budget = new InFlightBudget(2);
    const first = newWindow(budget);
    const second = newWindow(budget);
    await first.window.send(message('a'), '1');
    await first.window.send(message('b'), '2');
    let sent = false;
    const sending = second.window.send(message('c'), '3').then(() => (sent = true));
    await turn();
    expect([sent, budget.used]).toEqual([false, 2]);
    first.server.ack('a');
    await sending;
    expect([second.server.sent, budget.used]).toEqual([['c'], 2]);
  });

  test('knows since when a failure holds sends back', async () => {
    const { server, window } = newWindow(2);
    await window.send(message('a'), '1');
    expect(window.stalledSince).toBeUndefined();
    const before = Date.now();
    server.fail('a');
    await turn();
    expect(window.stalledSince).toBeGreaterThanOrEqual(before);
    window.stop();
  });

  test('a failure stops new sends; once the rest settled the failed messages go again in their first order, then sending resumes', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
    try {
      const { server, window, acknowledged } = newWindow(4);
      for (const [id, position] of [['a', '1'], ['b', '2'], ['c', '3']]) await window.send(message(id), position);
      server.fail('b');
      server.fail('a');
      await turn();
      let sentD = false;
      const sendingD = window.send(message('d'), '4').then(() => (sentD = true));
      server.ack('c');
      await turn();
      expect([sentD, window.committed]).toEqual([false, undefined]);
      jest.advanceTimersByTime(250);
      await turn();
      expect(server.sent).toEqual(['a', 'b', 'c', 'a']);
      server.ack('a', true);
      await turn();
      jest.advanceTimersByTime(250);
      await turn();
      server.ack('b');
      await sendingD;
      expect(server.sent).toEqual(['a', 'b', 'c', 'a', 'b', 'd']);
      expect(window.committed).toBe('3');
      expect(acknowledged).toEqual(['c', 'a (duplicate)', 'b']);
    } finally {
      jest.useRealTimers();
    }
  });

  test('close lets what is in flight finish and sends nothing more; stop gives up on it', async () => {
    const { server, window } = newWindow(1);
    await window.send(message('a'), '1');
    const held = window.send(message('b'), '2');
    window.close();
    expect(await held).toBe(false);
    // A position read after the close would pass a message never sent: it is not recorded.
    window.mark('3');
    expect(server.sent).toEqual(['a']);
    const drained = window.drain();
    server.ack('a');
    await drained;
    expect(window.committed).toBe('1');
  });
});
