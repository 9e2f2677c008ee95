import * as net from 'net';

/**
 * Returns a TCP port that was free on 127.0.0.1 a moment ago.
 *
 * The kernel picks the port (bind to port 0), so parallel jest workers do not collide
 * on a guessed number; the port is released before returning, so another process can
 * still take it in between — callers that start servers should retry on "address in use".
 */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address: ${String(address)}`));
        return;
      }
      const port = address.port;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
