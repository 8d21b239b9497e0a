import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the services tell whoever watches the request they serve (the metrics of the app that
 * received it). Carried by the request's async context rather than a module-level registry, so
 * several apps in one process (tests build many) each count their own requests only.
 */
export interface Observer {
  statementFixed(kind: 'usage' | 'bill', seconds: number): void;
  usageEvents(outcome: { accepted: number; duplicates: number; rejected: number }): void;
}

export const observerScope = new AsyncLocalStorage<Observer>();

/** The observer of the request being served, if any. */
export const observer = (): Observer | undefined => observerScope.getStore();
