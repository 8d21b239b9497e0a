import net from 'node:net';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { TEST_DATABASE_URL, type TestDatabase } from './db.ts';

/**
 * A TCP proxy in front of Postgres that a test can cut and restore, to see the server with its
 * database gone and back, without stopping the machine's Postgres; or freeze and thaw, to see it
 * with a database that accepts connections and then never answers (a SIGSTOPped server).
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  private frozen = false;
  private held: (() => void)[] = [];
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = this.port): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      // Data is forwarded by hand rather than piped so that a frozen proxy can hold it.
      const forward = (from: net.Socket, to: net.Socket) =>
        from.on('data', (chunk) => {
          if (this.frozen) this.held.push(() => to.write(chunk));
          else to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Connections stay open and new ones are accepted, but nothing passes: the database hangs. */
  freeze(): void {
    this.frozen = true;
  }

  /** Everything held passes, in order, and traffic flows again. */
  thaw(): void {
    this.frozen = false;
    const held = this.held;
    this.held = [];
    for (const send of held) send();
  }

  /** Closes the listener and every open connection: the database is "down". */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

/**
 * A second handle on a test database that reaches Postgres through a TcpProxy, so a test can cut
 * (`stop`) or freeze the connection while the migrated schema stays reachable directly.
 */
export async function openThroughProxy(
  tdb: TestDatabase,
  poolSize = 4,
): Promise<{ proxy: TcpProxy; viaProxy: Database }> {
  const url = new URL(TEST_DATABASE_URL!);
  const proxy = new TcpProxy(url.hostname, Number(url.port || 5432));
  await proxy.start();
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${proxy.port}`;
  const viaProxy = await openDatabase({ databaseUrl: proxied.toString(), schema: tdb.schema!, poolSize });
  return { proxy, viaProxy };
}
