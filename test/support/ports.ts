import * as net from 'net';

/**
 * Test ports come from 20000-31699: below Linux's ephemeral range (32768-60999), where the kernel
 * puts the client side of every outgoing connection (a port picked by binding to 0 can be taken
 * by another worker's NATS client before our server binds it).
 */
const FIRST_PORT = 20_000;
/** Each jest worker (and slot 0 for a plain process such as a benchmark) owns its own block. */
const PORTS_PER_SLOT = 900;
const SLOTS = 13;

const slot = Number(process.env.JEST_WORKER_ID ?? 0) % SLOTS;
const blockStart = FIRST_PORT + slot * PORTS_PER_SLOT;
/** Ports handed out by this process, in order, so a released port is never handed out twice. */
let nextOffset = 0;

/**
 * Returns a TCP port free on 127.0.0.1, from this worker's own block.
 *
 * Ports are handed out in turn (wrapping after the block), and each is checked by binding it, so
 * neither another jest worker nor a client connection of this machine can hold it; a port some
 * unrelated process listens on is skipped.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < PORTS_PER_SLOT; tried++) {
    const port = blockStart + nextOffset;
    nextOffset = (nextOffset + 1) % PORTS_PER_SLOT;
    if (await canBind(port)) return port;
  }
  throw new Error(`freePort: no free port in ${blockStart}-${blockStart + PORTS_PER_SLOT - 1}`);
}

/** True when 127.0.0.1:port can be listened on right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
