import type { IncomingMessage } from 'node:http';
import type { Config } from '../config.ts';
import type { ExactJsonBytes } from '../json.ts';
import type { Db } from '../db/database.ts';
import type { ApiKeyPair } from '../config.ts';
import type { HeavyReadGate } from './middleware.ts';
import type { SigningKeys } from '../certificates/keys.ts';
import type { SignatureFailureCounter } from '../notifications/signature-failures.ts';

/** What a route may put in an error: the envelope decides how an AppError is written. */
export type Envelope = 'agora-numeric' | 'agora-text' | 'vendor' | 'license-api' | 'extension';

/** Who called the license API: the vendor's admin token, or the credentials of one project. */
export type LicenseCaller = { kind: 'admin' } | { kind: 'project'; customerId: string; projectId: string };

export type LogLine = Record<string, unknown>;
export type Logger = (line: LogLine) => void;

export interface AppDeps {
  db: Db;
  config: Config;
  apiKeys: ApiKeyPair[];
  adminToken: string;
  log: Logger;
  /** The time now, asked for by every service that reads the clock; tests give a fixed one. */
  clock: () => Date;
  /** Certificates and license files: unset, taken from the configuration (LICENSE_SIGNING_KEY), if any. */
  signingKeys?: SigningKeys | undefined;
  /** Where Agora signature failures are counted for agora.signature_failed (unset: not counted). */
  signatureFailures?: SignatureFailureCounter;
}

/** What routes get: the app's deps plus what the app builds once and shares (the heavy-read gate). */
export interface RouteDeps extends AppDeps {
  heavyReads: HeavyReadGate;
}

export interface AppEnv {
  /**
   * What @hono/node-server passes each request: the Node request it came from. Absent where the
   * app is called directly (`app.request` in tests, another adapter).
   */
  Bindings: { incoming?: IncomingMessage };
  Variables: {
    envelope: Envelope;
    /** The apiKey whose secret verified the request (Agora routes). */
    apiKey: string;
    /** The parsed JSON body of a signed POST/PUT, `signature` included. */
    agoraBody: Record<string, unknown>;
    /** License API routes: the authenticated caller. */
    licenseCaller: LicenseCaller;
    /** The stable code of the error this request answered with, for the request log. */
    errorCode: string;
    /**
     * An Agora page that is a pure function of the request's URL (a page of a fixed statement):
     * answered again from memory when the same URL comes again (src/agora/repeated-pages.ts).
     */
    repeatablePage: ExactJsonBytes<unknown>;
  };
}
