import { Server } from 'node:http';
import type { ServerType } from '@hono/node-server';

/**
 * Keep-alive connections outlive a typical load balancer's idle timeout (60 s): otherwise the
 * server may close a connection just as a client reuses it, and that request fails. Node's
 * default is 5 s. `serve` gives an HTTP/1 server unless told otherwise; an HTTP/2 one keeps its
 * sessions by its own settings.
 */
export function keepConnectionsForLoadBalancers(server: ServerType): void {
  if (!(server instanceof Server)) return;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}

/** Closes the connections no request is using now (a stopping server: they would hold the close open). */
export function closeIdleConnections(server: ServerType): void {
  if (server instanceof Server) server.closeIdleConnections();
}
